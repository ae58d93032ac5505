#include "device_io.h"

#include <fcntl.h>
#include <linux/fuse.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include "passthrough.h"
#include "uring_channel.h"

namespace strata::fuse {

namespace {

// From the kernel's include/uapi/linux/fuse.h, newer than Debian 12's
// headers. INIT's flags2 holds flag bits 32 and up.
constexpr uint32_t kInitExt = 1u << 30;          // FUSE_INIT_EXT
constexpr uint32_t kPassthroughFlag2 = 1u << 5;  // FUSE_PASSTHROUGH (1ULL << 37), 7.40
constexpr uint32_t kUringFlag2 = 1u << 9;        // FUSE_OVER_IO_URING (1ULL << 41), 7.42
constexpr uint32_t kMaxPagesFlag = 1u << 22;     // FUSE_MAX_PAGES
// Offsets in fuse_init_in (after fuse_in_header) and fuse_init_out.
constexpr size_t kInitInFlags = 12, kInitInFlags2 = 16, kInitInMinSize = 20;
constexpr size_t kInitOutFlags = 12, kInitOutMaxWrite = 20, kInitOutMaxPages = 28, kInitOutFlags2 = 32,
                 kInitOutMaxStackDepth = 36, kInitOutMinSize = 40;
constexpr uint32_t kOpenPassthrough = 1u << 7;  // FOPEN_PASSTHROUGH
// Backing files may sit on a stacking file system themselves (overlayfs):
// the FUSE mount then stacks one above them. 2 is the kernel's limit.
constexpr uint32_t kMaxStackDepth = 2;
constexpr size_t kMinReadBuffer = 8192;  // FUSE_MIN_READ_BUFFER

DeviceIo* installed = nullptr;
thread_local bool kill_suidgid_asked = false;

template <typename T>
T Load(const void* base, size_t off) {
  T v;
  std::memcpy(&v, static_cast<const char*>(base) + off, sizeof v);
  return v;
}
template <typename T>
void Store(void* base, size_t off, T v) {
  std::memcpy(static_cast<char*>(base) + off, &v, sizeof v);
}

}  // namespace

bool DeviceIo::Install(fuse_session* se) {
  fuse_custom_io io{};
  io.writev = Writev;
  io.read = [](int fd, void* buf, size_t len, void*) { return ::read(fd, buf, len); };
  io.splice_receive = [](int in, off_t* in_off, int out, off_t* out_off, size_t len, unsigned flags, void*) {
    return ::splice(in, in_off, out, out_off, len, flags);
  };
  // A reply spliced into /dev/fuse could not go back on a ring: with
  // io_uring, libfuse copies read data into the reply instead.
  if (!uring_) io.splice_send = io.splice_receive;
  dev_fd_ = fuse_session_fd(se);
  if (passthrough_) passthrough_->UseDevice(dev_fd_);
  installed = this;
  return fuse_session_custom_io(se, &io, dev_fd_) == 0;
}

void DeviceIo::NoteRequest(const fuse_buf& buf) {
  kill_suidgid_asked = false;
  if (buf.flags & FUSE_BUF_IS_FD || buf.size < sizeof(fuse_in_header)) return;
  const auto* header = static_cast<const fuse_in_header*>(buf.mem);
  const char* in = static_cast<const char*>(buf.mem) + sizeof(fuse_in_header);
  const size_t in_size = buf.size - sizeof(fuse_in_header);
  if (header->opcode == FUSE_WRITE && in_size >= sizeof(fuse_write_in)) {
    kill_suidgid_asked = Load<uint32_t>(in, offsetof(fuse_write_in, write_flags)) & FUSE_WRITE_KILL_SUIDGID;
    return;
  }
  if (header->opcode == FUSE_SETATTR && in_size >= sizeof(fuse_setattr_in)) {
    kill_suidgid_asked = Load<uint32_t>(in, offsetof(fuse_setattr_in, valid)) & FATTR_KILL_SUIDGID;
    return;
  }
  if (header->opcode != FUSE_INIT || in_size < kInitInMinSize) return;
  const uint32_t flags = Load<uint32_t>(in, kInitInFlags), flags2 = Load<uint32_t>(in, kInitInFlags2);
  const bool ext = flags & kInitExt;
  passthrough_offered_ = passthrough_ && ext && (flags2 & kPassthroughFlag2);
  uring_offered_ = uring_ && ext && (flags2 & kUringFlag2);
  killpriv_offered_ = !passthrough_ && (flags & FUSE_HANDLE_KILLPRIV_V2);
  init_unique_ = header->unique;
  // Seen in the foreground only: a daemon's stderr is gone.
  if (passthrough_ && !passthrough_offered_) {
    std::fprintf(stderr,
                 "strata-fuse: warning: this kernel offers no FUSE passthrough (Linux 6.9+); "
                 "serving reads itself\n");
  }
  if (uring_ && !uring_offered_) {
    std::fprintf(stderr,
                 "strata-fuse: warning: this kernel offers no FUSE over io_uring (Linux 6.14+ with "
                 "/sys/module/fuse/parameters/enable_uring set); reading /dev/fuse\n");
  }
}

bool DeviceIo::KillSuidgidAsked() {
  return kill_suidgid_asked;
}

void DeviceIo::PatchInitReply(void* out) {
  if (killpriv_offered_)
    Store(out, kInitOutFlags, Load<uint32_t>(out, kInitOutFlags) | FUSE_HANDLE_KILLPRIV_V2);
  if (!passthrough_offered_ && !uring_offered_) return;
  uint32_t flags2 = Load<uint32_t>(out, kInitOutFlags2);
  if (passthrough_offered_) {
    flags2 |= kPassthroughFlag2;
    Store(out, kInitOutMaxStackDepth, kMaxStackDepth);
    passthrough_->Enable();
  }
  if (uring_offered_) flags2 |= kUringFlag2;
  Store(out, kInitOutFlags, Load<uint32_t>(out, kInitOutFlags) | kInitExt);
  Store(out, kInitOutFlags2, flags2);
}

size_t DeviceIo::RingPayloadSize(const void* out) {
  const uint32_t flags = Load<uint32_t>(out, kInitOutFlags);
  const size_t max_pages = (flags & kMaxPagesFlag) ? Load<uint16_t>(out, kInitOutMaxPages) : 32;
  return std::max({kMinReadBuffer, size_t{Load<uint32_t>(out, kInitOutMaxWrite)},
                   max_pages * static_cast<size_t>(::getpagesize())});
}

ssize_t DeviceIo::Writev(int fd, struct iovec* iov, int count, void*) {
  DeviceIo* self = installed;
  const auto* out = static_cast<const fuse_out_header*>(iov[0].iov_base);
  const int32_t backing = Passthrough::TakeReplyBacking();
  size_t uring_payload = 0;
  if (out->error == 0 && count >= 2) {
    iovec& arg = iov[count - 1];
    if (out->unique != 0 && out->unique == self->init_unique_ && arg.iov_len >= kInitOutMinSize) {
      self->PatchInitReply(arg.iov_base);
      if (self->uring_offered_) uring_payload = RingPayloadSize(arg.iov_base);
    } else if (backing > 0 && arg.iov_len >= sizeof(fuse_open_out)) {
      // fuse_open_out ends the reply (after fuse_entry_out for a create):
      // open_flags, then the backing id where older headers have padding.
      const size_t flags_at = arg.iov_len - 8;
      Store(arg.iov_base, flags_at, Load<uint32_t>(arg.iov_base, flags_at) | kOpenPassthrough);
      Store(arg.iov_base, arg.iov_len - 4, backing);
    }
  }
  ssize_t written;
  if (UringChannel::TakeReply(iov, count, &written)) return written;
  written = ::writev(fd, iov, count);
  // The rings can be registered once the kernel has taken the INIT reply.
  if (uring_payload > 0 && written >= 0) self->uring_->Start(uring_payload);
  return written;
}

}  // namespace strata::fuse
