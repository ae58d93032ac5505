// Containers: a directory each under containers/<id>/ (record, writable layer,
// work directory, mount point), a hold on the image in the store, and the
// volumes recorded as used. Built on the public Store and Volumes APIs.
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <set>

#include "container/container_json.h"
#include "container/run_state.h"
#include "format/dir_layer.h"
#include "format/layer_merge.h"
#include "format/reference.h"
#include "strata/container.h"
#include "strata/container_run.h"
#include "strata/text.h"
#include "strata/union_view.h"
#include "union/kernel_upper.h"
#include "util/file_lock.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace strata {

namespace {

constexpr const char* kHolderPrefix = "container:";

// docker-style names: adjective_noun.
std::string GeneratedName() {
  static const char* kAdjectives[] = {"brave", "calm", "eager", "keen", "lucid", "merry", "quiet", "swift"};
  static const char* kNouns[] = {"curie",   "dijkstra", "hopper",  "knuth",
                                 "lamport", "liskov",   "ritchie", "turing"};
  std::string hex = RandomHex(3);
  unsigned v = static_cast<unsigned>(ParseUnsigned(hex, 16).value_or(0));
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

bool ContainerIsRunning(const ContainerInfo& c) {
  return c.state == ContainerState::kRunning && RunIsLive(c);
}

ImageHold HoldFor(const ContainerInfo& c) {
  return {c.image_id, kHolderPrefix + c.id, "container " + c.name};
}

// What a new container runs, and as whom: the image's config with the
// caller's overrides.
Status ResolveCommand(const ContainerConfig& config, const Image& image, ContainerInfo& c) {
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
  return Status::OK();
}

}  // namespace

struct Containers::Impl {
  Store& store;
  Volumes& volumes;
  std::string dir;  // <root>/containers

  Result<FileLock> Lock() const { return FileLock::Acquire(dir + "/.lock", "containers of " + dir); }

  // Every record, in creation order; directories without a readable record are skipped.
  Result<std::vector<ContainerInfo>> Records() const {
    ASSIGN_OR_RETURN(auto names, ListDir(dir));
    std::vector<ContainerInfo> out;
    for (const auto& name : names) {
      if (name.starts_with('.')) continue;
      auto text = ReadFile(dir + "/" + name + "/config.json");
      if (!text.ok()) continue;
      auto c = DecodeContainer(*text);
      if (c.ok()) out.push_back(std::move(*c));
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const ContainerInfo& a, const ContainerInfo& b) { return a.created < b.created; });
    return out;
  }

  // A run whose process and monitor are both gone, and that nobody recorded
  // (the monitor was killed), is over: killed, as far as anyone can tell.
  static ContainerInfo WithDeadRunNoticed(ContainerInfo c) {
    if (c.state == ContainerState::kRunning && !ContainerIsRunning(c)) {
      c.state = ContainerState::kExited;
      c.exit_code = c.exit_code ? c.exit_code : 137;
      if (c.finished == 0) c.finished = std::time(nullptr);
    }
    return c;
  }

  // By id, name or unique id prefix, with a dead run noticed. A full id reads
  // its own record only (stop and wait ask again and again).
  Result<ContainerInfo> Find(const std::string& ref) const {
    if (ref.size() == 32 && LooksLikeId(ref)) {
      if (auto text = ReadFile(dir + "/" + ref + "/config.json"); text.ok()) {
        ASSIGN_OR_RETURN(ContainerInfo c, DecodeContainer(*text));
        return WithDeadRunNoticed(std::move(c));
      }
    }
    ASSIGN_OR_RETURN(auto records, Records());
    const ContainerInfo* found = nullptr;
    for (const auto& c : records)
      if (c.id == ref || c.name == ref) found = &c;
    if (!found && LooksLikeId(ref)) {
      for (const auto& c : records) {
        if (!c.id.starts_with(ref)) continue;
        if (found) return Status::InvalidArgument("container id prefix " + ref + " is ambiguous");
        found = &c;
      }
    }
    if (!found) return Status::NotFound("no such container: " + ref);
    return WithDeadRunNoticed(*found);
  }

  Status Put(const ContainerInfo& c, const std::string& record_path) const {
    return WriteFileAtomic(record_path, EncodeContainer(c), 0600);
  }

  // Creates the volumes `c` names (anonymous ones get a generated name) and checks bind sources.
  Status PrepareMounts(const ContainerConfig& config, ContainerInfo& c) const {
    for (MountRequest m : config.mounts) {
      if (m.type == MountRequest::Type::kBind) {
        if (!PathExists(m.source))
          return Status::NotFound("bind mount source " + m.source + " does not exist");
      } else {
        VolumeCreateOptions options;
        if (!config.volume_driver.empty()) options.driver = config.volume_driver;
        if (m.source.empty()) {
          m.source = RandomHex(32);
          options.anonymous = true;
        }
        RETURN_IF_ERROR(volumes.Create(m.source, options).status());
      }
      c.mounts.push_back(std::move(m));
    }
    return Status::OK();
  }
};

Containers::Containers(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Containers::~Containers() = default;
Store& Containers::store() {
  return impl_->store;
}
Volumes& Containers::volumes() {
  return impl_->volumes;
}

Result<std::unique_ptr<Containers>> Containers::Open(Store& store, Volumes& volumes) {
  auto impl = std::unique_ptr<Impl>(new Impl{store, volumes, store.root() + "/containers"});
  RETURN_IF_ERROR(MakePrivateDir(impl->dir));
  if (auto lock = FileLock::TryAcquire(impl->dir + "/.lock", "containers"); lock.ok()) {
    // Temporaries of a crashed create or remove (a removed container's directory
    // is renamed to .tmp-<id> first, so that no half-removed one is ever listed).
    if (auto names = ListDir(impl->dir); names.ok())
      for (const auto& n : *names)
        if (n.starts_with(".tmp-")) (void)RemoveAll(impl->dir + "/" + n);
  }
  return std::unique_ptr<Containers>(new Containers(std::move(impl)));
}

ContainerPaths Containers::Paths(const std::string& id) const {
  std::string dir = impl_->dir + "/" + id;
  return {dir,           dir + "/config.json", dir + "/upper", dir + "/work", dir + "/merged",
          dir + "/lock", dir + "/output.log"};
}

Result<ContainerInfo> Containers::Create(const ContainerConfig& config) {
  ContainerInfo c;
  c.name = config.name.empty() ? GeneratedName() : config.name;
  RETURN_IF_ERROR(CheckObjectName("container", c.name));
  ASSIGN_OR_RETURN(Image image, impl_->store.GetImage(config.image));
  RETURN_IF_ERROR(CheckHostCanRun(image.platform, "image " + config.image));
  c.image_id = image.id;
  c.image_ref = config.image;
  c.top_layer = image.layers.empty() ? "" : image.layers.back();
  RETURN_IF_ERROR(ResolveCommand(config, image, c));
  c.created = std::time(nullptr);
  c.id = RandomHex(16);
  c.seccomp = config.seccomp;
  c.no_new_privileges = config.no_new_privileges;
  c.privileged = config.privileged;
  c.verify = config.verify;
  c.tty = config.tty;
  // As docker: a terminal says what it is.
  if (c.tty &&
      std::none_of(c.env.begin(), c.env.end(), [](const std::string& e) { return e.rfind("TERM=", 0) == 0; }))
    c.env.push_back("TERM=xterm");

  ASSIGN_OR_RETURN(FileLock lock, impl_->Lock());
  if (impl_->Find(c.name).ok())
    return Status::AlreadyExists("the container name " + c.name + " is already in use");
  // Volumes first (creating one that exists returns it); they outlive the container anyway.
  RETURN_IF_ERROR(impl_->PrepareMounts(config, c));

  // Everything is made under .tmp-<id> and renamed into place last: the
  // container exists from that rename on. What a crash before it leaves (a
  // hold, volume users) is found and repaired by Check.
  std::string tmp = impl_->dir + "/.tmp-" + c.id;
  ContainerPaths paths = Paths(c.id);
  std::vector<std::string> mounted;
  bool held = false;
  auto undo = [&](Status st) {
    for (const auto& name : mounted) (void)impl_->volumes.Unmount(name, c.id);
    if (held) (void)impl_->store.ReleaseImage(c.image_id, HoldFor(c).holder);
    (void)RemoveAll(tmp);
    return st;
  };
  for (const char* sub : {"/upper", "/work", "/merged"}) {
    if (Status st = MakeDirs(tmp + sub); !st.ok()) return undo(st);
  }
  if (Status st = impl_->Put(c, tmp + "/config.json"); !st.ok()) return undo(st);
  if (Status st = impl_->store.HoldImage(HoldFor(c)); !st.ok()) return undo(st);
  held = true;
  for (const MountRequest& m : c.mounts) {
    if (m.type != MountRequest::Type::kVolume) continue;
    if (auto path = impl_->volumes.Mount(m.source, c.id); !path.ok()) return undo(path.status());
    mounted.push_back(m.source);
  }
  if (::rename(tmp.c_str(), paths.dir.c_str()) != 0) return undo(ErrnoStatus("rename", paths.dir));
  RETURN_IF_ERROR(FsyncDir(impl_->dir));
  return c;
}

Result<std::vector<ContainerInfo>> Containers::List() {
  ASSIGN_OR_RETURN(auto records, impl_->Records());
  std::vector<ContainerInfo> out;
  for (auto& r : records) out.push_back(Impl::WithDeadRunNoticed(std::move(r)));
  return out;
}

Result<ContainerInfo> Containers::Get(const std::string& name_or_id) {
  return impl_->Find(name_or_id);
}

Status Containers::Update(const ContainerInfo& info) {
  ASSIGN_OR_RETURN(FileLock lock, impl_->Lock());
  ContainerPaths paths = Paths(info.id);
  if (info.id.empty() || !PathExists(paths.record)) return Status::NotFound("no such container: " + info.id);
  return impl_->Put(info, paths.record);
}

namespace {

// `strata mount` has the container's layer: a strata-fuse daemon holds its
// lock, or kernel overlayfs has its upper directory.
bool LayerMounted(const ContainerPaths& paths) {
  return !CheckUpperFree(paths.upper, paths.lock).ok();
}

}  // namespace

Result<std::vector<std::string>> Containers::Remove(const std::string& name_or_id,
                                                    const ContainerRemoveOptions& options) {
  ASSIGN_OR_RETURN(ContainerInfo found, impl_->Find(name_or_id));
  const ContainerPaths found_paths = Paths(found.id);
  if (ContainerIsRunning(found)) {
    if (!options.force) {
      return Status::InUse("container " + found.name + " is running: stop it first, or remove it with force");
    }
    // Stopped first (without the lock: the monitor takes it to record the end).
    RETURN_IF_ERROR(StopContainer(*this, found.id, 0));
  }
  if (LayerMounted(found_paths)) {
    if (!options.force) {
      return Status::InUse("container " + found.name + " is mounted" +
                           (found.mounted_at.empty() ? "" : " at " + found.mounted_at) +
                           ": unmount it first, or remove it with force");
    }
    if (!found.mounted_at.empty()) ::umount2(found.mounted_at.c_str(), MNT_DETACH);
    for (int i = 0; i < 100 && LayerMounted(found_paths); ++i) ::usleep(50000);
  }
  std::vector<std::string> anonymous;
  {
    ASSIGN_OR_RETURN(FileLock lock, impl_->Lock());
    auto again = impl_->Find(found.id);
    if (!again.ok() && again.status().code() == Code::kNotFound && options.force) {
      return std::vector<std::string>{};  // its monitor (--rm) removed it meanwhile
    }
    ASSIGN_OR_RETURN(ContainerInfo c, std::move(again));
    if (ContainerIsRunning(c)) return Status::InUse("container " + c.name + " was started again meanwhile");
    // The rename is the removal: from here on nothing lists the container.
    ContainerPaths paths = Paths(c.id);
    std::string doomed = impl_->dir + "/.tmp-" + c.id;
    ::umount2(paths.merged.c_str(), MNT_DETACH);  // never delete through a live mount
    if (::rename(paths.dir.c_str(), doomed.c_str()) != 0) return ErrnoStatus("rename", paths.dir);
    RETURN_IF_ERROR(FsyncDir(impl_->dir));
    for (const MountRequest& m : c.mounts) {
      if (m.type != MountRequest::Type::kVolume) continue;
      (void)impl_->volumes.Unmount(m.source, c.id);
      auto v = impl_->volumes.Get(m.source);
      if (v.ok() && v->anonymous && options.remove_anonymous_volumes) anonymous.push_back(m.source);
    }
    RETURN_IF_ERROR(impl_->store.ReleaseImage(c.image_id, HoldFor(c).holder));
    RuntimeOptions runtime = ContainerRuntime(*this, c);
    runtime.state_dir = doomed;
    DeleteFromRuntime(runtime, c.id);  // what a killed monitor left in the runtime's state
    (void)RemoveAll(doomed);
  }
  std::vector<std::string> removed;
  for (const auto& name : anonymous) {
    if (impl_->volumes.Remove(name).ok()) removed.push_back(name);  // kept if another container uses it
  }
  return removed;
}

Result<std::vector<ContainerChange>> Containers::Diff(const std::string& name_or_id) {
  ASSIGN_OR_RETURN(ContainerInfo c, impl_->Find(name_or_id));
  ASSIGN_OR_RETURN(std::vector<LayerIndex> lower_layers, impl_->store.ReadLayerChainIndexes(c.top_layer));
  MergedTree lower;  // the image's tree, to tell changed paths from added ones
  for (size_t i = 0; i < lower_layers.size(); ++i) lower.Apply(i, lower_layers[i]);
  uint64_t next_id = 0;
  std::unordered_map<Digest, std::string> paths;
  ASSIGN_OR_RETURN(LayerIndex scanned, ScanDirectoryLayer(Paths(c.id).upper, &next_id, &paths));
  // A moved directory is a new one with all it holds, and a deletion where it was.
  const LayerIndex upper = FlattenRedirects(lower_layers, scanned);
  std::vector<ContainerChange> out;
  for (const Entry& e : upper.entries) {
    if (e.path.empty()) continue;
    char kind = e.type == EntryType::kWhiteout ? 'D' : lower.entries().count(e.path) ? 'C' : 'A';
    out.push_back({kind, "/" + e.path});
  }
  return out;
}

Result<Image> Containers::Commit(const std::string& name_or_id, const std::string& ref) {
  ASSIGN_OR_RETURN(ContainerInfo c, impl_->Find(name_or_id));
  if (ContainerIsRunning(c)) return Status::InUse("container " + c.name + " is running");
  ImportOptions options;
  options.from = c.image_id;
  options.ref = ref;
  options.created_by = "strata commit " + c.name;
  return impl_->store.ImportDirectory(Paths(c.id).upper, options);
}

Result<FsckReport> Containers::Check(const FsckOptions& options) {
  ASSIGN_OR_RETURN(FileLock lock, impl_->Lock());
  FsckReport report;
  ASSIGN_OR_RETURN(auto names, ListDir(impl_->dir));
  std::set<std::string> ids;
  for (const auto& name : names) {
    if (name.starts_with('.')) continue;
    ++report.containers;
    auto text = ReadFile(Paths(name).record);
    auto c = text.ok() ? DecodeContainer(*text) : Result<ContainerInfo>(text.status());
    if (!c.ok()) {
      report.problems.push_back("containers/" + name + ": its record: " + c.status().message());
      continue;
    }
    ids.insert(c->id);
    if (!PathExists(Paths(c->id).upper))
      report.problems.push_back("container " + c->name + ": its writable layer is missing");
    if (auto image = impl_->store.GetImage(c->image_id); !image.ok())
      report.problems.push_back("container " + c->name + ": its image " + c->image_id + ": " +
                                image.status().message());
  }
  // What a create or remove cut short by a crash leaves: holds and volume
  // users naming containers that do not exist.
  ASSIGN_OR_RETURN(auto holds, impl_->store.ListImageHolds());
  for (const auto& h : holds) {
    if (!h.holder.starts_with(kHolderPrefix) || ids.count(h.holder.substr(std::strlen(kHolderPrefix))))
      continue;
    report.problems.push_back("image " + h.image_id + ": held by " + h.description +
                              ", which does not exist");
    if (options.repair) {
      RETURN_IF_ERROR(impl_->store.ReleaseImage(h.image_id, h.holder));
      report.repaired.push_back("released image " + h.image_id + " from " + h.description);
    }
  }
  ASSIGN_OR_RETURN(auto volumes, impl_->volumes.List());
  for (const auto& v : volumes) {
    for (const auto& user : v.users) {
      // "docker:<id>": a container of another engine (strata volume-plugin's users).
      if (ids.count(user) || user.find(':') != std::string::npos) continue;
      report.problems.push_back("volume " + v.name + ": used by container " + user +
                                ", which does not exist");
      if (options.repair) {
        RETURN_IF_ERROR(impl_->volumes.Unmount(v.name, user));
        report.repaired.push_back("volume " + v.name + ": dropped user " + user);
      }
    }
  }
  return report;
}

}  // namespace strata
