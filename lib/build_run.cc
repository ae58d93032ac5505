// RUN: the stage's layers and a fresh upper directory mounted as one tree
// (strata-fuse), made the root file system of an OCI runtime bundle.
#include <errno.h>
#include <sys/mount.h>
#include <unistd.h>

#include "builder.h"
#include "passwd.h"
#include "status_macros.h"
#include "strata/runtime.h"
#include "strata/union_mount.h"
#include "strata/union_view.h"

namespace strata {

Status RunInUnion(Store& store, const StageState& stage, const std::vector<std::string>& args,
                  const std::vector<std::string>& env, const BuildOptions& options, Scratch& scratch,
                  int* exit_status) {
  *exit_status = 0;
  ASSIGN_OR_RETURN(auto view, UnionView::OpenLayers(store, stage.layers));
  ASSIGN_OR_RETURN(UserIds ids, ResolveUser(stage.config.user, ReadTreeFile(*view, "etc/passwd"),
                                            ReadTreeFile(*view, "etc/group"), MissingGroup::kPrimary));
  UnionMountSpec mount;
  mount.store_root = store.root();
  mount.top_layer = stage.top();
  mount.upper_dir = scratch.upper();
  mount.work_dir = scratch.work();
  mount.mountpoint = scratch.rootfs();
  mount.allow_other = true;  // USER may be anyone
  mount.fsync = false;       // the commit syncs what it keeps
  RETURN_IF_ERROR(
      MountUnion(mount, options.mount_program.empty() ? DefaultMountProgram() : options.mount_program));

  RunSpec run;
  run.rootfs = scratch.rootfs();
  run.args = args;
  run.env = env;
  run.cwd = stage.config.working_dir.empty() ? "/" : stage.config.working_dir;
  run.uid = ids.uid;
  run.gid = ids.gid;
  RuntimeOptions runtime;
  runtime.runtime = options.runtime;
  runtime.state_dir = scratch.dir();
  runtime.stdout_fd = runtime.stderr_fd = options.output_fd;
  Result<int> status = RunInRuntime(run, runtime);

  Status unmounted = UnmountUnion(scratch.rootfs());
  if (!unmounted.ok()) ::umount2(scratch.rootfs().c_str(), MNT_DETACH);  // never leave a mount behind
  RETURN_IF_ERROR(status.status());
  if (*status != 0) {
    *exit_status = *status;
    std::string shown;
    for (const auto& a : args) shown += (shown.empty() ? "" : " ") + a;
    return Status::IOError("RUN " + shown + ": returned a non-zero code: " + std::to_string(*status));
  }
  RETURN_IF_ERROR(unmounted);
  // The runtime makes mount points the tree lacked; they are not the command's doing.
  for (const char* stub : {"proc", "sys", "dev"}) {
    if (!view->Resolve(stub).ok()) ::rmdir((scratch.upper() + "/" + stub).c_str());
  }
  return Status::OK();
}

}  // namespace strata
