// FileLock: an exclusive flock on a lock file, held for the object's life.
// The store, the containers and the volumes each have one (docs/ARCHITECTURE.md,
// "Locks": containers before volumes before the store). Readers take none:
// files are immutable once named, and SQLite gives a consistent catalog.
#pragma once

#include <string>

#include "strata/status.h"
#include "util/file_util.h"

namespace strata {

class FileLock {
 public:
  // Blocks until the lock on `path` (created 0600 if missing) is ours. `what`
  // names the locked thing in errors ("store /var/lib/strata").
  static Result<FileLock> Acquire(const std::string& path, const std::string& what) {
    return Lock(path, what, false);
  }
  // Fails with kInUse at once if another process holds it.
  static Result<FileLock> TryAcquire(const std::string& path, const std::string& what) {
    return Lock(path, what, true);
  }

 private:
  static Result<FileLock> Lock(const std::string& path, const std::string& what, bool try_only);
  explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// The store-wide writer lock: <root>/lock.
inline Result<FileLock> AcquireStoreLock(const std::string& root) {
  return FileLock::Acquire(root + "/lock", "store " + root);
}
inline Result<FileLock> TryAcquireStoreLock(const std::string& root) {
  return FileLock::TryAcquire(root + "/lock", "store " + root);
}

}  // namespace strata
