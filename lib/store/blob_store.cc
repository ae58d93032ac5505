#include "store/blob_store.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <vector>

#include "util/status_macros.h"

namespace strata {

namespace {
constexpr size_t kBufSize = 256 * 1024;
// Files up to this size are hashed in memory before any file is created, so
// content the store already holds costs no temp file at all.
constexpr uint64_t kInMemoryMax = 1 << 20;

Result<bool> FileEquals(const std::string& path, std::string_view bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open", path);
  std::string buf(bytes.size() + 1, '\0');  // one extra byte detects a longer file
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::read(fd.get(), buf.data() + got, buf.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read", path);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got == bytes.size() && std::string_view(buf.data(), got) == bytes;
}
// Pulls blocks from `next` until it is done, checking each lies within `size`.
Status ForEachBlock(const BlobBatch::BlockSource& next, uint64_t size,
                    const std::function<Status(const void*, size_t, uint64_t)>& fn) {
  for (;;) {
    const void* data = nullptr;
    size_t len = 0;
    int64_t offset = 0;
    bool done = false;
    RETURN_IF_ERROR(next(&data, &len, &offset, &done));
    if (done) return Status::OK();
    if (offset < 0 || static_cast<uint64_t>(offset) + len > size) {
      return Status::InvalidArgument("data block outside the file's declared size");
    }
    RETURN_IF_ERROR(fn(data, len, static_cast<uint64_t>(offset)));
  }
}

}  // namespace

std::string BlobFileName(const Digest& d) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+_";
  std::string out;
  out.reserve(22);
  uint32_t bits = 0;
  int have = 0;
  for (uint8_t byte : d.bytes) {
    bits = (bits << 8) | byte;
    have += 8;
    while (have >= 6) {
      have -= 6;
      out.push_back(kAlphabet[(bits >> have) & 63]);
    }
  }
  if (have > 0) out.push_back(kAlphabet[(bits << (6 - have)) & 63]);
  return out;
}

std::string BlobStore::PathOf(const Digest& d) const {
  return dir_ + "/" + BlobFileName(d);
}

bool BlobStore::Contains(const Digest& d) const {
  return PathExists(PathOf(d));
}

Status BlobStore::Read(const Digest& d, const std::function<Status(const void*, size_t)>& sink) const {
  std::string path = PathOf(d);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open blob", path);
  Hasher hasher(secret_);
  std::vector<char> buf(kBufSize);
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read blob", path);
    }
    if (n == 0) break;
    hasher.Update(buf.data(), static_cast<size_t>(n));
    RETURN_IF_ERROR(sink(buf.data(), static_cast<size_t>(n)));
  }
  if (hasher.Finish() != d) return Status::Corruption("blob " + d.Hex() + " does not match its digest");
  return Status::OK();
}

Status BlobStore::Remove(const Digest& d) const {
  std::string path = PathOf(d);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus("remove blob", path);
  return Status::OK();
}

Result<bool> SameContent(const std::string& a, const std::string& b) {
  UniqueFd fa(::open(a.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fa.valid()) return ErrnoStatus("open", a);
  UniqueFd fb(::open(b.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fb.valid()) return ErrnoStatus("open", b);
  struct stat sa, sb;
  if (::fstat(fa.get(), &sa) != 0 || ::fstat(fb.get(), &sb) != 0) return ErrnoStatus("stat", a);
  if (sa.st_size != sb.st_size) return false;
  std::vector<char> ba(kBufSize), bb(kBufSize);
  for (;;) {
    ssize_t na = ::read(fa.get(), ba.data(), ba.size());
    if (na < 0) return ErrnoStatus("read", a);
    size_t got = 0;
    while (got < static_cast<size_t>(na)) {
      ssize_t nb = ::read(fb.get(), bb.data() + got, static_cast<size_t>(na) - got);
      if (nb < 0) return ErrnoStatus("read", b);
      if (nb == 0) return false;
      got += static_cast<size_t>(nb);
    }
    if (na == 0) {
      char extra;
      return ::read(fb.get(), &extra, 1) == 0;
    }
    if (std::memcmp(ba.data(), bb.data(), static_cast<size_t>(na)) != 0) return false;
  }
}

BlobBatch::BlobBatch(const BlobStore& store) : store_(store) {}

BlobBatch::~BlobBatch() {
  if (!tmp_dir_.empty()) (void)RemoveAll(tmp_dir_);
}

Status BlobBatch::EnsureTempDir() {
  if (!tmp_dir_.empty()) return Status::OK();
  RETURN_IF_ERROR(MakeDirs(store_.temp_dir()));
  std::string dir = store_.temp_dir() + "/.tmp-" + RandomHex(8);
  if (::mkdir(dir.c_str(), 0700) != 0) return ErrnoStatus("create directory", dir);
  tmp_dir_ = dir;
  return Status::OK();
}

// A digest we already hold must name the same bytes: with a secret key a
// collision is not something an attacker can aim for, and this compare makes
// even an accidental one harmless.
Status BlobBatch::CheckDuplicate(const Digest& d,
                                 const std::function<Result<bool>(const std::string&)>& same_as) {
  std::string existing;
  if (auto it = pending_.find(d); it != pending_.end()) {
    existing = it->second;
  } else if (store_.Contains(d)) {
    existing = store_.PathOf(d);
  } else {
    return Status::NotFound("");
  }
  ASSIGN_OR_RETURN(bool same, same_as(existing));
  if (!same) {
    return Status::Corruption("content collision: different bytes share digest " + d.Hex() +
                              "; refusing to store them");
  }
  return Status::OK();
}

std::string BlobBatch::NextTempPath() {
  return tmp_dir_ + "/" + std::to_string(counter_++);
}

Result<Digest> BlobBatch::AddSmall(uint64_t size, const BlockSource& next) {
  std::string bytes(size, '\0');
  RETURN_IF_ERROR(ForEachBlock(next, size, [&](const void* data, size_t len, uint64_t offset) {
    std::memcpy(bytes.data() + offset, data, len);
    return Status::OK();
  }));
  Digest d = HashBytes(store_.secret(), bytes.data(), bytes.size());
  Status dup = CheckDuplicate(d, [&](const std::string& path) { return FileEquals(path, bytes); });
  if (dup.ok()) return d;
  if (dup.code() != Code::kNotFound) return dup;
  RETURN_IF_ERROR(EnsureTempDir());
  std::string tmp = NextTempPath();
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
  if (!fd.valid()) return ErrnoStatus("create", tmp);
  RETURN_IF_ERROR(WriteAll(fd.get(), bytes.data(), bytes.size(), tmp));
  pending_.emplace(d, tmp);
  return d;
}

Result<Digest> BlobBatch::Add(uint64_t size, const BlockSource& next) {
  if (size <= kInMemoryMax) return AddSmall(size, next);
  RETURN_IF_ERROR(EnsureTempDir());
  std::string tmp = NextTempPath();
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
  if (!fd.valid()) return ErrnoStatus("create", tmp);
  Hasher hasher(store_.secret());
  uint64_t pos = 0;  // bytes hashed so far
  RETURN_IF_ERROR(ForEachBlock(next, size, [&](const void* data, size_t len, uint64_t offset) {
    if (offset < pos) return Status::InvalidArgument("data blocks out of order");
    hasher.UpdateZeros(offset - pos);  // a hole
    if (::pwrite(fd.get(), data, len, static_cast<off_t>(offset)) != static_cast<ssize_t>(len)) {
      return ErrnoStatus("write", tmp);
    }
    hasher.Update(data, len);
    pos = offset + len;
    return Status::OK();
  }));
  hasher.UpdateZeros(size - pos);
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) return ErrnoStatus("truncate", tmp);
  fd.Reset();
  Digest d = hasher.Finish();
  Status dup = CheckDuplicate(d, [&](const std::string& path) { return SameContent(path, tmp); });
  if (dup.code() != Code::kNotFound) ::unlink(tmp.c_str());
  if (dup.ok()) return d;
  if (dup.code() != Code::kNotFound) return dup;
  pending_.emplace(d, tmp);
  return d;
}

Result<Digest> BlobBatch::AddBytes(std::string_view bytes) {
  bool sent = false;
  return Add(bytes.size(), [&](const void** data, size_t* len, int64_t* offset, bool* done) {
    *done = sent || bytes.empty();
    *data = bytes.data();
    *len = bytes.size();
    *offset = 0;
    sent = true;
    return Status::OK();
  });
}

Status BlobBatch::Commit(const std::unordered_set<Digest>& keep) {
  std::erase_if(pending_, [&](const auto& item) { return !keep.count(item.first); });
  if (pending_.empty()) return Status::OK();
  // One syncfs makes every temp file's data durable before any of them gets
  // its final name; a second one makes the renames durable.
  UniqueFd dirfd(::open(store_.dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dirfd.valid()) return ErrnoStatus("open", store_.dir());
  if (::syncfs(dirfd.get()) != 0) return ErrnoStatus("syncfs", store_.dir());
  for (const auto& [digest, tmp] : pending_) {
    std::string final_path = store_.PathOf(digest);
    if (::rename(tmp.c_str(), final_path.c_str()) != 0) return ErrnoStatus("rename", final_path);
    created_.push_back(digest);
  }
  pending_.clear();
  if (::syncfs(dirfd.get()) != 0) return ErrnoStatus("syncfs", store_.dir());
  return Status::OK();
}

}  // namespace strata
