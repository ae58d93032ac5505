// The daemon's state and its table of FUSE operations.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <memory>

#include "options.h"
#include "strata/strata.h"

namespace strata::fuse {

struct Daemon {
  std::unique_ptr<Store> store;  // only with --image
  std::unique_ptr<OverlayFs> fs;
  IdPolicy ids;
  double timeout = 1.0;  // entry and attribute caching; "forever" on a read-only mount
};

fuse_lowlevel_ops MakeOps();

}  // namespace strata::fuse
