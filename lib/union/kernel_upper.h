// An upper directory both drivers may mount, one at a time: whether one has
// it now, and the FUSE path taking over one the kernel path wrote
// (kernel_upper.cc).
#pragma once

#include <string>

#include "strata/status.h"
#include "strata/union_view.h"

namespace strata {

// kInUse when a strata-fuse daemon holds `lock_file` ("" for none) or a
// kernel overlay mount of this machine has `upper` as its upper directory.
Status CheckUpperFree(const std::string& upper, const std::string& lock_file);

// kInUse when a kernel overlay mount uses `upper_dir`. Else, when kernel overlayfs has used `work_dir` (it
// holds the kernel's `work/`), completes every metacopy file of `upper_dir` with its data from `lower`, then
// removes the kernel's work directories. Nothing to do otherwise.
Status CompleteKernelCopyUps(const std::string& upper_dir, const std::string& work_dir,
                             const UnionView& lower);

}  // namespace strata
