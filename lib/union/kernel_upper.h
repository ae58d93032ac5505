// The FUSE path taking over an upper directory the kernel path wrote
// (kernel_upper.cc).
#pragma once

#include <string>

#include "strata/status.h"
#include "strata/union_view.h"

namespace strata {

// Whether a kernel overlay mount of this machine has `upper` as its upper directory.
bool UpperMountedByKernel(const std::string& upper);

// kInUse when a kernel overlay mount uses `upper_dir`. Else, when kernel overlayfs has used `work_dir` (it
// holds the kernel's `work/`), completes every metacopy file of `upper_dir` with its data from `lower`, then
// removes the kernel's work directories. Nothing to do otherwise.
Status CompleteKernelCopyUps(const std::string& upper_dir, const std::string& work_dir,
                             const UnionView& lower);

}  // namespace strata
