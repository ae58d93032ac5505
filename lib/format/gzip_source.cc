#include "format/gzip_source.h"

#include <errno.h>
#include <unistd.h>

#include <cstring>

#include "util/status_macros.h"

namespace strata {

namespace {
constexpr size_t kInput = 256 * 1024;
}  // namespace

GzipSource::GzipSource(int fd) : fd_(fd), in_(std::make_unique<unsigned char[]>(kInput)) {}

GzipSource::~GzipSource() {
  if (z_open_) inflateEnd(&z_);
}

Result<size_t> GzipSource::Fill() {
  if (in_pos_ > 0 && in_pos_ < in_len_) std::memmove(in_.get(), in_.get() + in_pos_, in_len_ - in_pos_);
  in_len_ -= in_pos_;
  in_pos_ = 0;
  for (;;) {
    ssize_t n = ::read(fd_, in_.get() + in_len_, kInput - in_len_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IOError(std::string("read: ") + std::strerror(errno));
    in_len_ += static_cast<size_t>(n);
    consumed_ += static_cast<uint64_t>(n);
    return static_cast<size_t>(n);
  }
}

Status GzipSource::StartMember() {
  if (z_open_) {
    if (inflateReset(&z_) != Z_OK) return Status::IOError("gzip: cannot reset the decompressor");
  } else {
    // 15 + 32: a gzip header, checked, and the trailer's CRC-32 and length too.
    if (inflateInit2(&z_, 15 + 32) != Z_OK) return Status::IOError("gzip: cannot start the decompressor");
    z_open_ = true;
  }
  member_done_ = false;
  return Status::OK();
}

Result<size_t> GzipSource::Read(char* out, size_t cap) {
  if (mode_ == Mode::kUnknown) {
    while (in_len_ < 2) {
      ASSIGN_OR_RETURN(size_t n, Fill());
      if (n == 0) break;
    }
    mode_ = in_len_ >= 2 && in_[0] == 0x1f && in_[1] == 0x8b ? Mode::kGzip : Mode::kPlain;
    if (mode_ == Mode::kGzip) RETURN_IF_ERROR(StartMember());
  }
  if (mode_ == Mode::kPlain) {
    if (in_pos_ == in_len_) {  // the bytes peeked at are handed on: read straight into `out`
      for (;;) {
        ssize_t n = ::read(fd_, out, cap);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Status::IOError(std::string("read: ") + std::strerror(errno));
        consumed_ += static_cast<uint64_t>(n);
        return static_cast<size_t>(n);
      }
    }
    size_t n = std::min(cap, in_len_ - in_pos_);
    std::memcpy(out, in_.get() + in_pos_, n);
    in_pos_ += n;
    return n;
  }
  for (;;) {
    if (member_done_) {
      // Another member follows, or zeros (padding some writers add), or the end.
      if (in_pos_ == in_len_) {
        ASSIGN_OR_RETURN(size_t n, Fill());
        if (n == 0) return size_t{0};
      }
      if (in_[in_pos_] == 0) {
        while (in_pos_ < in_len_ && in_[in_pos_] == 0) ++in_pos_;
        continue;
      }
      RETURN_IF_ERROR(StartMember());
    }
    if (in_pos_ == in_len_) {
      ASSIGN_OR_RETURN(size_t n, Fill());
      if (n == 0) return Status::InvalidArgument("gzip: the stream is truncated");
    }
    z_.next_in = in_.get() + in_pos_;
    z_.avail_in = static_cast<uInt>(in_len_ - in_pos_);
    z_.next_out = reinterpret_cast<Bytef*>(out);
    z_.avail_out = static_cast<uInt>(cap);
    int rc = inflate(&z_, Z_NO_FLUSH);
    in_pos_ = in_len_ - z_.avail_in;
    size_t produced = cap - z_.avail_out;
    if (rc == Z_STREAM_END) {
      member_done_ = true;
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return Status::InvalidArgument(std::string("gzip: ") + (z_.msg ? z_.msg : "damaged stream"));
    }
    if (produced > 0) return produced;
  }
}

}  // namespace strata
