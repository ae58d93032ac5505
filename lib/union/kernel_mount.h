// The kernel path of MountUnion (kernel_mount.cc): kernel overlayfs over a
// chain's metadata tree and the store's blobs.
#pragma once

#include <string>

#include "strata/status.h"
#include "strata/union_mount.h"

namespace strata {

Status MountKernelOverlay(const UnionMountSpec& spec);

}  // namespace strata
