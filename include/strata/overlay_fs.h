// OverlayFs: a writable union. A read-only lower tree (an image's merged
// layers, a UnionView) with one upper directory on top, kept in kernel
// overlayfs's format: whiteouts are 0/0 character devices, opaque
// directories carry trusted.overlay.opaque=y (user.fuseoverlayfs.opaque
// when trusted.* is not allowed). Without an upper directory the union is
// read-only and every change is EROFS.
//
// Operations mirror the FUSE low-level API (node ids, lookup counts) so the
// daemon stays a thin translation; errors carry the errno overlayfs gives.
// A node stays usable while it is referenced, even once removed from the
// tree: a file unlinked while open keeps its data until Forget, as POSIX
// asks of an open file.
// The upper directory must not be changed by anyone else while the
// OverlayFs is live: its state is cached, which is what lets a lookup under
// a directory that was never copied up run without any host system call.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "strata/status.h"
#include "strata/union_view.h"

namespace strata {

struct OverlayOptions {
  std::string upper_dir;  // "" for a read-only union
  std::string work_dir;   // same file system as upper_dir; holds copy-ups in flight
  bool fsync = true;      // false: fsync and fdatasync return at once (fuse-overlayfs's fsync=0)
};

// Who asks: new entries are owned by the caller, as the kernel would make them.
struct Caller {
  uint32_t uid = 0;
  uint32_t gid = 0;
  // Taken off a new entry's mode, unless its directory has a default ACL
  // (which then decides, as on the kernel's own file systems).
  uint32_t umask = 0;
};

// Changes for SetAttr; only the fields named in `mask` apply. kKillSuidgid
// clears a regular file's set-id bits as the kernel does when a caller
// without CAP_FSETID writes or truncates it: set-user-ID always, set-group-ID
// when the file is group-executable or the caller is not in its group (a
// chown or chmod in the same change decides on its own).
struct AttrChange {
  enum : uint32_t { kMode = 1, kUid = 2, kGid = 4, kSize = 8, kAtime = 16, kMtime = 32, kKillSuidgid = 64 };
  uint32_t mask = 0;
  uint32_t mode = 0;
  uint32_t uid = 0, gid = 0;
  uint64_t size = 0;
  struct timespec atime {};  // UTIME_NOW allowed
  struct timespec mtime {};
  // For kKillSuidgid: whether the caller is in group `gid`, asked only of a
  // setgid file without group execute. Unset: it is.
  std::function<bool(uint32_t gid)> caller_in_group;
  // For kKillSuidgid: whether the caller may keep the bits (CAP_FSETID),
  // asked only of a file that has one. Unset: it may not (the one asking has
  // checked already, as the kernel has when it flags a write).
  std::function<bool()> caller_has_fsetid;
};

// What a lookup or a creation returns: the FUSE node id and its attributes.
struct NodeEntry {
  uint64_t node = 0;
  struct stat attr {};
};

// An open file: read and write its fd directly. For a file opened read-only
// from a lower layer, call CurrentFd() before each read: once another
// descriptor copies the file up, reads must see the upper copy.
//
// Thread safety: one OpenFile is used by one thread at a time.
class OpenFile {
 public:
  virtual ~OpenFile() = default;
  virtual int CurrentFd() = 0;  // -1 for an empty lower file (reads return 0 bytes)
  virtual bool from_lower() const = 0;
};

// A descriptor on a file's data, closed when the last holder lets go.
// Thread safety: immutable; share it between threads freely.
class DataFd {
 public:
  explicit DataFd(int fd) : fd_(fd) {}
  ~DataFd();
  DataFd(const DataFd&) = delete;
  DataFd& operator=(const DataFd&) = delete;
  int get() const { return fd_; }  // -1 for an empty lower file: reads give 0 bytes

 private:
  int fd_;
};

// Thread safety: every method may be called from any number of threads at
// once, as a FUSE daemon's workers call them (the lock protocol is in
// lib/union/overlay_impl.h, checked by clang's -Wthread-safety). The kernel's
// rule that one node sees one change at a time is not assumed.
class OverlayFs {
 public:
  static Result<std::unique_ptr<OverlayFs>> Open(std::unique_ptr<UnionView> lower, OverlayOptions options);
  virtual ~OverlayFs() = default;

  bool writable() const { return writable_; }

  // Each successful Lookup (and Create/Mkdir/...) counts one reference that
  // Forget releases, as FUSE expects.
  virtual Result<NodeEntry> Lookup(uint64_t parent, std::string_view name) = 0;
  virtual void Forget(uint64_t node, uint64_t count) = 0;
  virtual Result<struct stat> GetAttr(uint64_t node) = 0;
  virtual Result<struct stat> SetAttr(uint64_t node, const AttrChange& change, int fd) = 0;
  virtual Result<std::string> ReadLink(uint64_t node) = 0;

  virtual Result<NodeEntry> Mknod(uint64_t parent, std::string_view name, uint32_t mode, dev_t rdev,
                                  const Caller& caller) = 0;
  virtual Result<NodeEntry> Mkdir(uint64_t parent, std::string_view name, uint32_t mode,
                                  const Caller& caller) = 0;
  virtual Result<NodeEntry> Symlink(uint64_t parent, std::string_view name, std::string_view target,
                                    const Caller& caller) = 0;
  virtual Result<NodeEntry> Link(uint64_t node, uint64_t new_parent, std::string_view new_name) = 0;
  virtual Status Unlink(uint64_t parent, std::string_view name) = 0;
  virtual Status Rmdir(uint64_t parent, std::string_view name) = 0;
  // flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE.
  virtual Status Rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                        std::string_view new_name, unsigned flags) = 0;

  virtual Result<std::unique_ptr<OpenFile>> OpenNode(uint64_t node, int flags) = 0;
  // A descriptor on a regular file's data as it is now, for reads or (with
  // `write`, which copies the file up first) writes. This is how the FUSE
  // daemon reads and writes without open handles. Descriptors of recently
  // used files are kept and shared, so a stream of requests on one file
  // opens it once and keeps the host's readahead going.
  virtual Result<std::shared_ptr<const DataFd>> OpenData(uint64_t node, bool write) = 0;
  virtual Result<std::pair<NodeEntry, std::unique_ptr<OpenFile>>> Create(uint64_t parent,
                                                                         std::string_view name, uint32_t mode,
                                                                         int flags, const Caller& caller) = 0;
  // O_TMPFILE: a file with no name in `parent`, owned by `caller`, that
  // lives while referenced; Link gives it a name. Its entry shows one link
  // (the kernel drops it to 0 itself).
  virtual Result<NodeEntry> CreateUnnamed(uint64_t parent, uint32_t mode, const Caller& caller) = 0;
  // Makes a file's data durable (nothing to do while it is only below).
  virtual Status Fsync(uint64_t node, bool datasync) = 0;
  // Makes the directory's entries in the upper directory durable.
  virtual Status FsyncDir(uint64_t node) = 0;

  // The merged children of a directory, in cookie order. A cookie marks an
  // entry's place for as long as the entry exists (a hash of its name, as
  // ext4's directory offsets are), so a listing read in pieces resumes at the
  // right place even when entries come and go in between. Cookies are 3 or
  // more: 0 to 2 are left for the start, "." and "..".
  struct Child {
    std::string name;
    uint64_t ino;
    uint32_t type;  // S_IF* bits
    uint64_t cookie;
  };
  using Listing = std::shared_ptr<const std::vector<Child>>;
  // Built once and shared until the directory changes.
  virtual Result<Listing> ReadDir(uint64_t node) = 0;

  virtual Result<std::string> GetXattr(uint64_t node, const std::string& name) = 0;
  virtual Result<std::vector<std::string>> ListXattr(uint64_t node) = 0;
  virtual Status SetXattr(uint64_t node, const std::string& name, std::string_view value, int flags) = 0;
  virtual Status RemoveXattr(uint64_t node, const std::string& name) = 0;
  virtual Result<struct statvfs> StatFs() = 0;

 protected:
  bool writable_ = false;
};

}  // namespace strata
