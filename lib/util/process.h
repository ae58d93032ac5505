// Running a helper program (an OCI runtime, the FUSE daemon) and waiting for it.
#pragma once

#include <string>
#include <vector>

#include "strata/status.h"

namespace strata {

// Runs `args` (args[0] a path or a name on PATH) with standard input from
// /dev/null and the given output descriptors; returns its exit status, or
// 128 + the signal that killed it. 127 means it could not be run.
Result<int> Spawn(const std::vector<std::string>& args, int out_fd = 1, int err_fd = 2);

}  // namespace strata
