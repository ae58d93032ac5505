#include "util/file_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <vector>

#include "strata/text.h"
#include "util/status_macros.h"

namespace strata {

void UniqueFd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status ErrnoStatus(std::string_view what, std::string_view path) {
  std::string msg(what);
  if (!path.empty()) msg += ": " + std::string(path);
  msg += ": ";
  msg += strerror(errno);
  return Status::Posix(errno, msg);
}

Status WriteAll(int fd, const void* data, size_t len, std::string_view path) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", path);
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return Status::OK();
}

Status ReadChunks(const std::string& path, const std::function<Status(const char* data, size_t len)>& sink) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open", path);
  std::vector<char> buf(256 * 1024);
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read", path);
    if (n == 0) return Status::OK();
    RETURN_IF_ERROR(sink(buf.data(), static_cast<size_t>(n)));
  }
}

Result<std::shared_ptr<const std::string_view>> MapFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open", path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat", path);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + ": not a regular file");
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) return std::make_shared<const std::string_view>();
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) return ErrnoStatus("mmap", path);
  return std::shared_ptr<const std::string_view>(new std::string_view(static_cast<const char*>(p), size),
                                                 [](const std::string_view* v) {
                                                   ::munmap(const_cast<char*>(v->data()), v->size());
                                                   delete v;
                                                 });
}

Result<std::string> ReadFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open", path);
  // Read in place into a buffer of the file's size (and one byte more, to see
  // the end), grown only if the file grows meanwhile (or stat says 0: /proc).
  struct stat st;
  size_t capacity =
      ::fstat(fd.get(), &st) == 0 && st.st_size > 0 ? static_cast<size_t>(st.st_size) + 1 : 4096;
  std::string out;
  out.reserve(capacity);
  PrepareLargeBuffer(out.data(), capacity);
  size_t used = 0;
  for (;;) {
    if (used == out.size()) out.resize(std::max(capacity, out.size() * 2));
    ssize_t n = ::read(fd.get(), out.data() + used, out.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read", path);
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  out.resize(used);
  return out;
}

Status FsyncDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open directory", dir);
  if (::fsync(fd.get()) != 0) return ErrnoStatus("fsync", dir);
  return Status::OK();
}

std::string DirName(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status ReplaceFileAtomic(const std::string& path, int mode,
                         const std::function<Status(int fd, const std::string&)>& fill) {
  std::string tmp = path + ".tmp-" + RandomHex(6);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd.valid()) return ErrnoStatus("create", tmp);
  ::flock(fd.get(), LOCK_EX);  // live: RemoveStaleTemps leaves it alone
  Status st = fill(fd.get(), tmp);
  if (st.ok() && ::fsync(fd.get()) != 0) st = ErrnoStatus("fsync", tmp);
  fd.Reset();
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) st = ErrnoStatus("rename", path);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  return FsyncDir(DirName(path));
}

namespace {

// Temporaries ReplaceFileAtomic left beside `path` when killed: nobody holds
// their lock any more.
void RemoveStaleTemps(const std::string& path) {
  const std::string dir = DirName(path);
  const std::string prefix = path.substr(path.rfind('/') + 1) + ".tmp-";
  auto names = ListDir(dir);
  if (!names.ok()) return;
  for (const auto& name : *names) {
    if (!name.starts_with(prefix) || name.size() != prefix.size() + 12) continue;
    const std::string stale = dir + "/" + name;
    UniqueFd fd(::open(stale.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.valid() && ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) ::unlink(stale.c_str());
  }
}

}  // namespace

Status WriteOutputFile(const std::string& path, int mode,
                       const std::function<Status(int fd, const std::string& path)>& fill) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | (S_ISLNK(st.st_mode) ? O_TRUNC : 0)));
    if (!fd.valid()) return ErrnoStatus("open", path);
    return fill(fd.get(), path);
  }
  RemoveStaleTemps(path);
  return ReplaceFileAtomic(path, mode, fill);
}

Status WriteFileAtomic(const std::string& path, std::string_view data, int mode) {
  return ReplaceFileAtomic(path, mode, [&](int fd, const std::string& tmp) {
    return WriteAll(fd, data.data(), data.size(), tmp);
  });
}

Status CopyFileAtomic(const std::string& from, const std::string& to, int mode) {
  UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) return ErrnoStatus("open", from);
  return ReplaceFileAtomic(to, mode, [&](int fd, const std::string& tmp) -> Status {
    for (bool fast = true;;) {
      ssize_t n = fast ? ::copy_file_range(in.get(), nullptr, fd, nullptr, 1 << 30, 0) : -1;
      if (n < 0 && fast && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        fast = false;  // file systems that cannot: copy through a buffer
        continue;
      }
      if (!fast) {
        char buf[1 << 16];
        n = ::read(in.get(), buf, sizeof buf);
        if (n > 0) RETURN_IF_ERROR(WriteAll(fd, buf, static_cast<size_t>(n), tmp));
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus("copy to", tmp);
      if (n == 0) return Status::OK();
    }
  });
}

Status MakeDirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Status::IOError("create directory " + path + ": " + ec.message());
  return Status::OK();
}

Status TightenMode(const std::string& path, mode_t mode) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path);
  if (S_ISLNK(st.st_mode) || (st.st_mode & 077 & ~mode) == 0) return Status::OK();
  if (::chmod(path.c_str(), (st.st_mode & 07700) | (mode & 077 & st.st_mode)) != 0)
    return ErrnoStatus("chmod", path);
  return Status::OK();
}

Status MakePrivateDir(const std::string& path, mode_t mode) {
  RETURN_IF_ERROR(MakeDirs(path));
  return TightenMode(path, mode);
}

namespace {

// Reads and closes `d`.
std::vector<std::string> TakeNames(DIR* d) {
  std::vector<std::string> names;
  while (struct dirent* ent = ::readdir(d)) {
    std::string_view name = ent->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

Result<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return ErrnoStatus("open directory", dir);
  return TakeNames(d);
}

Result<std::vector<std::string>> ListDir(int dir_fd) {
  // A descriptor of its own: fdopendir takes it, and reads from its start.
  int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open directory", "");
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return ErrnoStatus("open directory", "");
  }
  return TakeNames(d);
}

void RemoveEntryAt(int dirfd, const std::string& name) {
  if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno == EISDIR)
    ::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR);
}

Status RemoveAll(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return Status::IOError("remove " + path + ": " + ec.message());
  return Status::OK();
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

Status FillRandom(void* buf, size_t len) {
  auto* p = static_cast<uint8_t*>(buf);
  while (len > 0) {
    ssize_t n = ::getrandom(p, len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("getrandom", "");
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return Status::OK();
}

std::string RandomHex(size_t bytes) {
  std::vector<uint8_t> raw(bytes);
  if (!FillRandom(raw.data(), raw.size()).ok()) {
    // getrandom cannot fail for small requests once the pool is initialised;
    // fall back to pid + address entropy rather than abort.
    for (size_t i = 0; i < bytes; ++i) raw[i] = static_cast<uint8_t>((::getpid() >> (i % 4)) + i);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : raw) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

uint64_t FileSizeOr0(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

uint64_t TreeBytes(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return 0;
  if (S_ISREG(st.st_mode)) return static_cast<uint64_t>(st.st_size);
  if (!S_ISDIR(st.st_mode)) return 0;
  uint64_t total = 0;
  auto names = ListDir(path);
  if (!names.ok()) return 0;
  for (const auto& name : *names) total += TreeBytes(path + "/" + name);
  return total;
}

}  // namespace strata

namespace strata {

#ifdef MADV_POPULATE_WRITE
constexpr int kMadvPopulateWrite = MADV_POPULATE_WRITE;
#else
constexpr int kMadvPopulateWrite = 23;  // Linux 5.14's value
#endif

void PrepareLargeBuffer(void* p, size_t len) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  constexpr size_t kPopulateFrom = 64 * 1024;
  if (len < kPopulateFrom) return;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + len) & ~(page - 1);
  if (end <= begin) return;
  // Both are advice: a kernel without them (MADV_POPULATE_WRITE is 5.14+)
  // faults the pages in one at a time, as without the calls.
  if (len >= kHuge) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  (void)::madvise(reinterpret_cast<void*>(begin), end - begin, kMadvPopulateWrite);
}

// The process's umask without changing it (umask(2) only sets): /proc's Umask line.
mode_t ProcessUmask() {
  auto status = ReadFile("/proc/self/status");
  if (!status.ok()) return 0777;  // unknown: always set modes exactly
  size_t at = status->find("\nUmask:");
  if (at == std::string::npos) return 0777;
  size_t digits = status->find_first_of("01234567", at + 7);
  if (digits == std::string::npos) return 0777;
  auto value = ParseUnsigned(status->substr(digits, status->find('\n', digits) - digits), 8, 0777);
  return value ? static_cast<mode_t>(*value) : 0777;
}

}  // namespace strata
