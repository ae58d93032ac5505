// Snapshotter: containerd's snapshots as records under <root>/snapshots/,
// committed ones as held strata layers, active ones and views as upper
// directories over their parent's metadata tree (the kernel path).
//
//   snapshots/lock            held by the process that has them open
//   snapshots/records/<n>.json  one snapshot (written atomically)
//   snapshots/<n>/fs, work    an active snapshot's upper and work directories
//   snapshots/<n>/merged      the FUSE driver's mount of the snapshot (bound by containerd)
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "format/json.h"
#include "snapshot/snapshot_filter.h"
#include "strata/snapshotter.h"
#include "util/file_lock.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace strata {

using nlohmann::json;

namespace {

constexpr const char* kSnapshotRef = "containerd.io/snapshot.ref";
constexpr size_t kMaxLabel = 4096;  // a key and its value together, as containerd limits them

struct Record {
  uint64_t number = 0;  // names its directory and its record file
  SnapshotInfo info;
  std::string layer;  // a committed snapshot's layer
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<SnapshotKind> KindFromName(const std::string& name) {
  for (SnapshotKind k : {SnapshotKind::kView, SnapshotKind::kActive, SnapshotKind::kCommitted}) {
    if (name == SnapshotKindName(k)) return k;
  }
  return Status::Corruption("a snapshot record has kind '" + name + "'");
}

std::string Encode(const Record& r) {
  return DumpJson({{"number", r.number},
                   {"name", r.info.name},
                   {"parent", r.info.parent},
                   {"kind", SnapshotKindName(r.info.kind)},
                   {"created", r.info.created_ns},
                   {"updated", r.info.updated_ns},
                   {"labels", r.info.labels},
                   {"layer", r.layer}});
}

Result<Record> Decode(const std::string& text, const std::string& path) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return Status::Corruption(path + ": not a JSON object");
  try {
    Record r;
    r.number = j.at("number").get<uint64_t>();
    r.info.name = j.at("name").get<std::string>();
    r.info.parent = j.at("parent").get<std::string>();
    ASSIGN_OR_RETURN(r.info.kind, KindFromName(j.at("kind").get<std::string>()));
    r.info.created_ns = j.at("created").get<int64_t>();
    r.info.updated_ns = j.at("updated").get<int64_t>();
    r.info.labels = j.at("labels").get<std::map<std::string, std::string>>();
    r.layer = j.at("layer").get<std::string>();
    return r;
  } catch (const json::exception& e) {
    return Status::Corruption(path + ": " + e.what());
  }
}

Status CheckLabels(const std::map<std::string, std::string>& labels) {
  for (const auto& [k, v] : labels) {
    if (k.size() + v.size() > kMaxLabel)
      return Status::InvalidArgument("label " + k.substr(0, 64) + ": key and value exceed 4096 bytes");
  }
  return Status::OK();
}

// Bytes on disk and inodes below `dir` (each hardlinked inode once), as du counts them.
Status DiskUsage(const std::string& dir, std::set<std::pair<dev_t, ino_t>>& seen, SnapshotUsage& usage) {
  ASSIGN_OR_RETURN(auto names, ListDir(dir));
  for (const auto& name : names) {
    const std::string path = dir + "/" + name;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path);
    if (seen.insert({st.st_dev, st.st_ino}).second) {
      usage.size += st.st_blocks * 512;
      usage.inodes += 1;
    }
    if (S_ISDIR(st.st_mode)) RETURN_IF_ERROR(DiskUsage(path, seen, usage));
  }
  return Status::OK();
}

}  // namespace

const char* SnapshotKindName(SnapshotKind kind) {
  switch (kind) {
    case SnapshotKind::kView: return "view";
    case SnapshotKind::kActive: return "active";
    case SnapshotKind::kCommitted: return "committed";
  }
  return "active";
}

struct Snapshotter::Impl {
  Store& store;
  MountDriver driver;  // kKernel or kFuse
  std::string dir;     // <root>/snapshots
  FileLock lock;
  std::map<std::string, Record> records;  // by key or name
  uint64_t next_number = 1;

  std::string RecordPath(uint64_t n) const { return dir + "/records/" + std::to_string(n) + ".json"; }
  std::string SnapshotDir(uint64_t n) const { return dir + "/" + std::to_string(n); }
  static std::string Holder(const std::string& name) { return "snapshot:" + name; }

  Status Save(const Record& r) { return WriteFileAtomic(RecordPath(r.number), Encode(r), 0600); }

  Result<const Record*> Find(const std::string& key) const {
    auto it = records.find(key);
    if (it == records.end()) return Status::NotFound("snapshot " + key + " does not exist");
    return &it->second;
  }

  // The layer a snapshot on `parent` starts from ("" for none).
  Result<std::string> ParentLayer(const std::string& parent) const {
    if (parent.empty()) return std::string();
    auto it = records.find(parent);
    if (it == records.end()) return Status::NotFound("parent snapshot " + parent + " does not exist");
    if (it->second.info.kind != SnapshotKind::kCommitted)
      return Status::InvalidArgument("parent snapshot " + parent + " is not committed");
    return it->second.layer;
  }

  Result<std::vector<SnapshotMount>> MountsOf(const Record& r) {
    const std::string base = SnapshotDir(r.number);
    const bool writable = r.info.kind == SnapshotKind::kActive;
    ASSIGN_OR_RETURN(std::string layer, ParentLayer(r.info.parent));
    if (layer.empty()) {
      return std::vector<SnapshotMount>{{"bind", base + "/fs", {writable ? "rw" : "ro", "rbind"}}};
    }
    for (const std::string& path : {store.root(), base}) {
      if (path.find_first_of(":,") != std::string::npos)
        return Status::InvalidArgument("store path " + path +
                                       " has ':' or ',', which mount options cannot carry");
    }
    if (driver == MountDriver::kFuse) {
      // strata-fuse mounted here and bound by containerd. (Not a fuse3.strata-fuse
      // mount through mount.fuse3: containerd 1.6's shim reaps its helpers'
      // children, and such mounts fail there with ECHILD.)
      RETURN_IF_ERROR(EnsureFuseMount(r, layer));
      return std::vector<SnapshotMount>{{"bind", base + "/merged", {writable ? "rw" : "ro", "rbind"}}};
    }
    ASSIGN_OR_RETURN(std::string meta, store.MetaTree(layer));
    const std::string blobs = store.MetaTreeDataDir(layer);
    // The chain's metadata tree over its blobs (a data-only layer).
    std::vector<std::string> options;
    if (writable) {
      options = {"workdir=" + base + "/work", "upperdir=" + base + "/fs"};
    }
    options.push_back("lowerdir=" + meta + "::" + blobs);
    options.push_back("metacopy=on");
    options.push_back("redirect_dir=on");
    return std::vector<SnapshotMount>{{"overlay", "overlay", options}};
  }

  static bool Mounted(const std::string& base) {
    struct stat dir, merged;
    if (::stat(base.c_str(), &dir) != 0) return false;
    if (::stat((base + "/merged").c_str(), &merged) != 0) return errno == ENOTCONN;  // a daemon that died
    return merged.st_dev != dir.st_dev;
  }

  Status EnsureFuseMount(const Record& r, const std::string& layer) {
    const std::string base = SnapshotDir(r.number);
    if (Mounted(base)) return Status::OK();
    RETURN_IF_ERROR(MakeDirs(base + "/merged"));
    UnionMountSpec spec;
    spec.store_root = store.root();
    spec.top_layer = layer;
    if (r.info.kind == SnapshotKind::kActive) {
      spec.upper_dir = base + "/fs";
      spec.work_dir = base + "/work";
    }
    spec.mountpoint = base + "/merged";
    spec.allow_other = true;  // the container's processes may be any user
    spec.driver = MountDriver::kFuse;
    spec.lock_file = base + "/lock";
    return MountUnion(spec);
  }

  // Before a snapshot's upper is read or its directory removed.
  static Status ReleaseFuseMount(const std::string& base) {
    if (!Mounted(base)) return Status::OK();
    if (Status st = UnmountUnion(base + "/merged"); !st.ok()) {
      if (::umount2((base + "/merged").c_str(), MNT_DETACH) != 0) return st;  // a dead daemon's
    }
    return Status::OK();
  }

  Result<std::vector<SnapshotMount>> Create(SnapshotKind kind, const std::string& key,
                                            const std::string& parent,
                                            const std::map<std::string, std::string>& labels) {
    if (key.empty()) return Status::InvalidArgument("a snapshot key is empty");
    if (key.size() > kMaxLabel) return Status::InvalidArgument("a snapshot key is longer than 4096 bytes");
    RETURN_IF_ERROR(CheckLabels(labels));
    if (records.count(key)) return Status::AlreadyExists("snapshot " + key + " already exists");
    if (auto ref = labels.find(kSnapshotRef); ref != labels.end() && kind == SnapshotKind::kActive) {
      auto target = records.find(ref->second);
      if (target != records.end() && target->second.info.kind == SnapshotKind::kCommitted)
        return Status::AlreadyExists("target snapshot " + ref->second + " already exists");
    }
    ASSIGN_OR_RETURN(std::string layer, ParentLayer(parent));
    Record r;
    r.number = next_number++;
    r.info = {key, parent, kind, NowNs(), 0, labels};
    r.info.updated_ns = r.info.created_ns;
    const std::string base = SnapshotDir(r.number);
    RETURN_IF_ERROR(MakePrivateDir(base));
    Status made = MakeDirs(base + "/fs");
    if (made.ok()) made = MakeDirs(base + "/work");
    if (made.ok()) made = Save(r);
    if (!made.ok()) {
      (void)RemoveAll(base);
      return made;
    }
    auto mounts = MountsOf(r);
    if (!mounts.ok()) {
      (void)RemoveAll(RecordPath(r.number));
      (void)RemoveAll(base);
      return mounts.status();
    }
    records[key] = std::move(r);
    return mounts;
  }
};

Snapshotter::Snapshotter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Snapshotter::~Snapshotter() = default;

Result<std::unique_ptr<Snapshotter>> Snapshotter::Open(Store& store, const SnapshotterOptions& options) {
  MountDriver driver = options.driver;
  if (driver == MountDriver::kAuto)
    driver = KernelDriverUsable().ok() ? MountDriver::kKernel : MountDriver::kFuse;
  if (driver == MountDriver::kKernel) RETURN_IF_ERROR(KernelDriverUsable());
  const std::string dir = store.root() + "/snapshots";
  RETURN_IF_ERROR(MakePrivateDir(dir + "/records"));
  ASSIGN_OR_RETURN(FileLock lock, FileLock::TryAcquire(dir + "/lock", "snapshots of " + store.root()));
  auto impl = std::unique_ptr<Impl>(new Impl{store, driver, dir, std::move(lock), {}, 1});
  ASSIGN_OR_RETURN(auto names, ListDir(dir + "/records"));
  for (const auto& name : names) {
    const std::string path = dir + "/records/" + name;
    if (!name.ends_with(".json")) continue;  // a write's temporary, never complete
    ASSIGN_OR_RETURN(std::string text, ReadFile(path));
    ASSIGN_OR_RETURN(Record r, Decode(text, path));
    impl->next_number = std::max(impl->next_number, r.number + 1);
    impl->records[r.info.name] = std::move(r);
  }
  return std::unique_ptr<Snapshotter>(new Snapshotter(std::move(impl)));
}

MountDriver Snapshotter::driver() const {
  return impl_->driver;
}

Result<std::vector<SnapshotMount>> Snapshotter::Prepare(const std::string& key, const std::string& parent,
                                                        const std::map<std::string, std::string>& labels) {
  return impl_->Create(SnapshotKind::kActive, key, parent, labels);
}

Result<std::vector<SnapshotMount>> Snapshotter::View(const std::string& key, const std::string& parent,
                                                     const std::map<std::string, std::string>& labels) {
  return impl_->Create(SnapshotKind::kView, key, parent, labels);
}

Result<std::vector<SnapshotMount>> Snapshotter::Mounts(const std::string& key) {
  ASSIGN_OR_RETURN(const Record* r, impl_->Find(key));
  if (r->info.kind == SnapshotKind::kCommitted)
    return Status::InvalidArgument("snapshot " + key + " is committed: it has no mounts (View it)");
  return impl_->MountsOf(*r);
}

Status Snapshotter::Commit(const std::string& name, const std::string& key,
                           const std::map<std::string, std::string>& labels) {
  ASSIGN_OR_RETURN(const Record* found, impl_->Find(key));
  if (found->info.kind != SnapshotKind::kActive)
    return Status::InvalidArgument("snapshot " + key + " is a " + SnapshotKindName(found->info.kind) +
                                   ", not active: only an active snapshot can be committed");
  if (name.empty()) return Status::InvalidArgument("a snapshot name is empty");
  if (impl_->records.count(name)) return Status::AlreadyExists("snapshot " + name + " already exists");
  RETURN_IF_ERROR(CheckLabels(labels));
  const Record active = *found;
  ASSIGN_OR_RETURN(std::string parent_layer, impl_->ParentLayer(active.info.parent));
  const std::string base = impl_->SnapshotDir(active.number);
  RETURN_IF_ERROR(Impl::ReleaseFuseMount(base));
  ASSIGN_OR_RETURN(LayerInfo layer, impl_->store.CommitLayer(parent_layer, base + "/fs", ""));
  RETURN_IF_ERROR(impl_->store.HoldLayer({layer.id, Impl::Holder(name), "containerd snapshot " + name}));
  Record committed;
  committed.number = impl_->next_number++;
  committed.info = {name, active.info.parent, SnapshotKind::kCommitted, NowNs(), 0, labels};
  committed.info.updated_ns = committed.info.created_ns;
  committed.layer = layer.id;
  if (Status saved = impl_->Save(committed); !saved.ok()) {
    (void)impl_->store.ReleaseLayer(layer.id, Impl::Holder(name));
    return saved;
  }
  impl_->records[name] = committed;
  // The active snapshot is gone once the committed one is recorded; a crash
  // before its record goes leaves both, as containerd's own snapshotters may.
  impl_->records.erase(key);
  RETURN_IF_ERROR(RemoveAll(impl_->RecordPath(active.number)));
  return RemoveAll(base);
}

Status Snapshotter::Remove(const std::string& key) {
  ASSIGN_OR_RETURN(const Record* found, impl_->Find(key));
  for (const auto& [other, r] : impl_->records) {
    if (r.info.parent == key)
      return Status::InUse("snapshot " + key + " has children (" + other + "): remove them first");
  }
  const Record r = *found;
  RETURN_IF_ERROR(Impl::ReleaseFuseMount(impl_->SnapshotDir(r.number)));
  RETURN_IF_ERROR(RemoveAll(impl_->RecordPath(r.number)));
  impl_->records.erase(key);
  if (r.info.kind == SnapshotKind::kCommitted) {
    RETURN_IF_ERROR(impl_->store.ReleaseLayer(r.layer, Impl::Holder(key)).status());
  }
  return RemoveAll(impl_->SnapshotDir(r.number));
}

Result<SnapshotInfo> Snapshotter::Stat(const std::string& key) {
  ASSIGN_OR_RETURN(const Record* r, impl_->Find(key));
  return r->info;
}

Result<SnapshotInfo> Snapshotter::Update(const SnapshotInfo& info, const std::vector<std::string>& fields) {
  ASSIGN_OR_RETURN(const Record* found, impl_->Find(info.name));
  Record r = *found;
  for (const auto& field : fields) {
    if (field != "labels" && !field.starts_with("labels."))
      return Status::InvalidArgument("cannot update field " + field + " of a snapshot (only labels)");
  }
  if (fields.empty() || std::find(fields.begin(), fields.end(), "labels") != fields.end()) {
    r.info.labels = info.labels;
  } else {
    for (const auto& field : fields) {
      const std::string label = field.substr(7);
      auto it = info.labels.find(label);
      if (it == info.labels.end()) {
        r.info.labels.erase(label);
      } else {
        r.info.labels[label] = it->second;
      }
    }
  }
  RETURN_IF_ERROR(CheckLabels(r.info.labels));
  r.info.updated_ns = NowNs();
  RETURN_IF_ERROR(impl_->Save(r));
  impl_->records[info.name] = r;
  return r.info;
}

Result<SnapshotUsage> Snapshotter::Usage(const std::string& key) {
  ASSIGN_OR_RETURN(const Record* r, impl_->Find(key));
  SnapshotUsage usage;
  if (r->info.kind == SnapshotKind::kCommitted) {
    ASSIGN_OR_RETURN(LayerInfo layer, impl_->store.GetLayer(r->layer));
    usage.size = static_cast<int64_t>(layer.size);
    usage.inodes = static_cast<int64_t>(layer.entry_count);
    return usage;
  }
  std::set<std::pair<dev_t, ino_t>> seen;
  RETURN_IF_ERROR(DiskUsage(impl_->SnapshotDir(r->number) + "/fs", seen, usage));
  return usage;
}

Result<std::vector<SnapshotInfo>> Snapshotter::List(const std::vector<std::string>& filters) {
  std::vector<SnapshotFilter> parsed;
  for (const auto& f : filters) {
    ASSIGN_OR_RETURN(SnapshotFilter one, SnapshotFilter::Parse(f));
    parsed.push_back(std::move(one));
  }
  std::vector<SnapshotInfo> out;
  for (const auto& entry : impl_->records) {
    const Record& r = entry.second;  // (clang will not capture a structured binding)
    if (parsed.empty() ||
        std::any_of(parsed.begin(), parsed.end(), [&](const SnapshotFilter& f) { return f.Matches(r.info); }))
      out.push_back(r.info);
  }
  return out;
}

Status Snapshotter::Cleanup() {
  std::set<std::string> owned = {"records", "lock"};
  for (const auto& [key, r] : impl_->records) owned.insert(std::to_string(r.number));
  ASSIGN_OR_RETURN(auto names, ListDir(impl_->dir));
  for (const auto& name : names) {
    if (owned.count(name)) continue;
    RETURN_IF_ERROR(Impl::ReleaseFuseMount(impl_->dir + "/" + name));
    RETURN_IF_ERROR(RemoveAll(impl_->dir + "/" + name));
  }
  ASSIGN_OR_RETURN(auto files, ListDir(impl_->dir + "/records"));
  for (const auto& name : files) {
    if (!name.ends_with(".json")) RETURN_IF_ERROR(RemoveAll(impl_->dir + "/records/" + name));
  }
  return Status::OK();
}

}  // namespace strata
