#include "passthrough.h"

#include <linux/fuse.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>

namespace strata::fuse {

namespace {

// From the kernel's include/uapi/linux/fuse.h (protocol 7.40), newer than
// Debian 12's headers. INIT's flags2 holds flag bits 32 and up.
constexpr uint32_t kInitExt = 1u << 30;          // FUSE_INIT_EXT
constexpr uint32_t kPassthroughFlag2 = 1u << 5;  // FUSE_PASSTHROUGH (1ULL << 37)
constexpr uint32_t kOpenPassthrough = 1u << 7;   // FOPEN_PASSTHROUGH
constexpr size_t kInitOutFlags = 12, kInitOutFlags2 = 32, kInitOutMaxStackDepth = 36;
constexpr size_t kInitOutMinSize = 40;
struct BackingMap {  // struct fuse_backing_map
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
constexpr unsigned long kBackingOpen = _IOW(229, 1, BackingMap);  // FUSE_DEV_IOC_BACKING_OPEN
constexpr unsigned long kBackingClose = _IOW(229, 2, uint32_t);   // FUSE_DEV_IOC_BACKING_CLOSE

// Backing files may sit on a stacking file system themselves (overlayfs):
// the FUSE mount then stacks one above them. 2 is the kernel's limit.
constexpr uint32_t kMaxStackDepth = 2;

thread_local int32_t reply_backing = 0;
Passthrough* installed = nullptr;

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

bool Passthrough::Install(fuse_session* se) {
  fuse_custom_io io{};
  io.writev = Writev;
  io.read = [](int fd, void* buf, size_t len, void*) { return ::read(fd, buf, len); };
  io.splice_receive = [](int in, off_t* in_off, int out, off_t* out_off, size_t len, unsigned flags, void*) {
    return ::splice(in, in_off, out, out_off, len, flags);
  };
  io.splice_send = io.splice_receive;
  dev_fd_ = fuse_session_fd(se);
  installed = this;
  return fuse_session_custom_io(se, &io, dev_fd_) == 0;
}

void Passthrough::NoteRequest(const fuse_buf& buf) {
  if (buf.flags & FUSE_BUF_IS_FD || buf.size < sizeof(fuse_in_header) + 20) return;
  const auto* header = static_cast<const fuse_in_header*>(buf.mem);
  if (header->opcode != FUSE_INIT) return;
  const char* in = static_cast<const char*>(buf.mem) + sizeof(fuse_in_header);
  const uint32_t flags = Load<uint32_t>(in, 12), flags2 = Load<uint32_t>(in, 16);
  offered_ = (flags & kInitExt) && (flags2 & kPassthroughFlag2);
  init_unique_ = header->unique;
  if (!offered_) {  // seen in the foreground only: a daemon's stderr is gone
    std::fprintf(stderr,
                 "strata-fuse: warning: this kernel offers no FUSE passthrough (Linux 6.9+); "
                 "serving reads itself\n");
  }
}

void Passthrough::SetReplyBacking(int32_t id) {
  reply_backing = id;
}

ssize_t Passthrough::Writev(int fd, struct iovec* iov, int count, void*) {
  Passthrough* self = installed;
  const auto* out = static_cast<const fuse_out_header*>(iov[0].iov_base);
  const int32_t backing = reply_backing;
  reply_backing = 0;
  if (out->error == 0 && count >= 2) {
    iovec& arg = iov[count - 1];
    if (self->offered_ && out->unique == self->init_unique_ && arg.iov_len >= kInitOutMinSize) {
      Store(arg.iov_base, kInitOutFlags, Load<uint32_t>(arg.iov_base, kInitOutFlags) | kInitExt);
      Store(arg.iov_base, kInitOutFlags2, Load<uint32_t>(arg.iov_base, kInitOutFlags2) | kPassthroughFlag2);
      Store(arg.iov_base, kInitOutMaxStackDepth, kMaxStackDepth);
      self->enabled_ = true;
    } else if (backing > 0 && arg.iov_len >= sizeof(fuse_open_out)) {
      // fuse_open_out ends the reply (after fuse_entry_out for a create):
      // open_flags, then the backing id where older headers have padding.
      const size_t flags_at = arg.iov_len - 8;
      Store(arg.iov_base, flags_at, Load<uint32_t>(arg.iov_base, flags_at) | kOpenPassthrough);
      Store(arg.iov_base, arg.iov_len - 4, backing);
    }
  }
  return ::writev(fd, iov, count);
}

bool Passthrough::Acquire(uint64_t node, int fd, Grant* grant) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return AcquireCached(node);
  std::unique_lock lock(mu_);
  // Open on another backing file: the kernel would refuse this open.
  if (!WaitForReleases(lock, node, [&](const NodeOpens& o) {
        return o.passthrough && (o.dev != st.st_dev || o.ino != st.st_ino);
      })) {
    return false;
  }
  NodeOpens& o = opens_[node];
  if (o.count == 0) {
    BackingMap map{fd, 0, 0};
    int id = ::ioctl(dev_fd_, kBackingOpen, &map);
    o = id > 0 ? NodeOpens{true, id, st.st_dev, st.st_ino, 0} : NodeOpens{};
  }
  ++o.count;
  *grant = Grant{o.passthrough, o.backing_id};
  return true;
}

bool Passthrough::AcquireCached(uint64_t node) {
  std::unique_lock lock(mu_);
  if (!WaitForReleases(lock, node, [](const NodeOpens& o) { return o.passthrough; })) return false;
  ++opens_[node].count;
  return true;
}

bool Passthrough::WaitForReleases(std::unique_lock<std::mutex>& lock, uint64_t node,
                                  const std::function<bool(const NodeOpens&)>& conflicts) {
  // The kernel sends a closed file's release without waiting for it: a
  // program that closes a file and at once opens it another way would find
  // its own closed descriptor in the way. A real conflict waits this long.
  constexpr auto kReleaseWait = std::chrono::milliseconds(500);
  return released_.wait_for(lock, kReleaseWait, [&] {
    auto it = opens_.find(node);
    return it == opens_.end() || it->second.count == 0 || !conflicts(it->second);
  });
}

void Passthrough::Release(uint64_t node) {
  std::lock_guard lock(mu_);
  auto it = opens_.find(node);
  if (it == opens_.end() || it->second.count == 0) return;
  if (--it->second.count > 0) return;
  if (it->second.passthrough) {
    uint32_t id = static_cast<uint32_t>(it->second.backing_id);
    ::ioctl(dev_fd_, kBackingClose, &id);
  }
  opens_.erase(it);
  released_.notify_all();
}

}  // namespace strata::fuse
