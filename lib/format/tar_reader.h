// TarReader: entries and their data from a tar stream (plain, gzip, zstd, xz
// or bzip2), with every header checked by the HeaderGuard before it is used.
//
// A gzip stream is gunzipped by zlib first (format/gzip_source.h: libarchive
// does not check gzip's CRC). Two libarchive readers are chained: the first only decompresses, the second
// parses tar from the first's output. Sitting between them lets us keep the
// last few MiB of raw tar bytes, which is where the current header lives.
#pragma once

#include <memory>
#include <string>

#include "strata/entry.h"
#include "strata/status.h"

struct archive;

namespace strata {

class TarReader {
 public:
  // Reads from `fd`, which must stay open while the reader lives.
  static Result<std::unique_ptr<TarReader>> Open(int fd);
  ~TarReader();
  TarReader(const TarReader&) = delete;
  TarReader& operator=(const TarReader&) = delete;

  // Fills `e` from the next header, `e->path` holding the name as the tar has
  // it. Returns false at the end of the archive.
  Result<bool> Next(Entry* e);
  // The current entry's data, block by block, with offsets (gaps are holes).
  Status ReadBlock(const void** data, size_t* len, int64_t* offset, bool* done);
  // Bytes read from the fd so far (compressed, as the file holds them).
  uint64_t bytes_read() const;

 private:
  TarReader() = default;
  static long SourceCallback(struct archive*, void* self, const void** buf);  // feeds raw_
  static long ReadCallback(struct archive*, void* self, const void** buf);    // feeds tar_
  Status Error(struct archive* a, const std::string& what) const;
  Status DrainCompressed();

  std::unique_ptr<class GzipSource> source_;
  std::unique_ptr<char[]> source_buf_;
  struct archive* raw_ = nullptr;  // decompresses
  struct archive* tar_ = nullptr;  // parses
  std::string window_;             // recent decompressed bytes
  uint64_t window_start_ = 0;      // stream offset of window_[0]
  std::unique_ptr<char[]> chunk_;
};

}  // namespace strata
