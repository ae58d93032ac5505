// Running a container: its image's layers with its writable layer on top,
// mounted (strata-fuse) and used as the root file system of an OCI runtime
// bundle, its volumes and bind mounts as bind mounts.
//
// A run belongs to a monitor, not to the caller: strata-monitor, a process of
// its own session (as conmon is to podman), mounts the union, starts the
// command with the runtime, waits for it as its child subreaper, records its
// exit status and finish time, unmounts, and removes the container when asked.
// The caller may wait for the monitor (an attached run), or go (run -d); a
// caller killed meanwhile changes nothing. The container's state is read from
// its process (pid and start time), never from the pid of whoever started it.
#pragma once

#include <string>

#include "strata/container.h"
#include "strata/status.h"
#include "strata/union_mount.h"

namespace strata {

struct StartOptions {
  std::string runtime = "runc";
  std::string mount_program{};  // "" for DefaultMountProgram()
  MountDriver driver = MountDriver::kAuto;
  std::string monitor_program{};  // "" for DefaultMonitorProgram()
  int stdin_fd = -1;              // the command's standard input; -1: /dev/null (no -i)
  int stdout_fd = 1;
  int stderr_fd = 2;
  bool log_output = false;        // append the output to the container's log (ContainerPaths::log) instead
  bool remove_when_done = false;  // --rm: the monitor removes the container (and its anonymous volumes)
};

// strata-monitor: $STRATA_MONITOR, beside the running binary, or installed.
std::string DefaultMonitorProgram();

// Starts the container's command under a monitor and returns the monitor's
// pid once the command runs. Refused while it runs, or while its layer is
// mounted. A command that cannot run is refused as docker words it:
// Status::Posix(ENOENT) when not found (exit 127), EACCES when not executable (126).
Result<int> LaunchContainer(Containers& containers, const std::string& name_or_id,
                            const StartOptions& options = {});
// Waits for a monitor LaunchContainer started; its exit status is the
// command's (128 + signal when killed), or 125 when the run failed.
Result<int> WaitForMonitor(int monitor_pid);
// LaunchContainer, then WaitForMonitor: an attached run.
Result<int> StartContainer(Containers& containers, const std::string& name_or_id,
                           const StartOptions& options = {});

// Sends `signal` to the container's process (the runtime's kill). Refused
// unless it runs.
Status KillContainer(Containers& containers, const std::string& name_or_id, int signal);
// SIGTERM, then SIGKILL when it still runs after `timeout_seconds`; returns
// once its monitor has recorded the end (docker stop).
Status StopContainer(Containers& containers, const std::string& name_or_id, int timeout_seconds);
// Waits until the container does not run and returns its record (docker wait).
Result<ContainerInfo> WaitContainer(Containers& containers, const std::string& name_or_id);

// The monitor's side (strata-monitor calls it): runs the container to its
// end as described above and returns the status to exit with. `ready_fd`
// gets "ok\n" once the command runs, or "E<errno> <message>\n" when it
// cannot start, and is closed.
struct MonitorOptions {
  std::string runtime = "runc";
  std::string mount_program{};
  MountDriver driver = MountDriver::kAuto;
  bool remove_when_done = false;
  int ready_fd = -1;
};
int RunMonitor(Containers& containers, const std::string& id, const MonitorOptions& options);

struct ContainerMountOptions {
  bool allow_other = false;                 // as UnionMountSpec's
  bool passthrough = false;                 // as UnionMountSpec's
  bool io_uring = false;                    // as UnionMountSpec's
  bool verify = false;                      // as UnionMountSpec's
  std::string mount_program = "";           // "": DefaultMountProgram()
  MountDriver driver = MountDriver::kAuto;  // as UnionMountSpec's
};

// Mounts the container's tree, writable, on `mountpoint` (its writes land in
// its layer); refused while it runs. `strata umount` (UnmountUnion) ends it.
Status MountContainer(Containers& containers, const std::string& name_or_id, const std::string& mountpoint,
                      const ContainerMountOptions& options = {});

}  // namespace strata
