#include "format/tar_reader.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cerrno>
#include <limits>

#include "format/gzip_source.h"
#include "format/header_guard.h"
#include "util/status_macros.h"

namespace strata {

namespace {
constexpr size_t kChunk = 128 * 1024;
constexpr size_t kWindowKeep = 4 * kMaxExtensionHeader;  // > any header region we accept
}  // namespace

uint64_t TarReader::bytes_read() const {
  return source_ ? source_->consumed() : 0;
}

TarReader::~TarReader() {
  if (tar_) archive_read_free(tar_);
  if (raw_) archive_read_free(raw_);
}

Status TarReader::Error(struct archive* a, const std::string& what) const {
  const char* msg = archive_error_string(a);
  return Status::InvalidArgument(what + ": " + (msg ? msg : "unknown libarchive error"));
}

long TarReader::SourceCallback(struct archive*, void* opaque, const void** buf) {
  auto* self = static_cast<TarReader*>(opaque);
  Result<size_t> n = self->source_->Read(self->source_buf_.get(), kChunk);
  if (!n.ok()) {
    archive_set_error(self->raw_, EINVAL, "%s", n.status().message().c_str());
    return -1;
  }
  *buf = self->source_buf_.get();
  return static_cast<long>(*n);
}

long TarReader::ReadCallback(struct archive*, void* opaque, const void** buf) {
  auto* self = static_cast<TarReader*>(opaque);
  la_ssize_t n = archive_read_data(self->raw_, self->chunk_.get(), kChunk);
  if (n < 0) {
    archive_set_error(self->tar_, EIO, "%s", archive_error_string(self->raw_));
    return -1;
  }
  self->window_.append(self->chunk_.get(), static_cast<size_t>(n));
  if (self->window_.size() > 2 * kWindowKeep) {
    size_t drop = self->window_.size() - kWindowKeep;
    self->window_.erase(0, drop);
    self->window_start_ += drop;
  }
  *buf = self->chunk_.get();
  return n;
}

Result<std::unique_ptr<TarReader>> TarReader::Open(int fd) {
  std::unique_ptr<TarReader> r(new TarReader());
  r->chunk_ = std::make_unique<char[]>(kChunk);
  r->raw_ = archive_read_new();
  r->tar_ = archive_read_new();
  if (!r->raw_ || !r->tar_) return Status::IOError("libarchive: out of memory");
  // Only in-process decompressors: never an external program. gzip is read
  // through zlib before (GzipSource), which checks what libarchive does not.
  archive_read_support_filter_zstd(r->raw_);
  archive_read_support_filter_xz(r->raw_);
  archive_read_support_filter_bzip2(r->raw_);
  archive_read_support_format_raw(r->raw_);
  archive_read_support_format_empty(r->raw_);
  r->source_ = std::make_unique<GzipSource>(fd);
  r->source_buf_ = std::make_unique<char[]>(kChunk);
  if (archive_read_open(r->raw_, r.get(), nullptr, &TarReader::SourceCallback, nullptr) != ARCHIVE_OK)
    return r->Error(r->raw_, "reading input");
  struct archive_entry* raw_entry;
  int rc = archive_read_next_header(r->raw_, &raw_entry);
  if (rc == ARCHIVE_EOF) return Status::InvalidArgument("input is empty, not a tar archive");
  if (rc < ARCHIVE_WARN) return r->Error(r->raw_, "reading input");

  archive_read_support_format_tar(r->tar_);
  if (archive_read_open(r->tar_, r.get(), nullptr, &TarReader::ReadCallback, nullptr) != ARCHIVE_OK) {
    return r->Error(r->tar_, "not a tar archive");
  }
  return r;
}

// The tar ends before its compressed stream does (end-of-archive blocks,
// padding, the gzip trailer with its CRC and length): reading the stream to
// its end is what makes the decompressor check it.
Status TarReader::DrainCompressed() {
  for (;;) {
    la_ssize_t n = archive_read_data(raw_, chunk_.get(), kChunk);
    if (n == 0) return Status::OK();
    if (n < 0) return Error(raw_, "the compressed stream is damaged");
  }
}

Result<bool> TarReader::Next(Entry* e) {
  struct archive_entry* ae;
  int rc = archive_read_next_header(tar_, &ae);
  if (rc == ARCHIVE_EOF) {
    RETURN_IF_ERROR(DrainCompressed());
    return false;
  }
  if (rc < ARCHIVE_WARN) return Error(tar_, "reading tar");

  int64_t header_pos = archive_read_header_position(tar_);
  if (header_pos < static_cast<int64_t>(window_start_)) {
    return Status::InvalidArgument("tar header region is larger than allowed");
  }
  RETURN_IF_ERROR(CheckHeaderRegion(std::string_view(window_).substr(header_pos - window_start_)));

  *e = Entry{};
  const char* name = archive_entry_pathname(ae);
  if (!name) name = archive_entry_pathname_utf8(ae);
  if (!name || !*name) return Status::InvalidArgument("tar entry has no name");
  e->path = name;

  la_int64_t uid = archive_entry_uid(ae), gid = archive_entry_gid(ae);
  constexpr la_int64_t kMaxId = std::numeric_limits<uint32_t>::max();
  if (uid < 0 || uid > kMaxId || gid < 0 || gid > kMaxId) {
    return Status::InvalidArgument("tar entry '" + e->path + "' has an out-of-range uid or gid");
  }
  e->uid = static_cast<uint32_t>(uid);
  e->gid = static_cast<uint32_t>(gid);
  e->mode = archive_entry_perm(ae) & 07777;
  e->mtime_sec = archive_entry_mtime(ae);
  long nsec = archive_entry_mtime_nsec(ae);
  e->mtime_nsec = nsec >= 0 && nsec < 1'000'000'000 ? static_cast<uint32_t>(nsec) : 0;

  if (const char* hardlink = archive_entry_hardlink(ae)) {
    e->type = EntryType::kHardlink;
    e->link_target = hardlink;
    return true;
  }
  switch (archive_entry_filetype(ae)) {
    case AE_IFREG: {
      e->type = EntryType::kRegular;
      la_int64_t size = archive_entry_size(ae);
      if (size < 0) return Status::InvalidArgument("tar entry '" + e->path + "' has a negative size");
      e->size = static_cast<uint64_t>(size);
      break;
    }
    case AE_IFDIR: e->type = EntryType::kDirectory; break;
    case AE_IFLNK:
      e->type = EntryType::kSymlink;
      if (const char* target = archive_entry_symlink(ae)) e->link_target = target;
      break;
    case AE_IFCHR: e->type = EntryType::kCharDevice; break;
    case AE_IFBLK: e->type = EntryType::kBlockDevice; break;
    case AE_IFIFO: e->type = EntryType::kFifo; break;
    case AE_IFSOCK: e->type = EntryType::kSocket; break;
    default: return Status::InvalidArgument("tar entry '" + e->path + "' has an unknown type");
  }
  if (e->type == EntryType::kCharDevice || e->type == EntryType::kBlockDevice) {
    e->dev_major = static_cast<uint32_t>(archive_entry_rdevmajor(ae));
    e->dev_minor = static_cast<uint32_t>(archive_entry_rdevminor(ae));
  }
  archive_entry_xattr_reset(ae);
  const char* xname;
  const void* xvalue;
  size_t xsize;
  while (archive_entry_xattr_next(ae, &xname, &xvalue, &xsize) == ARCHIVE_OK) {
    e->xattrs.push_back({xname, std::string(static_cast<const char*>(xvalue), xsize)});
  }
  // pax tars often carry each xattr twice (SCHILY.xattr and LIBARCHIVE.xattr).
  std::stable_sort(e->xattrs.begin(), e->xattrs.end(),
                   [](const Xattr& a, const Xattr& b) { return a.name < b.name; });
  auto same_name = [](const Xattr& a, const Xattr& b) { return a.name == b.name; };
  e->xattrs.erase(std::unique(e->xattrs.begin(), e->xattrs.end(), same_name), e->xattrs.end());
  return true;
}

Status TarReader::ReadBlock(const void** data, size_t* len, int64_t* offset, bool* done) {
  la_int64_t off = 0;
  int rc = archive_read_data_block(tar_, data, len, &off);
  *done = rc == ARCHIVE_EOF;
  if (*done) {
    *len = 0;
    return Status::OK();
  }
  if (rc < ARCHIVE_WARN) return Error(tar_, "reading tar");
  *offset = off;
  return Status::OK();
}

}  // namespace strata
