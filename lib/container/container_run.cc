#include <fcntl.h>
#include <unistd.h>

#include <ctime>

#include "runtime/union_run.h"
#include "strata/container_run.h"
#include "strata/union_mount.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace strata {

Result<int> StartContainer(Containers& containers, const std::string& name_or_id,
                           const StartOptions& options) {
  Store& store = containers.store();
  ASSIGN_OR_RETURN(ContainerInfo c, containers.Get(name_or_id));
  if (c.state == ContainerState::kRunning)
    return Status::InUse("container " + c.name + " is already running");
  const ContainerPaths paths = containers.Paths(c.id);

  UnionRun run;
  ASSIGN_OR_RETURN(run.layers, store.LayerChain(c.top_layer));
  run.upper_dir = paths.upper;
  run.work_dir = paths.work;
  run.mountpoint = paths.merged;
  run.lock_file = paths.lock;
  run.user = c.user;
  run.spec.args = c.args;
  run.spec.env = c.env;
  run.spec.cwd = c.working_dir;
  run.spec.hostname = c.id.substr(0, 12);
  for (const MountRequest& m : c.mounts) {
    std::string source = m.source;
    if (m.type == MountRequest::Type::kVolume) {
      ASSIGN_OR_RETURN(VolumeInfo v, containers.volumes().Get(m.source));
      source = v.mountpoint;
    }
    run.spec.mounts.push_back({source, m.target, m.readonly});
  }
  run.runtime.runtime = options.runtime;
  run.runtime.state_dir = paths.dir;
  run.runtime.stdout_fd = options.stdout_fd;
  run.runtime.stderr_fd = options.stderr_fd;
  UniqueFd log;
  if (options.log_output) {
    log = UniqueFd(::open(paths.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!log.valid()) return ErrnoStatus("open", paths.log);
    run.runtime.stdout_fd = run.runtime.stderr_fd = log.get();
  }
  run.mount_program = options.mount_program;

  c.state = ContainerState::kRunning;
  c.pid = static_cast<int>(::getpid());
  c.started = std::time(nullptr);
  RETURN_IF_ERROR(containers.Update(c));
  Result<int> status = RunInUnion(store, run);
  c.state = ContainerState::kExited;
  c.pid = 0;
  c.finished = std::time(nullptr);
  c.exit_code = status.ok() ? *status : 125;  // docker's "the engine failed" status
  Status recorded = containers.Update(c);
  RETURN_IF_ERROR(status.status());
  RETURN_IF_ERROR(recorded);
  return *status;
}

Status MountContainer(Containers& containers, const std::string& name_or_id, const std::string& mountpoint,
                      const ContainerMountOptions& options) {
  ASSIGN_OR_RETURN(ContainerInfo c, containers.Get(name_or_id));
  if (c.state == ContainerState::kRunning) return Status::InUse("container " + c.name + " is running");
  const ContainerPaths paths = containers.Paths(c.id);
  UnionMountSpec spec;
  spec.store_root = containers.store().root();
  spec.top_layer = c.top_layer;
  spec.upper_dir = paths.upper;
  spec.work_dir = paths.work;
  spec.mountpoint = mountpoint;
  spec.lock_file = paths.lock;
  spec.allow_other = options.allow_other;
  spec.passthrough = options.passthrough;
  spec.io_uring = options.io_uring;
  return MountUnion(spec, options.mount_program.empty() ? DefaultMountProgram() : options.mount_program);
}

}  // namespace strata
