// Store containers: the catalog record, the writable layer's directories
// under containers/<id>/, the volumes each uses, diff and commit.
#include <signal.h>
#include <sys/mount.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>

#include "container_json.h"
#include "dir_layer.h"
#include "file_util.h"
#include "reference.h"
#include "status_macros.h"
#include "store_impl.h"
#include "store_lock.h"
#include "strata/union_view.h"

namespace strata {

namespace {

// docker-style names: adjective_noun.
std::string GeneratedName() {
  static const char* kAdjectives[] = {"brave", "calm", "eager", "keen", "lucid", "merry", "quiet", "swift"};
  static const char* kNouns[] = {"curie",   "dijkstra", "hopper",  "knuth",
                                 "lamport", "liskov",   "ritchie", "turing"};
  std::string hex = RandomHex(3);
  unsigned v = static_cast<unsigned>(std::strtoul(hex.c_str(), nullptr, 16));
  return std::string(kAdjectives[v % 8]) + "_" + kNouns[(v / 8) % 8] + "_" + hex.substr(0, 4);
}

std::vector<std::string> MergeEnv(std::vector<std::string> env, const std::vector<std::string>& overrides) {
  for (std::string kv : overrides) {
    auto eq = kv.find('=');
    std::string key = kv.substr(0, eq);
    if (eq == std::string::npos) {  // -e KEY: the caller's value, if it has one
      const char* value = std::getenv(key.c_str());
      if (!value) continue;
      kv = key + "=" + value;
    }
    auto it = std::find_if(env.begin(), env.end(),
                           [&](const std::string& e) { return e.rfind(key + "=", 0) == 0; });
    if (it != env.end()) {
      *it = kv;
    } else {
      env.push_back(kv);
    }
  }
  return env;
}

// The process that runs it is alive (a crash leaves the state saying running).
bool ContainerIsRunning(const ContainerInfo& c) {
  return c.state == ContainerState::kRunning && c.pid > 0 && (::kill(c.pid, 0) == 0 || errno == EPERM);
}

}  // namespace

std::string Store::ContainerDir(const std::string& id) const {
  return impl_->root + "/containers/" + id;
}

Result<ContainerInfo> Store::Impl::LoadContainer(const std::string& ref) {
  ASSIGN_OR_RETURN(auto record, catalog->FindContainer(ref));
  if (!record && LooksLikeId(ref)) {
    ASSIGN_OR_RETURN(auto ids, catalog->IdsWithPrefix("containers", ref));
    if (ids.size() > 1) return Status::InvalidArgument("container id prefix " + ref + " is ambiguous");
    if (ids.size() == 1) {
      ASSIGN_OR_RETURN(record, catalog->FindContainer(ids[0]));
    }
  }
  if (!record) return Status::NotFound("no such container: " + ref);
  ASSIGN_OR_RETURN(ContainerInfo c, DecodeContainer(*record));
  // A run whose process died without saying so (killed, crashed) is over.
  if (c.state == ContainerState::kRunning && !ContainerIsRunning(c)) {
    c.state = ContainerState::kExited;
    c.exit_code = c.exit_code ? c.exit_code : 137;
  }
  return c;
}

Result<ContainerInfo> Store::CreateContainer(const ContainerConfig& config) {
  ContainerInfo c;
  c.name = config.name.empty() ? GeneratedName() : config.name;
  RETURN_IF_ERROR(CheckObjectName("container", c.name));
  ASSIGN_OR_RETURN(Image image, GetImage(config.image));
  c.image_id = image.id;
  c.image_ref = config.image;
  c.top_layer = image.layers.empty() ? "" : image.layers.back();
  std::vector<std::string> entrypoint =
      config.entrypoint.empty() ? image.config.entrypoint : config.entrypoint;
  std::vector<std::string> cmd = !config.cmd.empty()         ? config.cmd
                                 : config.entrypoint.empty() ? image.config.cmd
                                                             : std::vector<std::string>{};
  c.args = entrypoint;
  c.args.insert(c.args.end(), cmd.begin(), cmd.end());
  if (c.args.empty()) return Status::InvalidArgument("no command: the image has none and none was given");
  c.env = MergeEnv(image.config.env, config.env);
  c.working_dir = config.working_dir.empty() ? image.config.working_dir : config.working_dir;
  c.user = config.user.empty() ? image.config.user : config.user;
  c.created = std::time(nullptr);
  c.id = RandomHex(16);

  // Volumes first (creating one that exists returns it); they outlive the container anyway.
  for (MountRequest m : config.mounts) {
    if (m.type == MountRequest::Type::kBind) {
      if (!PathExists(m.source)) return Status::NotFound("bind mount source " + m.source + " does not exist");
    } else {
      VolumeCreateOptions options;
      if (m.source.empty()) {
        m.source = RandomHex(32);
        options.anonymous = true;
      }
      RETURN_IF_ERROR(CreateVolume(m.source, options).status());
    }
    c.mounts.push_back(std::move(m));
  }

  ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(impl_->root));
  ASSIGN_OR_RETURN(auto taken, impl_->catalog->FindContainer(c.name));
  if (taken) return Status::AlreadyExists("the container name " + c.name + " is already in use");
  std::string tmp = impl_->root + "/containers/.tmp-" + c.id;
  Undo undo;
  undo.Add(tmp);
  for (const char* sub : {"/upper", "/work", "/merged"}) RETURN_IF_ERROR(MakeDirs(tmp + sub));
  std::string dir = ContainerDir(c.id);
  if (::rename(tmp.c_str(), dir.c_str()) != 0) return ErrnoStatus("rename", dir);
  undo.Add(dir);
  RETURN_IF_ERROR(FsyncDir(impl_->root + "/containers"));

  Catalog::Transaction txn(*impl_->catalog);
  RETURN_IF_ERROR(txn.status());
  RETURN_IF_ERROR(impl_->catalog->PutContainer(c.id, c.name, c.image_id, EncodeContainer(c)));
  std::vector<std::pair<VolumeDriver*, std::string>> mounted;
  Status st;
  for (const MountRequest& m : c.mounts) {
    if (m.type != MountRequest::Type::kVolume) continue;
    auto v = impl_->catalog->FindVolume(m.source);
    if (!v.ok() || !*v) {
      st = v.ok() ? Status::NotFound("no such volume: " + m.source) : v.status();
      break;
    }
    auto driver = impl_->Driver((*v)->driver);
    if (!driver.ok()) {
      st = driver.status();
      break;
    }
    if (st = (*driver)->Mount(m.source, c.id).status(); !st.ok()) break;
    mounted.emplace_back(*driver, m.source);
    if (st = impl_->catalog->AddVolumeUser(m.source, c.id); !st.ok()) break;
  }
  if (st.ok()) st = txn.Commit();
  if (!st.ok()) {
    for (auto& [driver, name] : mounted) (void)driver->Unmount(name, c.id);
    return st;
  }
  undo.Dismiss();
  return c;
}

Result<std::vector<ContainerInfo>> Store::ListContainers() {
  ASSIGN_OR_RETURN(auto records, impl_->catalog->ContainerRecords());
  std::vector<ContainerInfo> out;
  for (const auto& r : records) {
    ASSIGN_OR_RETURN(ContainerInfo c, DecodeContainer(r));
    ASSIGN_OR_RETURN(c, impl_->LoadContainer(c.id));  // with a dead run noticed
    out.push_back(std::move(c));
  }
  return out;
}

Result<ContainerInfo> Store::GetContainer(const std::string& name_or_id) {
  return impl_->LoadContainer(name_or_id);
}

Status Store::UpdateContainer(const ContainerInfo& info) {
  ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(impl_->root));
  ASSIGN_OR_RETURN(auto existing, impl_->catalog->FindContainer(info.id));
  if (!existing) return Status::NotFound("no such container: " + info.id);
  return impl_->catalog->PutContainer(info.id, info.name, info.image_id, EncodeContainer(info));
}

Result<std::vector<std::string>> Store::RemoveContainer(const std::string& name_or_id, bool force,
                                                        bool remove_anonymous_volumes) {
  std::vector<std::string> anonymous;
  {
    ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(impl_->root));
    ASSIGN_OR_RETURN(ContainerInfo c, impl_->LoadContainer(name_or_id));
    if (ContainerIsRunning(c)) {
      if (!force) return Status::InUse("container " + c.name + " is running: stop it first or force");
      ::kill(c.pid, SIGKILL);  // the strata process that runs it; runc's child dies with its session
    }
    Catalog::Transaction txn(*impl_->catalog);
    RETURN_IF_ERROR(txn.status());
    RETURN_IF_ERROR(impl_->catalog->DeleteContainer(c.id));
    for (const MountRequest& m : c.mounts) {
      if (m.type != MountRequest::Type::kVolume) continue;
      RETURN_IF_ERROR(impl_->catalog->RemoveVolumeUser(m.source, c.id));
      ASSIGN_OR_RETURN(auto v, impl_->catalog->FindVolume(m.source));
      if (!v) continue;
      if (auto driver = impl_->Driver(v->driver); driver.ok()) (void)(*driver)->Unmount(m.source, c.id);
      if (v->anonymous && remove_anonymous_volumes) anonymous.push_back(m.source);
    }
    RETURN_IF_ERROR(txn.Commit());
    std::string dir = ContainerDir(c.id);
    ::umount2((dir + "/merged").c_str(), MNT_DETACH);  // never delete through a live mount
    (void)RemoveAll(dir);
  }
  std::vector<std::string> removed;
  for (const auto& name : anonymous) {
    if (RemoveVolume(name).ok()) removed.push_back(name);  // kept if another container uses it
  }
  return removed;
}

Result<std::vector<ContainerChange>> Store::ContainerDiff(const std::string& name_or_id) {
  ASSIGN_OR_RETURN(ContainerInfo c, impl_->LoadContainer(name_or_id));
  ASSIGN_OR_RETURN(auto chain, LayerChain(c.top_layer));
  ASSIGN_OR_RETURN(auto lower, UnionView::OpenLayers(*this, chain));
  uint64_t next_id = 0;
  std::unordered_map<Digest, std::string> paths;
  ASSIGN_OR_RETURN(LayerIndex upper, ScanDirectoryLayer(ContainerDir(c.id) + "/upper", &next_id, &paths));
  std::vector<ContainerChange> out;
  for (const Entry& e : upper.entries) {
    if (e.path.empty()) continue;
    char kind = e.type == EntryType::kWhiteout ? 'D' : lower->Resolve(e.path).ok() ? 'C' : 'A';
    out.push_back({kind, "/" + e.path});
  }
  return out;
}

Result<Image> Store::CommitContainer(const std::string& name_or_id, const std::string& ref) {
  ASSIGN_OR_RETURN(ContainerInfo c, impl_->LoadContainer(name_or_id));
  if (ContainerIsRunning(c)) return Status::InUse("container " + c.name + " is running");
  ImportOptions options;
  options.from = c.image_id;
  options.ref = ref;
  options.created_by = "strata commit " + c.name;
  return ImportDirectory(ContainerDir(c.id) + "/upper", options);
}

}  // namespace strata
