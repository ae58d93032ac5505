#include "format/upper_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "util/file_util.h"

namespace strata::upper {

namespace {

std::string WhiteoutFileOf(const std::string& rel) {
  auto slash = rel.rfind('/');
  if (slash == std::string::npos) return std::string(kWhiteoutPrefix) + rel;
  return rel.substr(0, slash + 1) + std::string(kWhiteoutPrefix) + rel.substr(slash + 1);
}

}  // namespace

Status MakeWhiteout(int dirfd, const std::string& rel) {
  if (::mknodat(dirfd, rel.c_str(), S_IFCHR | 0, makedev(0, 0)) == 0) return Status::OK();
  if (errno != EPERM) return ErrnoStatus("whiteout", rel);
  int fd = ::openat(dirfd, WhiteoutFileOf(rel).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("whiteout", rel);
  ::close(fd);
  return Status::OK();
}

void RemoveWhiteoutFile(int dirfd, const std::string& rel) {
  ::unlinkat(dirfd, WhiteoutFileOf(rel).c_str(), 0);
}

bool HasWhiteoutFile(int dirfd, const std::string& rel) {
  struct stat st;
  return ::fstatat(dirfd, WhiteoutFileOf(rel).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

bool IsOpaque(const std::string& path) {
  char value[2];
  for (const char* name : {"trusted.overlay.opaque", "user.overlay.opaque", "user.fuseoverlayfs.opaque"}) {
    ssize_t n = ::lgetxattr(path.c_str(), name, value, sizeof value);
    if (n == 1 && value[0] == 'y') return true;
  }
  struct stat st;
  return ::lstat((path + "/" + std::string(kOpaqueMarker)).c_str(), &st) == 0;
}

Status SetOpaque(const std::string& path) {
  if (::lsetxattr(path.c_str(), "trusted.overlay.opaque", "y", 1, 0) == 0) return Status::OK();
  if (::lsetxattr(path.c_str(), "user.fuseoverlayfs.opaque", "y", 1, 0) == 0) return Status::OK();
  return ErrnoStatus("mark opaque", path);
}

std::string ReadRedirect(const std::string& path) {
  char value[4096];
  for (const char* name : {"trusted.overlay.redirect", "user.overlay.redirect"}) {
    ssize_t n = ::lgetxattr(path.c_str(), name, value, sizeof value);
    if (n > 0) return std::string(value, static_cast<size_t>(n));
  }
  return "";
}

std::string OriginOf(std::string_view dir_origin, std::string_view name, std::string_view redirect) {
  if (!redirect.empty() && redirect[0] == '/') return std::string(redirect.substr(1));
  const std::string_view own = redirect.empty() ? name : redirect;
  return dir_origin.empty() ? std::string(own) : std::string(dir_origin) + "/" + std::string(own);
}

Status SetRedirect(const std::string& path, const std::string& origin) {
  // user.overlay.redirect is what the kernel reads with -o userxattr (no CAP_SYS_ADMIN).
  for (const char* name : {"trusted.overlay.redirect", "user.overlay.redirect"}) {
    if (::lsetxattr(path.c_str(), name, origin.data(), origin.size(), 0) == 0) return Status::OK();
  }
  return ErrnoStatus("set redirect", path);
}

bool IsMetacopy(const std::string& path) {
  for (const char* name : {"trusted.overlay.metacopy", "user.overlay.metacopy"}) {
    if (::lgetxattr(path.c_str(), name, nullptr, 0) >= 0) return true;
  }
  return false;
}

Status CompleteMetacopy(const std::string& path, int data) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open", path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat", path);
  if (data >= 0) {
    off_t at = 0;
    while (at < st.st_size) {
      ssize_t n = ::copy_file_range(data, &at, fd.get(), nullptr, static_cast<size_t>(st.st_size - at), 0);
      if (n < 0) return ErrnoStatus("copy the data of", path);
      if (n == 0) return Status::Corruption(path + ": its lower file is shorter than it");
    }
  }
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::futimens(fd.get(), times) != 0 || ::fsync(fd.get()) != 0) return ErrnoStatus("complete", path);
  for (const char* name : {"trusted.overlay.redirect", "user.overlay.redirect", "trusted.overlay.metacopy",
                           "user.overlay.metacopy"}) {
    if (::fremovexattr(fd.get(), name) != 0 && errno != ENODATA) return ErrnoStatus("complete", path);
  }
  return Status::OK();
}

bool IsPrivateXattr(std::string_view name) {
  return name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.") ||
         name.starts_with("user.fuseoverlayfs.");
}

}  // namespace strata::upper
