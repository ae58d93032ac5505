#include "util/file_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>

namespace strata {

Result<FileLock> FileLock::Lock(const std::string& path, const std::string& what, bool try_only) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoStatus("open lock", path);
  while (::flock(fd.get(), LOCK_EX | (try_only ? LOCK_NB : 0)) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return Status::InUse(what + " is locked by another process");
    return ErrnoStatus("lock", path);
  }
  return FileLock(std::move(fd));
}

}  // namespace strata
