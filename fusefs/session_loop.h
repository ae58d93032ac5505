// The daemon's request loop: `threads` workers, each receiving a request
// from the kernel and handing it to libfuse, until the session ends.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

namespace strata::fuse {

// libfuse 3.14's own loop (fuse_session_loop_mt) would do, but libfuse 3.14
// predates FUSE_TMPFILE and answers it ENOSYS, which makes O_TMPFILE fail.
// This loop hands such a request to libfuse as FUSE_CREATE: the kernel names
// an O_TMPFILE request "/", which no real create can carry, and the create
// handler makes an unnamed file for it. Returns 0 on a clean unmount.
int RunSessionLoop(fuse_session* se, int threads);

}  // namespace strata::fuse
