// The daemon's request loop: workers that receive requests from the kernel
// and hand them to libfuse, started as they are needed, until the session
// ends. One worker reads at a time and serves lookups, attributes, xattrs and
// listings itself (see session_loop.cc: the reader token), so metadata walks
// stay on one warm thread; requests that may wait on the disk move the reading
// on to another worker first.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <functional>

namespace strata::fuse {

// libfuse 3.14's own loop (fuse_session_loop_mt) would do, but libfuse 3.14
// predates FUSE_TMPFILE and answers it ENOSYS, which makes open(O_TMPFILE)
// fail. This loop hands such a request to libfuse as FUSE_CREATE: the kernel
// names an O_TMPFILE request "/", which no real create can carry, and the
// create handler makes an unnamed file for it.
//
// SIGINT, SIGTERM and SIGHUP end the loop, as libfuse's handlers would. The
// workers are stopped without pthread_cancel: SIGUSR1 (a handler that does
// nothing, installed without SA_RESTART) interrupts a worker's wait for a
// request, and only that wait. Returns 0 when the session ended cleanly.
//
// `inspect`, when given, sees each request before libfuse does, on the thread
// that serves it.
using RequestInspector = std::function<void(const fuse_buf&)>;
int RunSessionLoop(fuse_session* se, int max_threads, RequestInspector inspect = nullptr);

// Hands one request to libfuse as the loop does: `inspect` first, then the
// O_TMPFILE rewrite. For every way requests arrive (see uring_channel.h).
void ServeRequest(fuse_session* se, fuse_buf& buf, const RequestInspector& inspect);

}  // namespace strata::fuse
