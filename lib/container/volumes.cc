// Volumes: a JSON record per volume (which driver keeps its data, its labels,
// and which containers use it), written atomically under the volumes' lock.
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>

#include "format/json.h"
#include "format/reference.h"
#include "strata/store.h"
#include "strata/text.h"
#include "strata/volume.h"
#include "util/file_lock.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace strata {

using nlohmann::json;

namespace {

std::string EncodeRecord(const VolumeInfo& v) {
  return DumpJson({{"Name", v.name},
                   {"Driver", v.driver},
                   {"Labels", v.labels},
                   {"Options", v.options},
                   {"Anonymous", v.anonymous},
                   {"CreatedAt", v.created},
                   {"UsedBy", v.users}});
}

Result<VolumeInfo> DecodeRecord(const std::string& text, const std::string& path) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return Status::Corruption("volume record " + path + " is not a JSON object");
  VolumeInfo v;
  try {
    v.name = j.at("Name").get<std::string>();
    v.driver = j.at("Driver").get<std::string>();
    v.labels = j.at("Labels").get<std::map<std::string, std::string>>();
    v.options = j.at("Options").get<std::map<std::string, std::string>>();
    v.anonymous = j.at("Anonymous").get<bool>();
    v.created = j.at("CreatedAt").get<int64_t>();
    v.users = j.at("UsedBy").get<std::vector<std::string>>();
  } catch (const json::exception& e) {
    return Status::Corruption("volume record " + path + ": " + e.what());
  }
  return v;
}

}  // namespace

struct Volumes::Impl {
  std::string dir;  // <root>/volumes
  std::map<std::string, std::unique_ptr<VolumeDriver>> drivers;

  std::string RecordPath(const std::string& name) const { return dir + "/.records/" + name + ".json"; }
  Result<FileLock> Lock() const { return FileLock::Acquire(dir + "/.lock", "volumes of " + dir); }

  // A registered driver, or else a Docker volume plugin of that name (registered once found).
  Result<VolumeDriver*> Driver(const std::string& name) {
    auto it = drivers.find(name);
    if (it == drivers.end()) {
      ASSIGN_OR_RETURN(auto plugin, MakePluginVolumeDriver(name));
      it = drivers.emplace(name, std::move(plugin)).first;
    }
    return it->second.get();
  }
  // The record, or nothing when there is no such volume.
  Result<std::optional<VolumeInfo>> Find(const std::string& name) {
    if (!CheckObjectName("volume", name).ok()) return std::optional<VolumeInfo>();
    auto text = ReadFile(RecordPath(name));
    if (!text.ok() && text.status().code() == Code::kNotFound) return std::optional<VolumeInfo>();
    if (!text.ok()) return text.status();
    ASSIGN_OR_RETURN(VolumeInfo v, DecodeRecord(*text, RecordPath(name)));
    return std::optional<VolumeInfo>(std::move(v));
  }
  Result<VolumeInfo> FindOrFail(const std::string& name) {
    ASSIGN_OR_RETURN(auto v, Find(name));
    if (!v) return Status::NotFound("no such volume: " + name);
    return *v;
  }
  Status Put(const VolumeInfo& v) { return WriteFileAtomic(RecordPath(v.name), EncodeRecord(v), 0600); }
  // The record with the driver's mountpoint filled in.
  Result<VolumeInfo> Load(const std::string& name) {
    ASSIGN_OR_RETURN(VolumeInfo v, FindOrFail(name));
    ASSIGN_OR_RETURN(VolumeDriver * driver, Driver(v.driver));
    ASSIGN_OR_RETURN(v.mountpoint, driver->Path(name));
    return v;
  }
};

Volumes::Volumes(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Volumes::~Volumes() = default;

Result<std::unique_ptr<Volumes>> Volumes::Open(const Store& store) {
  auto impl = std::make_unique<Impl>();
  impl->dir = store.root() + "/volumes";
  RETURN_IF_ERROR(MakePrivateDir(impl->dir));
  RETURN_IF_ERROR(MakePrivateDir(impl->dir + "/.records"));
  impl->drivers.emplace("local", MakeLocalVolumeDriver(impl->dir));
  if (auto lock = FileLock::TryAcquire(impl->dir + "/.lock", "volumes"); lock.ok()) {
    // Temporaries of a crashed change: the local driver's .tmp-X directories,
    // and record files not yet renamed to NAME.json.
    if (auto names = ListDir(impl->dir); names.ok())
      for (const auto& n : *names)
        if (n.starts_with(".tmp-")) (void)RemoveAll(impl->dir + "/" + n);
    if (auto names = ListDir(impl->dir + "/.records"); names.ok())
      for (const auto& n : *names)
        if (!n.ends_with(".json")) (void)RemoveAll(impl->dir + "/.records/" + n);
  }
  return std::unique_ptr<Volumes>(new Volumes(std::move(impl)));
}

Status Volumes::RegisterDriver(std::unique_ptr<VolumeDriver> driver) {
  if (!driver) return Status::InvalidArgument("no driver");
  std::string name = driver->name();
  if (!impl_->drivers.emplace(name, std::move(driver)).second) {
    return Status::AlreadyExists("volume driver " + name + " is already registered");
  }
  return Status::OK();
}

Result<VolumeInfo> Volumes::Create(const std::string& name, const VolumeCreateOptions& options) {
  RETURN_IF_ERROR(CheckObjectName("volume", name));
  ASSIGN_OR_RETURN(FileLock lock, impl_->Lock());
  ASSIGN_OR_RETURN(VolumeDriver * driver, impl_->Driver(options.driver));
  ASSIGN_OR_RETURN(auto existing, impl_->Find(name));
  if (existing) {  // as Docker: creating a volume that exists returns it
    if (existing->driver != options.driver) {
      return Status::AlreadyExists("volume " + name + " exists with driver " + existing->driver);
    }
    return impl_->Load(name);
  }
  RETURN_IF_ERROR(driver->Create(name, options.options));
  VolumeInfo v;
  v.name = name;
  v.driver = options.driver;
  v.labels = options.labels;
  v.options = options.options;
  v.anonymous = options.anonymous;
  v.created = std::time(nullptr);
  if (Status st = impl_->Put(v); !st.ok()) {  // the record names the volume: written last
    (void)driver->Remove(name);
    return st;
  }
  return impl_->Load(name);
}

Result<std::vector<VolumeInfo>> Volumes::List() {
  ASSIGN_OR_RETURN(auto files, ListDir(impl_->dir + "/.records"));
  std::vector<VolumeInfo> out;
  for (const auto& file : files) {
    if (!file.ends_with(".json")) continue;
    ASSIGN_OR_RETURN(VolumeInfo v, impl_->Load(file.substr(0, file.size() - 5)));
    out.push_back(std::move(v));
  }
  return out;
}

Result<VolumeInfo> Volumes::Get(const std::string& name) {
  return impl_->Load(name);
}

Status Volumes::Remove(const std::string& name) {
  ASSIGN_OR_RETURN(FileLock lock, impl_->Lock());
  ASSIGN_OR_RETURN(VolumeInfo v, impl_->FindOrFail(name));
  if (!v.users.empty()) return Status::InUse("volume " + name + " is in use by container " + v.users.front());
  ASSIGN_OR_RETURN(VolumeDriver * driver, impl_->Driver(v.driver));
  if (::unlink(impl_->RecordPath(name).c_str()) != 0) return ErrnoStatus("remove", impl_->RecordPath(name));
  RETURN_IF_ERROR(FsyncDir(impl_->dir + "/.records"));
  return driver->Remove(name);  // after the record: a crash leaves only an unnamed directory
}

Result<std::vector<std::string>> Volumes::Prune(const VolumePruneOptions& options) {
  ASSIGN_OR_RETURN(auto volumes, List());
  std::vector<std::string> removed;
  for (const auto& v : volumes) {
    if (!v.users.empty() || !(options.all || v.anonymous)) continue;
    Status st = Remove(v.name);
    if (st.code() == Code::kInUse) continue;  // taken meanwhile
    RETURN_IF_ERROR(st);
    removed.push_back(v.name);
  }
  return removed;
}

Result<std::string> Volumes::Mount(const std::string& name, const std::string& user) {
  ASSIGN_OR_RETURN(FileLock lock, impl_->Lock());
  ASSIGN_OR_RETURN(VolumeInfo v, impl_->FindOrFail(name));
  ASSIGN_OR_RETURN(VolumeDriver * driver, impl_->Driver(v.driver));
  ASSIGN_OR_RETURN(std::string path, driver->Mount(name, user));
  if (std::find(v.users.begin(), v.users.end(), user) == v.users.end()) {
    v.users.push_back(user);
    std::sort(v.users.begin(), v.users.end());
  }
  if (Status st = impl_->Put(v); !st.ok()) {
    (void)driver->Unmount(name, user);
    return st;
  }
  return path;
}

Status Volumes::Unmount(const std::string& name, const std::string& user) {
  ASSIGN_OR_RETURN(FileLock lock, impl_->Lock());
  ASSIGN_OR_RETURN(VolumeInfo v, impl_->FindOrFail(name));
  ASSIGN_OR_RETURN(VolumeDriver * driver, impl_->Driver(v.driver));
  RETURN_IF_ERROR(driver->Unmount(name, user));
  std::erase(v.users, user);
  return impl_->Put(v);
}

std::string ToJson(const std::vector<VolumeInfo>& volumes) {
  json out = json::array();
  for (const auto& v : volumes) {
    out.push_back({{"Name", v.name},
                   {"Driver", v.driver},
                   {"Mountpoint", v.mountpoint},
                   {"Labels", v.labels},
                   {"Options", v.options},
                   {"Scope", "local"},
                   {"Anonymous", v.anonymous},
                   {"CreatedAt", FormatRfc3339(v.created)},
                   {"UsedBy", v.users}});
  }
  return DumpJson(out, 2);
}

}  // namespace strata
