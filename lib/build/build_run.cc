// RUN: the stage's layers and the step's fresh upper directory as the root
// file system of an OCI runtime bundle.
#include "build/builder.h"
#include "runtime/union_run.h"
#include "util/status_macros.h"

namespace strata {

Status RunInUnion(Store& store, const StageState& stage, const std::vector<std::string>& args,
                  const std::vector<std::string>& env, const BuildOptions& options, Scratch& scratch,
                  int* exit_status) {
  UnionRun run;
  run.layers = stage.layers;
  run.upper_dir = scratch.upper();
  run.work_dir = scratch.work();
  run.mountpoint = scratch.rootfs();
  run.fsync = false;  // the commit syncs what it keeps
  run.user = stage.config.user;
  run.spec.args = args;
  run.spec.env = env;
  run.spec.cwd = stage.config.working_dir;
  run.runtime.runtime = options.runtime;
  run.runtime.state_dir = scratch.dir();
  run.runtime.stdout_fd = run.runtime.stderr_fd = options.output_fd;
  run.mount_program = options.mount_program;
  run.driver = options.driver;
  ASSIGN_OR_RETURN(*exit_status, RunInUnion(store, run));
  if (*exit_status != 0) {
    std::string shown;
    for (const auto& a : args) shown += (shown.empty() ? "" : " ") + a;
    return Status::IOError("RUN " + shown + ": returned a non-zero code: " + std::to_string(*exit_status));
  }
  return Status::OK();
}

}  // namespace strata
