// StoreLock: the store-wide writer lock (flock on <root>/lock). Readers take
// no lock: files under the store are immutable once named, and SQLite gives
// them a consistent catalog.
#pragma once

#include <string>

#include "file_util.h"
#include "strata/status.h"

namespace strata {

class StoreLock {
 public:
  // Blocks until the lock is ours.
  static Result<StoreLock> Acquire(const std::string& root) { return Lock(root, false); }
  // Fails with kInUse at once if another process holds it.
  static Result<StoreLock> TryAcquire(const std::string& root) { return Lock(root, true); }

 private:
  static Result<StoreLock> Lock(const std::string& root, bool try_only);
  explicit StoreLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace strata
