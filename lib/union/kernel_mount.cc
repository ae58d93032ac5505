// The kernel path: a store chain mounted by kernel overlayfs, its metadata
// tree (Store::MetaTree) as the lower layer and its blobs (Store::MetaTreeDataDir) as a
// data-only layer below it (Linux 6.5+; the mount API's "lowerdir+" and
// "datadir+" keys, 6.8+, so that no path needs escaping). The upper and work
// directories are the ones the FUSE path uses: overlayfs's own format.
#include "union/kernel_mount.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "strata/store.h"
#include "union/kernel_upper.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace strata {

namespace {

// The messages overlayfs left in the mount context ("e overlayfs: ..."), as one line.
std::string ContextLog(int fs_fd) {
  std::string said;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(fs_fd, buf, sizeof buf);
    if (n <= 0) break;
    std::string line(buf, static_cast<size_t>(n));
    while (!line.empty() && line.back() == '\n') line.pop_back();
    if (line.size() > 2 && line[1] == ' ') line = line.substr(2);
    said += (said.empty() ? "" : "; ") + line;
  }
  return said;
}

class FsContext {
 public:
  FsContext() : fd_(::fsopen("overlay", FSOPEN_CLOEXEC)) {}
  bool valid() const { return fd_.valid(); }
  int get() const { return fd_.get(); }
  Status Set(const char* key, const std::string& value) {
    if (::fsconfig(fd_.get(), FSCONFIG_SET_STRING, key, value.c_str(), 0) == 0) return Status::OK();
    return Failure(std::string("overlayfs option ") + key + "=" + value);
  }
  Status Failure(const std::string& what) {
    const int err = errno;
    std::string log = ContextLog(fd_.get());
    return Status::Posix(err, what + ": " + (log.empty() ? std::strerror(err) : log));
  }

 private:
  UniqueFd fd_;
};

}  // namespace

Status KernelDriverUsable() {
  static Status usable = [] {
    if (::geteuid() != 0)
      return Status::PermissionDenied("the kernel path needs root (FUSE is the rootless path)");
    std::ifstream uid_map("/proc/self/uid_map");
    std::string inside, outside;
    if (uid_map >> inside >> outside && outside != "0")
      return Status::PermissionDenied("the kernel path needs root outside a user namespace");
    FsContext fs;
    if (!fs.valid()) return Status::Unsupported("this kernel has no overlayfs mount API");
    for (const char* key : {"lowerdir+", "datadir+"}) {
      if (!fs.Set(key, "/").ok())
        return Status::Unsupported("this kernel's overlayfs has no data-only layers (Linux 6.8+)");
    }
    for (const char* key : {"metacopy", "redirect_dir"}) {
      if (!fs.Set(key, "on").ok())
        return Status::Unsupported(std::string("this kernel's overlayfs has no ") + key);
    }
    return Status::OK();
  }();
  return usable;
}

Status MountKernelOverlay(const UnionMountSpec& spec) {
  RETURN_IF_ERROR(KernelDriverUsable());
  ASSIGN_OR_RETURN(auto store, Store::Open(spec.store_root));
  ASSIGN_OR_RETURN(std::string meta, store->MetaTree(spec.top_layer));
  const bool writable = !spec.upper_dir.empty();
  if (writable) RETURN_IF_ERROR(CheckUpperFree(spec.upper_dir, spec.lock_file));
  FsContext fs;
  if (!fs.valid()) return ErrnoStatus("fsopen", "overlay");
  RETURN_IF_ERROR(fs.Set("source", "strata"));
  RETURN_IF_ERROR(fs.Set("lowerdir+", meta));
  RETURN_IF_ERROR(fs.Set("datadir+", store->MetaTreeDataDir(spec.top_layer)));
  if (writable) {
    RETURN_IF_ERROR(fs.Set("upperdir", spec.upper_dir));
    RETURN_IF_ERROR(fs.Set("workdir", spec.work_dir));
  }
  RETURN_IF_ERROR(fs.Set("metacopy", "on"));
  RETURN_IF_ERROR(fs.Set("redirect_dir", "on"));
  if (::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
    return fs.Failure("mounting on " + spec.mountpoint + " failed");
  UniqueFd mnt(::fsmount(fs.get(), FSMOUNT_CLOEXEC, writable ? 0 : MOUNT_ATTR_RDONLY));
  if (!mnt.valid()) return fs.Failure("mounting on " + spec.mountpoint + " failed");
  if (::move_mount(mnt.get(), "", AT_FDCWD, spec.mountpoint.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
    return ErrnoStatus("mount on", spec.mountpoint);
  return Status::OK();
}

}  // namespace strata
