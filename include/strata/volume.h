// Volumes: data that outlives containers, kept by a volume driver and never
// seen by the union (containers get them as bind mounts). The driver
// interface is what a new driver implements; `local` is the first one.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "strata/status.h"

namespace strata {

struct VolumeInfo {
  std::string name;
  std::string driver;
  std::string mountpoint;  // host path of the data (from the driver)
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> options;
  bool anonymous = false;  // made for a container without a name: pruned by default
  int64_t created = 0;
  std::vector<std::string> users;  // containers that mount it
};

// Thread safety: Volumes calls a driver from one thread at a time, with the
// volumes' lock held; a driver need not lock anything itself.
class VolumeDriver {
 public:
  struct Capabilities {
    std::string scope = "local";  // "local" or "global", as Docker's plugins say
  };
  virtual ~VolumeDriver() = default;
  virtual std::string name() const = 0;
  virtual Capabilities capabilities() const = 0;
  // Refuses options it does not understand, with a message naming them.
  virtual Status Create(const std::string& volume, const std::map<std::string, std::string>& options) = 0;
  virtual Status Remove(const std::string& volume) = 0;
  virtual Result<std::string> Path(const std::string& volume) = 0;
  // Makes the data available to `user` (a container id) and returns its host path.
  virtual Result<std::string> Mount(const std::string& volume, const std::string& user) = 0;
  virtual Status Unmount(const std::string& volume, const std::string& user) = 0;
  virtual Result<std::vector<std::string>> List() = 0;
};

// `volume inspect` / `volume ls --json`: Docker's keys (Name, Driver, Mountpoint...),
// CreatedAt in RFC 3339.
std::string ToJson(const std::vector<VolumeInfo>& volumes);

// The built-in driver: a directory per volume under <root>/volumes/<name>/_data.
std::unique_ptr<VolumeDriver> MakeLocalVolumeDriver(const std::string& volumes_dir);

// A Docker volume plugin named `name` (its protocol over its unix socket),
// found where Docker finds it: /run/docker/plugins/NAME.sock (or
// NAME/NAME.sock), or NAME.spec / NAME.json in /etc/docker/plugins or
// /usr/lib/docker/plugins. Activated (it must say it is a volume driver).
// Volumes uses one by itself for a driver name it has no driver for.
Result<std::unique_ptr<VolumeDriver>> MakePluginVolumeDriver(const std::string& name);

struct VolumeCreateOptions {
  std::string driver = "local";
  std::map<std::string, std::string> labels{};
  std::map<std::string, std::string> options{};
  bool anonymous = false;
};

struct VolumePruneOptions {
  bool all = false;  // named volumes too, not only anonymous ones
};

class Store;

// The volumes of one store: a record each under <root>/volumes/.records/, the
// data with the driver named at creation. Names are Docker's:
// [a-zA-Z0-9][a-zA-Z0-9_.-]+.
//
// Thread safety: one Volumes object is used by one thread at a time. Several
// processes may use the same volumes at once: every change takes the lock file
// <root>/volumes/.lock (after the containers' lock, before the store's).
class Volumes {
 public:
  // Opens the volumes of `store`, with the `local` driver registered.
  static Result<std::unique_ptr<Volumes>> Open(const Store& store);
  ~Volumes();
  Volumes(const Volumes&) = delete;
  Volumes& operator=(const Volumes&) = delete;

  Status RegisterDriver(std::unique_ptr<VolumeDriver> driver);
  // Creating a volume that exists (with the same driver) returns it, as Docker does.
  Result<VolumeInfo> Create(const std::string& name, const VolumeCreateOptions& options);
  Result<std::vector<VolumeInfo>> List();
  Result<VolumeInfo> Get(const std::string& name);
  // Refused while a container uses the volume.
  Status Remove(const std::string& name);
  // Removes unused volumes: anonymous ones, or all of them with `all`; returns their names.
  Result<std::vector<std::string>> Prune(const VolumePruneOptions& options);
  // Records that `user` (a container id) uses the volume and returns the data's host path.
  Result<std::string> Mount(const std::string& name, const std::string& user);
  Status Unmount(const std::string& name, const std::string& user);

 private:
  struct Impl;
  explicit Volumes(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata
