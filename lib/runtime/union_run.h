// Running a command with a writable union as its root file system: mount
// the layers with the upper directory (strata-fuse or kernel overlayfs), run the process with
// the OCI runtime, unmount, and drop the mount points the runtime had to make
// (/proc, /sys, /dev where the image lacks them). What RUN and `strata start`
// both do.
#pragma once

#include <string>
#include <vector>

#include "strata/runtime.h"
#include "strata/status.h"
#include "strata/store.h"
#include "strata/union_mount.h"

namespace strata {

struct UnionRun {
  std::vector<std::string> layers;  // the lower tree, bottom first
  std::string upper_dir, work_dir, mountpoint;
  bool fsync = true;
  bool verify = false;    // the mount checks each blob at its first open
  std::string lock_file;  // held by the mount's daemon: one writer per upper directory
  std::string user;       // USER / -u, resolved with the tree's /etc/passwd and /etc/group
  RunSpec spec;           // rootfs, uid and gid are filled in here; PATH when env has none
  RuntimeOptions runtime;
  std::string mount_program;  // "" for DefaultMountProgram()
  MountDriver driver = MountDriver::kAuto;
};

// The process's exit status (128 + signal when killed).
Result<int> RunInUnion(Store& store, const UnionRun& run);

// RunInUnion in steps, for a run that outlives the call (a container's
// monitor): mount the union and resolve the process's user, then, once the
// process is over, unmount and drop the stubs the runtime made.
struct MountedRun {
  RunSpec spec;                    // run.spec with rootfs, uid, gid and PATH filled in
  std::vector<std::string> stubs;  // /proc, /sys, /dev in the upper directory, when the image lacks them
};
Result<MountedRun> MountForRun(Store& store, const UnionRun& run);
Status UnmountAfterRun(const UnionRun& run, const MountedRun& mounted);

}  // namespace strata
