// The daemon's state and its table of FUSE operations.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <memory>

#include "options.h"
#include "passthrough.h"
#include "strata/strata.h"

namespace strata::fuse {

struct Daemon {
  std::unique_ptr<Store> store;  // only with --image
  std::unique_ptr<OverlayFs> fs;
  IdPolicy ids;
  // With -o passthrough: files are opened, and passed through to their
  // backing files when the kernel can (see passthrough.h).
  std::unique_ptr<Passthrough> passthrough;
  // How long the kernel may cache entries and attributes. Every change to the
  // union goes through this mount, so the kernel always knows: forever.
  double timeout = 86400.0 * 365;
};

fuse_lowlevel_ops MakeOps();

}  // namespace strata::fuse
