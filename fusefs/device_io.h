// The daemon's side of /dev/fuse beyond what libfuse 3.14 (Debian 12, FUSE
// 7.38) speaks. libfuse reads every request and writes every reply itself;
// through its custom I/O hook every reply passes here first, which is enough
// for two newer parts of the protocol:
//  - passthrough (7.40): the INIT reply grants it and an open reply names a
//    backing file (passthrough.h);
//  - FUSE over io_uring (7.42): the INIT reply asks for it, and a reply to a
//    request that came on a ring goes back on that ring (uring_channel.h).
// And for one part libfuse 3.14 half speaks: HANDLE_KILLPRIV_V2 (7.33), the
// daemon clearing set-id bits on write and truncate. Without it the kernel
// asks for security.capability before every write() and refreshes the
// attributes before every chown, two round trips that mostly find nothing;
// libfuse drops the requests' kill flags, so NoteRequest keeps them.
// One per process.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <stdint.h>
#include <sys/uio.h>

#include <atomic>

namespace strata::fuse {

class Passthrough;
class UringChannel;

class DeviceIo {
 public:
  // Either may be null: that part of the protocol is not asked for. With
  // passthrough, writes bypass the daemon: the kernel keeps killing set-id
  // bits itself, so HANDLE_KILLPRIV_V2 is not asked for either.
  DeviceIo(Passthrough* passthrough, UringChannel* uring) : passthrough_(passthrough), uring_(uring) {}
  // Routes the session's replies through here. Call after the mount, before
  // the first request.
  bool Install(fuse_session* se);
  // Sees each request before libfuse serves it, on the thread that serves
  // it: INIT says what the kernel offers; a write or setattr may ask for
  // set-id bits to be cleared.
  void NoteRequest(const fuse_buf& buf);
  // Whether the request this thread serves asked to clear set-id bits
  // (FUSE_WRITE_KILL_SUIDGID, FATTR_KILL_SUIDGID: the caller lacks
  // CAP_FSETID), as NoteRequest saw it.
  static bool KillSuidgidAsked();

 private:
  static ssize_t Writev(int fd, struct iovec* iov, int count, void* userdata);
  // Adds what was asked for and is offered to the INIT reply (fuse_init_out).
  void PatchInitReply(void* out);
  // The size of the kernel's io_uring payloads, its largest request or reply,
  // by the INIT reply.
  static size_t RingPayloadSize(const void* out);
  Passthrough* passthrough_;
  UringChannel* uring_;
  int dev_fd_ = -1;
  // Set while INIT is served.
  std::atomic<bool> passthrough_offered_ = false, uring_offered_ = false, killpriv_offered_ = false;
  std::atomic<uint64_t> init_unique_ = 0;
};

}  // namespace strata::fuse
