// The kernel path of MountUnion (kernel_mount.cc): kernel overlayfs over a
// chain's metadata tree and the store's blobs.
#pragma once

#include <string>

#include "strata/status.h"
#include "strata/union_mount.h"

namespace strata {

// OK when this process can mount the kernel path here, else why not.
// Probed once per process.
Status KernelPathUsable();

// kInUse when a strata-fuse daemon holds `lock_file` ("" for none) or a
// kernel overlay mount uses `upper` as its upper directory.
Status CheckUpperFree(const std::string& upper, const std::string& lock_file);

Status MountKernelOverlay(const UnionMountSpec& spec);

}  // namespace strata
