#include "passthrough.h"

#include <linux/fuse.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <utility>

namespace strata::fuse {

namespace {

// From the kernel's include/uapi/linux/fuse.h (protocol 7.40), newer than
// Debian 12's headers.
struct BackingMap {  // struct fuse_backing_map
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
constexpr unsigned long kBackingOpen = _IOW(229, 1, BackingMap);  // FUSE_DEV_IOC_BACKING_OPEN
constexpr unsigned long kBackingClose = _IOW(229, 2, uint32_t);   // FUSE_DEV_IOC_BACKING_CLOSE

thread_local int32_t reply_backing = 0;
}  // namespace

void Passthrough::SetReplyBacking(int32_t id) {
  reply_backing = id;
}

int32_t Passthrough::TakeReplyBacking() {
  return std::exchange(reply_backing, 0);
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
