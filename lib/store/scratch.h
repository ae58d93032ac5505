// A build step's (or a container run's) private directories under the
// store's tmp/: an upper and a work directory for a writable layer and a
// mount point. Each holds a lock for as long as its owner lives, so a store
// opened later tells a crashed owner's leftovers from a live one's.
#pragma once

#include <string>

#include "strata/status.h"
#include "util/file_util.h"

namespace strata {

class Scratch {
 public:
  static Result<Scratch> Make(const std::string& store_root);
  Scratch(Scratch&& other) noexcept : dir_(std::move(other.dir_)), lock_(std::move(other.lock_)) {
    other.dir_.clear();
  }
  ~Scratch();
  std::string upper() const { return dir_ + "/upper"; }
  std::string work() const { return dir_ + "/work"; }
  std::string rootfs() const { return dir_ + "/rootfs"; }
  const std::string& dir() const { return dir_; }

 private:
  Scratch(std::string dir, UniqueFd lock) : dir_(std::move(dir)), lock_(std::move(lock)) {}
  std::string dir_;
  UniqueFd lock_;
};

// Removes the scratch directories whose owner is gone, detaching any mount
// left on them first.
void RemoveStaleScratch(const std::string& store_root);

}  // namespace strata
