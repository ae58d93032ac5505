#include "store_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>

namespace strata {

Result<StoreLock> StoreLock::Lock(const std::string& root, bool try_only) {
  std::string path = root + "/lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoStatus("open lock", path);
  while (::flock(fd.get(), LOCK_EX | (try_only ? LOCK_NB : 0)) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return Status::InUse("store " + root + " is locked by another process");
    return ErrnoStatus("lock", path);
  }
  return StoreLock(std::move(fd));
}

}  // namespace strata
