#include <unistd.h>

#include <ctime>

#include "status_macros.h"
#include "strata/container_run.h"
#include "strata/union_mount.h"
#include "union_run.h"

namespace strata {

Result<int> StartContainer(Store& store, const std::string& name_or_id, const StartOptions& options) {
  ASSIGN_OR_RETURN(ContainerInfo c, store.GetContainer(name_or_id));
  if (c.state == ContainerState::kRunning)
    return Status::InUse("container " + c.name + " is already running");
  const std::string dir = store.ContainerDir(c.id);

  UnionRun run;
  ASSIGN_OR_RETURN(run.layers, store.LayerChain(c.top_layer));
  run.upper_dir = dir + "/upper";
  run.work_dir = dir + "/work";
  run.mountpoint = dir + "/merged";
  run.lock_file = dir + "/lock";
  run.user = c.user;
  run.spec.args = c.args;
  run.spec.env = c.env;
  run.spec.cwd = c.working_dir;
  run.spec.hostname = c.id.substr(0, 12);
  for (const MountRequest& m : c.mounts) {
    std::string source = m.source;
    if (m.type == MountRequest::Type::kVolume) {
      ASSIGN_OR_RETURN(VolumeInfo v, store.GetVolume(m.source));
      source = v.mountpoint;
    }
    run.spec.mounts.push_back({source, m.target, m.readonly});
  }
  run.runtime.runtime = options.runtime;
  run.runtime.state_dir = dir;
  run.runtime.stdout_fd = options.stdout_fd;
  run.runtime.stderr_fd = options.stderr_fd;
  run.mount_program = options.mount_program;

  c.state = ContainerState::kRunning;
  c.pid = static_cast<int>(::getpid());
  c.started = std::time(nullptr);
  RETURN_IF_ERROR(store.UpdateContainer(c));
  Result<int> status = RunInUnion(store, run);
  c.state = ContainerState::kExited;
  c.pid = 0;
  c.finished = std::time(nullptr);
  c.exit_code = status.ok() ? *status : 125;  // docker's "the engine failed" status
  Status recorded = store.UpdateContainer(c);
  RETURN_IF_ERROR(status.status());
  RETURN_IF_ERROR(recorded);
  return *status;
}

Status MountContainer(Store& store, const std::string& name_or_id, const std::string& mountpoint,
                      const ContainerMountOptions& options) {
  ASSIGN_OR_RETURN(ContainerInfo c, store.GetContainer(name_or_id));
  if (c.state == ContainerState::kRunning) return Status::InUse("container " + c.name + " is running");
  const std::string dir = store.ContainerDir(c.id);
  UnionMountSpec spec;
  spec.store_root = store.root();
  spec.top_layer = c.top_layer;
  spec.upper_dir = dir + "/upper";
  spec.work_dir = dir + "/work";
  spec.mountpoint = mountpoint;
  spec.lock_file = dir + "/lock";
  spec.allow_other = options.allow_other;
  spec.passthrough = options.passthrough;
  spec.io_uring = options.io_uring;
  return MountUnion(spec, options.mount_program.empty() ? DefaultMountProgram() : options.mount_program);
}

}  // namespace strata
