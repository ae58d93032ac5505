// FUSE passthrough (Linux 6.9 and later): the kernel reads, writes and maps an
// open file through a backing file the daemon names at open, with no request
// to the daemon at all. libfuse 3.14 (Debian 12) predates it: DeviceIo
// (device_io.h) grants it in the INIT reply and adds the backing file this
// class hands out to an open reply.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <stdint.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>

namespace strata::fuse {

class Passthrough {
 public:
  // The session's /dev/fuse, on which backing files are registered.
  void UseDevice(int dev_fd) { dev_fd_ = dev_fd; }
  // Called as the INIT reply grants passthrough.
  void Enable() { enabled_ = true; }
  // True once the kernel has agreed (after INIT).
  bool enabled() const { return enabled_; }

  // How a node's next open is to be served. The kernel serves all opens of
  // one inode the same way, and passes all its passthrough opens to one
  // backing file: an open that cannot match what is open already (a file
  // copied up while open below) is refused.
  struct Grant {
    bool passthrough = false;
    int32_t backing_id = 0;
  };
  // Registers `fd` (node's data: `dev`/`ino` on the host) for an open of
  // `node`. Returns false when the open conflicts with the node's open files
  // (after waiting a moment for releases on their way).
  bool Acquire(uint64_t node, int fd, Grant* grant);
  // Registers an open that is not passed through (no backing file).
  bool AcquireCached(uint64_t node);
  // At release: forgets one open of `node` (the last one lets its backing file go).
  void Release(uint64_t node);

  // The next open or create reply this thread sends names `id` as its
  // backing file.
  static void SetReplyBacking(int32_t id);
  // The reply being sent takes that id (0: none), once.
  static int32_t TakeReplyBacking();

 private:
  struct NodeOpens {
    bool passthrough = false;
    int32_t backing_id = 0;
    dev_t dev = 0;
    ino_t ino = 0;
    uint64_t count = 0;
  };
  int dev_fd_ = -1;
  std::atomic<bool> enabled_ = false;
  // Waits (a moment at most) until `conflicts` no longer holds for node's
  // open files; false if it still does.
  bool WaitForReleases(std::unique_lock<std::mutex>& lock, uint64_t node,
                       const std::function<bool(const NodeOpens&)>& conflicts);
  std::mutex mu_;
  std::condition_variable released_;     // a node's last open file was released
  std::map<uint64_t, NodeOpens> opens_;  // guarded by mu_
};

}  // namespace strata::fuse
