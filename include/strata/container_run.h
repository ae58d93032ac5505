// Running a container: its image's layers with its writable layer on top,
// mounted (strata-fuse) and used as the root file system of an OCI runtime
// bundle, its volumes and bind mounts as bind mounts. The run is attached:
// StartContainer returns when the command ends.
#pragma once

#include <string>

#include "strata/container.h"
#include "strata/status.h"

namespace strata {

struct StartOptions {
  std::string runtime = "runc";
  std::string mount_program{};  // "" for DefaultMountProgram()
  int stdout_fd = 1;
  int stderr_fd = 2;
  bool log_output = false;  // append the output to the container's log (ContainerPaths::log) instead
};

// Runs the container's command to its end and records its state; returns the
// exit status. Refused while it runs already, or while its layer is mounted.
Result<int> StartContainer(Containers& containers, const std::string& name_or_id,
                           const StartOptions& options = {});

struct ContainerMountOptions {
  bool allow_other = false;        // as UnionMountSpec's
  bool passthrough = false;        // as UnionMountSpec's
  bool io_uring = false;           // as UnionMountSpec's
  std::string mount_program = "";  // "": DefaultMountProgram()
};

// Mounts the container's tree, writable, on `mountpoint` (its writes land in
// its layer); refused while it runs. `strata umount` (UnmountUnion) ends it.
Status MountContainer(Containers& containers, const std::string& name_or_id, const std::string& mountpoint,
                      const ContainerMountOptions& options = {});

}  // namespace strata
