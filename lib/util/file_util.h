// Small POSIX helpers: owned descriptors, atomic file writes, directory sync.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "strata/status.h"

namespace strata {

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = o.Release();
    }
    return *this;
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset();

 private:
  int fd_ = -1;
};

// "what: path: strerror(errno)" as an IOError.
Status ErrnoStatus(std::string_view what, std::string_view path);

Status WriteAll(int fd, const void* data, size_t len, std::string_view path);
Result<std::string> ReadFile(const std::string& path);
// A regular file mapped read-only and shared (its pages are the page cache's,
// faulted in 16 at a time), unmapped when the last copy of the pointer goes.
// For files never changed in place (the store's): a file truncated while
// mapped would fault its reader. An empty file gives empty bytes, unmapped.
Result<std::shared_ptr<const std::string_view>> MapFile(const std::string& path);
// Streams a file to `sink` in 256 KiB chunks (hashing, copying, archiving).
Status ReadChunks(const std::string& path, const std::function<Status(const char* data, size_t len)>& sink);
// The one way strata replaces a file: a temp file beside `path` (mode `mode`),
// filled by `fill`, fsync'd, renamed over `path`, then the directory fsync'd. On
// failure the temp file is gone and `path` untouched.
Status ReplaceFileAtomic(const std::string& path, int mode,
                         const std::function<Status(int fd, const std::string& tmp_path)>& fill);
// Where a user names an output file (-o): a new or regular file is replaced
// atomically, as ReplaceFileAtomic does, after removing the temporaries a
// killed earlier write to the same name left; anything else there (a
// character device such as /dev/null or /dev/stdout, a FIFO, a symlink) is
// written straight through, never replaced.
Status WriteOutputFile(const std::string& path, int mode,
                       const std::function<Status(int fd, const std::string& path)>& fill);
// ReplaceFileAtomic with `data` as the contents.
Status WriteFileAtomic(const std::string& path, std::string_view data, int mode = 0644);
// The same, with another file's bytes (streamed, never held in memory).
Status CopyFileAtomic(const std::string& from, const std::string& to, int mode = 0644);
Status FsyncDir(const std::string& dir);
Status MakeDirs(const std::string& path);
// MakeDirs, then `path` itself made private: no bits for group and others
// beyond `mode` (0700: nobody else may even look; a looser existing mode is
// tightened). The parents are left as they are.
Status MakePrivateDir(const std::string& path, mode_t mode = 0700);
// Takes the group and other bits `mode` does not allow off an existing file.
Status TightenMode(const std::string& path, mode_t mode);
// The names in a directory, "." and ".." left out, sorted.
Result<std::vector<std::string>> ListDir(const std::string& dir);
// The size of the file at `path` (symlinks followed); 0 when it cannot be read.
uint64_t FileSizeOr0(const std::string& path);
// Bytes of regular files at or below `path` (symlinks not followed); 0 when unreadable.
uint64_t TreeBytes(const std::string& path);
// The same for a directory open as `dir_fd`, which stays open.
Result<std::vector<std::string>> ListDir(int dir_fd);
// Removes a file or a whole tree; a missing path is not an error.
Status RemoveAll(const std::string& path);
// Removes dirfd/name, a file or an empty directory, if it can (best effort).
void RemoveEntryAt(int dirfd, const std::string& name);
bool PathExists(const std::string& path);
std::string DirName(const std::string& path);
// Random lowercase hex, for temporary names.
std::string RandomHex(size_t bytes);

// The process's umask without changing it (umask(2) only sets): /proc's
// Umask line; 0777 when unknown (callers then always set modes exactly).
mode_t ProcessUmask();
Status FillRandom(void* buf, size_t len);
// Readies the whole pages of a large buffer [p, p + len) about to be filled:
// maps them in one call (MADV_POPULATE_WRITE) rather than one page fault per
// 4 KiB page, and asks for huge pages from 2 MiB on. A fault costs ~10 us on a
// VM of this project's machines against 0.6 us a page populated in bulk: a
// mount of a store image loads its layer indexes (4 MB each for 50,000 files).
void PrepareLargeBuffer(void* p, size_t len);

}  // namespace strata
