// FUSE over io_uring (Linux 6.14+, protocol 7.42): the daemon registers
// request buffers with the kernel, per CPU queue, and each request arrives in
// one of them; the reply goes back in the same buffer with the command that
// fetches the next request. No read or write on /dev/fuse per request, and a
// request made on one CPU is served by a thread pinned to that CPU, so the
// round trip wakes no other CPU. The kernel keeps FORGET and INTERRUPT on
// /dev/fuse: the classic loop (session_loop.h) runs beside the rings.
//
// libfuse 3.14 predates this: a request is handed to libfuse as if read from
// /dev/fuse, and libfuse's reply, routed here by DeviceIo, is copied into the
// buffer of the request this thread serves.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <sys/uio.h>

#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "session_loop.h"

namespace strata::fuse {

class UringChannel {
 public:
  // True when the fuse module lets daemons use io_uring
  // (/sys/module/fuse/parameters/enable_uring; off by default, root sets it).
  static bool KernelAllows();

  explicit UringChannel(fuse_session* se);
  ~UringChannel();  // Stop()
  UringChannel(const UringChannel&) = delete;
  UringChannel& operator=(const UringChannel&) = delete;

  // Before Start: `inspect` sees each request that comes on a ring, as the
  // session loop's inspector sees those read from /dev/fuse.
  void SetInspector(RequestInspector inspect) { inspect_ = std::move(inspect); }
  // After the INIT reply: starts the ring threads, each registering one
  // entry with `payload_size` bytes of payload (the kernel's largest
  // request or reply). The kernel switches to the rings once every CPU
  // queue has an entry; until then (and if a registration fails) requests
  // keep coming on /dev/fuse.
  void Start(size_t payload_size);
  // Called with every reply libfuse sends: takes it (true, *written set) if
  // it answers the request this thread is serving from a ring.
  static bool TakeReply(const iovec* iov, int count, ssize_t* written);
  // Ends the ring threads (after the session loop ended) and waits for them.
  void Stop();

 private:
  void Serve(unsigned qid, size_t payload_size);  // one ring thread, for CPU queue `qid`
  fuse_session* se_;
  RequestInspector inspect_;
  int stop_fd_ = -1;  // an eventfd every ring thread reads: written to stop them
  std::mutex mu_;
  std::vector<std::thread> threads_;  // guarded by mu_
};

}  // namespace strata::fuse
