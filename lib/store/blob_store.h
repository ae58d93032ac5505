// BlobStore: file contents kept once each, named by their keyed digest.
//
// Layout: blobs/<22 characters>, the digest's 16 bytes in base64 (RFC 4648)
// with `_` for `/` and no padding (no name starts with `-` or `.`), mode
// 0444, never modified. The name is short so that
// a kernel-path metadata file's redirect to it ("/" and the name, 23 bytes)
// fits in an ext4 inode beside the metacopy mark, with no xattr block.
// New content is written by a BlobBatch: each blob goes to a temporary file,
// and Commit() flushes all of them with one syncfs() before renaming them into
// place, so a blob under its final name is always complete, without paying one
// fsync per file.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "format/hasher.h"
#include "strata/digest.h"
#include "strata/status.h"
#include "util/file_util.h"

namespace strata {

// A blob's file name in blobs/ (see the layout above).
std::string BlobFileName(const Digest& d);

class BlobStore {
 public:
  // A batch's temporary files go under `temp_dir` (same file system; "" for
  // `dir` itself): not beside the blobs, so that finding a crash's leftovers
  // never lists the blob directory.
  BlobStore(std::string dir, const Secret& secret, std::string temp_dir = "")
      : dir_(std::move(dir)), temp_dir_(temp_dir.empty() ? dir_ : std::move(temp_dir)), secret_(secret) {}

  const std::string& dir() const { return dir_; }
  const std::string& temp_dir() const { return temp_dir_; }
  const Secret& secret() const { return secret_; }
  std::string PathOf(const Digest& d) const;
  bool Contains(const Digest& d) const;
  // Streams a blob's bytes to `sink`, then checks them against the digest.
  Status Read(const Digest& d, const std::function<Status(const void*, size_t)>& sink) const;
  Status Verify(const Digest& d) const {
    return Read(d, [](const void*, size_t) { return Status::OK(); });
  }
  Status Remove(const Digest& d) const;

 private:
  std::string dir_;
  std::string temp_dir_;
  const Secret& secret_;
};

// Content written by one import. Either Commit() or the destructor (abort)
// runs; after an abort no file of the batch is left behind.
class BlobBatch {
 public:
  explicit BlobBatch(const BlobStore& store);
  ~BlobBatch();
  BlobBatch(const BlobBatch&) = delete;
  BlobBatch& operator=(const BlobBatch&) = delete;

  // Writes one blob of `size` bytes. `next` yields data blocks at offsets (gaps
  // are holes, read as zeros); it returns false with len 0 at the end.
  using BlockSource = std::function<Status(const void** data, size_t* len, int64_t* offset, bool* done)>;
  Result<Digest> Add(uint64_t size, const BlockSource& next);
  Result<Digest> AddBytes(std::string_view bytes);

  // Makes every new blob in `keep` durable under its final name; the others
  // (content a later tar entry replaced) are dropped.
  Status Commit(const std::unordered_set<Digest>& keep);
  // Blobs this batch created (not those that already existed), after Commit.
  const std::vector<Digest>& created() const { return created_; }

 private:
  Status EnsureTempDir();
  // OK when `d` is already held (pending or stored) and `same_as(that file)`
  // is true; kNotFound when `d` is new; kCorruption on a collision.
  Status CheckDuplicate(const Digest& d, const std::function<Result<bool>(const std::string&)>& same_as);
  Result<Digest> AddSmall(uint64_t size, const BlockSource& next);
  std::string NextTempPath();

  const BlobStore& store_;
  std::string tmp_dir_;
  uint64_t counter_ = 0;
  std::unordered_map<Digest, std::string> pending_;  // digest -> temp path
  std::vector<Digest> created_;
};

// True when the two files hold the same bytes.
Result<bool> SameContent(const std::string& a, const std::string& b);

}  // namespace strata
