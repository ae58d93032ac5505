// Store volumes: the catalog records each volume and who uses it; the driver
// named at creation keeps its data.
#include <ctime>
#include <nlohmann/json.hpp>

#include "reference.h"
#include "status_macros.h"
#include "store_impl.h"
#include "store_lock.h"

namespace strata {

Result<VolumeDriver*> Store::Impl::Driver(const std::string& name) {
  auto it = volume_drivers.find(name);
  if (it == volume_drivers.end()) return Status::NotFound("no such volume driver: " + name);
  return it->second.get();
}

Result<VolumeInfo> Store::Impl::LoadVolume(const std::string& name) {
  ASSIGN_OR_RETURN(auto found, catalog->FindVolume(name));
  if (!found) return Status::NotFound("no such volume: " + name);
  ASSIGN_OR_RETURN(VolumeDriver * driver, Driver(found->driver));
  ASSIGN_OR_RETURN(found->mountpoint, driver->Path(name));
  return *found;
}

Status Store::RegisterVolumeDriver(std::unique_ptr<VolumeDriver> driver) {
  if (!driver) return Status::InvalidArgument("no driver");
  std::string name = driver->name();
  if (!impl_->volume_drivers.emplace(name, std::move(driver)).second) {
    return Status::AlreadyExists("volume driver " + name + " is already registered");
  }
  return Status::OK();
}

Result<VolumeInfo> Store::CreateVolume(const std::string& name, const VolumeCreateOptions& options) {
  RETURN_IF_ERROR(CheckObjectName("volume", name));
  ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(impl_->root));
  ASSIGN_OR_RETURN(VolumeDriver * driver, impl_->Driver(options.driver));
  ASSIGN_OR_RETURN(auto existing, impl_->catalog->FindVolume(name));
  if (existing) {  // as Docker: creating a volume that exists returns it
    if (existing->driver != options.driver) {
      return Status::AlreadyExists("volume " + name + " exists with driver " + existing->driver);
    }
    return impl_->LoadVolume(name);
  }
  RETURN_IF_ERROR(driver->Create(name, options.options));
  VolumeInfo v;
  v.name = name;
  v.driver = options.driver;
  v.labels = options.labels;
  v.options = options.options;
  v.anonymous = options.anonymous;
  v.created = std::time(nullptr);
  Catalog::Transaction txn(*impl_->catalog);
  Status st = txn.status();
  if (st.ok()) st = impl_->catalog->InsertVolume(v);
  if (st.ok()) st = txn.Commit();
  if (!st.ok()) {
    (void)driver->Remove(name);
    return st;
  }
  return impl_->LoadVolume(name);
}

Result<std::vector<VolumeInfo>> Store::ListVolumes() {
  ASSIGN_OR_RETURN(auto names, impl_->catalog->VolumeNames());
  std::vector<VolumeInfo> out;
  for (const auto& name : names) {
    ASSIGN_OR_RETURN(VolumeInfo v, impl_->LoadVolume(name));
    out.push_back(std::move(v));
  }
  return out;
}

Result<VolumeInfo> Store::GetVolume(const std::string& name) {
  return impl_->LoadVolume(name);
}

Status Store::RemoveVolume(const std::string& name) {
  ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(impl_->root));
  ASSIGN_OR_RETURN(auto v, impl_->catalog->FindVolume(name));
  if (!v) return Status::NotFound("no such volume: " + name);
  if (!v->users.empty())
    return Status::InUse("volume " + name + " is in use by container " + v->users.front());
  ASSIGN_OR_RETURN(VolumeDriver * driver, impl_->Driver(v->driver));
  Catalog::Transaction txn(*impl_->catalog);
  RETURN_IF_ERROR(txn.status());
  RETURN_IF_ERROR(impl_->catalog->DeleteVolume(name));
  RETURN_IF_ERROR(txn.Commit());
  return driver->Remove(name);  // after the commit: a crash leaves only an unnamed directory
}

Result<std::vector<std::string>> Store::PruneVolumes(bool all) {
  ASSIGN_OR_RETURN(auto volumes, ListVolumes());
  std::vector<std::string> removed;
  for (const auto& v : volumes) {
    if (!v.users.empty() || !(all || v.anonymous)) continue;
    Status st = RemoveVolume(v.name);
    if (st.code() == Code::kInUse) continue;  // taken meanwhile
    RETURN_IF_ERROR(st);
    removed.push_back(v.name);
  }
  return removed;
}

Result<std::string> Store::MountVolume(const std::string& name, const std::string& user) {
  ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(impl_->root));
  ASSIGN_OR_RETURN(auto v, impl_->catalog->FindVolume(name));
  if (!v) return Status::NotFound("no such volume: " + name);
  ASSIGN_OR_RETURN(VolumeDriver * driver, impl_->Driver(v->driver));
  ASSIGN_OR_RETURN(std::string path, driver->Mount(name, user));
  Status st = impl_->catalog->AddVolumeUser(name, user);
  if (!st.ok()) {
    (void)driver->Unmount(name, user);
    return st;
  }
  return path;
}

Status Store::UnmountVolume(const std::string& name, const std::string& user) {
  ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(impl_->root));
  ASSIGN_OR_RETURN(auto v, impl_->catalog->FindVolume(name));
  if (!v) return Status::NotFound("no such volume: " + name);
  ASSIGN_OR_RETURN(VolumeDriver * driver, impl_->Driver(v->driver));
  RETURN_IF_ERROR(driver->Unmount(name, user));
  return impl_->catalog->RemoveVolumeUser(name, user);
}

std::string ToJson(const std::vector<VolumeInfo>& volumes) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& v : volumes) {
    out.push_back({{"Name", v.name},
                   {"Driver", v.driver},
                   {"Mountpoint", v.mountpoint},
                   {"Labels", v.labels},
                   {"Options", v.options},
                   {"Scope", "local"},
                   {"Anonymous", v.anonymous},
                   {"CreatedAt", v.created},
                   {"UsedBy", v.users}});
  }
  return out.dump(2);
}

}  // namespace strata
