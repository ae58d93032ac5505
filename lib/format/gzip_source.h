// GzipSource: the bytes of an input stream, gunzipped when it is gzip.
//
// libarchive's gzip reader does not check a member's CRC-32 or length (its
// trailer check is a TODO), so a damaged .tar.gz could import as a different
// layer. zlib checks both; this reads through zlib when the stream starts with
// gzip's magic, member after member, and passes any other stream through
// untouched for libarchive to decompress (zstd, xz and bzip2 check their own).
#pragma once

#include <zlib.h>

#include <cstdint>
#include <memory>
#include <string>

#include "strata/status.h"

namespace strata {

class GzipSource {
 public:
  explicit GzipSource(int fd);
  ~GzipSource();
  GzipSource(const GzipSource&) = delete;
  GzipSource& operator=(const GzipSource&) = delete;

  // Up to `cap` bytes into `out`; 0 at the end. Errors name what is wrong
  // ("gzip: incorrect data check").
  Result<size_t> Read(char* out, size_t cap);
  bool gzip() const { return mode_ == Mode::kGzip; }
  uint64_t consumed() const { return consumed_; }  // bytes read from the fd so far

 private:
  enum class Mode { kUnknown, kPlain, kGzip };
  Result<size_t> Fill();  // more raw bytes into in_; 0 at the end of the fd
  Status StartMember();

  int fd_;
  Mode mode_ = Mode::kUnknown;
  z_stream z_{};
  bool z_open_ = false;
  bool member_done_ = false;
  std::unique_ptr<unsigned char[]> in_;
  size_t in_pos_ = 0, in_len_ = 0;
  uint64_t consumed_ = 0;
};

}  // namespace strata
