// Running a command with a writable union as its root file system: mount
// the layers with the upper directory (strata-fuse), run the process with
// the OCI runtime, unmount, and drop the mount points the runtime had to make
// (/proc, /sys, /dev where the image lacks them). What RUN and `strata start`
// both do.
#pragma once

#include <string>
#include <vector>

#include "strata/runtime.h"
#include "strata/status.h"
#include "strata/store.h"

namespace strata {

struct UnionRun {
  std::vector<std::string> layers;  // the lower tree, bottom first
  std::string upper_dir, work_dir, mountpoint;
  bool fsync = true;
  std::string lock_file;  // held by the mount's daemon: one writer per upper directory
  std::string user;       // USER / -u, resolved with the tree's /etc/passwd and /etc/group
  RunSpec spec;           // rootfs, uid and gid are filled in here; PATH when env has none
  RuntimeOptions runtime;
  std::string mount_program;  // "" for DefaultMountProgram()
};

// The process's exit status (128 + signal when killed).
Result<int> RunInUnion(Store& store, const UnionRun& run);

}  // namespace strata
