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

// `volume inspect` / `volume ls --json`: Docker's keys (Name, Driver, Mountpoint...).
std::string ToJson(const std::vector<VolumeInfo>& volumes);

// The built-in driver: a directory per volume under <root>/volumes/<name>/_data.
std::unique_ptr<VolumeDriver> MakeLocalVolumeDriver(const std::string& volumes_dir);

struct VolumeCreateOptions {
  std::string driver = "local";
  std::map<std::string, std::string> labels{};
  std::map<std::string, std::string> options{};
  bool anonymous = false;
};

}  // namespace strata
