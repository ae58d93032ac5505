#include "runtime/union_run.h"

#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>

#include "runtime/passwd.h"
#include "strata/union_mount.h"
#include "strata/union_view.h"
#include "util/status_macros.h"

namespace strata {

Result<MountedRun> MountForRun(Store& store, const UnionRun& run) {
  ASSIGN_OR_RETURN(auto view, UnionView::OpenLayers(store, run.layers));
  ASSIGN_OR_RETURN(UserIds ids, ResolveUser(run.user, ReadTreeFile(*view, "etc/passwd"),
                                            ReadTreeFile(*view, "etc/group"), MissingGroup::kPrimary));
  UnionMountSpec mount;
  mount.store_root = store.root();
  mount.top_layer = run.layers.empty() ? "" : run.layers.back();
  mount.upper_dir = run.upper_dir;
  mount.work_dir = run.work_dir;
  mount.mountpoint = run.mountpoint;
  // The process may be anyone (USER, or a setuid inside): the mount must let
  // others in. It stays private all the same: it lies in the 0700 store, and
  // only the container's own processes have it as their root.
  mount.allow_other = true;
  mount.fsync = run.fsync;
  mount.verify = run.verify;
  mount.lock_file = run.lock_file;
  mount.driver = run.driver;
  RETURN_IF_ERROR(MountUnion(mount, run.mount_program.empty() ? DefaultMountProgram() : run.mount_program));

  MountedRun mounted;
  mounted.spec = run.spec;
  mounted.spec.rootfs = run.mountpoint;
  if (std::none_of(mounted.spec.env.begin(), mounted.spec.env.end(),
                   [](const std::string& e) { return e.rfind("PATH=", 0) == 0; }))
    mounted.spec.env.insert(mounted.spec.env.begin(),
                            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  mounted.spec.uid = ids.uid;
  mounted.spec.gid = ids.gid;
  for (const char* stub : {"proc", "sys", "dev"}) {
    if (!view->Resolve(stub).ok()) mounted.stubs.push_back(run.upper_dir + "/" + stub);
  }
  return mounted;
}

Status UnmountAfterRun(const UnionRun& run, const MountedRun& mounted) {
  Status unmounted = UnmountUnion(run.mountpoint);
  if (!unmounted.ok()) ::umount2(run.mountpoint.c_str(), MNT_DETACH);  // never leave a mount behind
  RETURN_IF_ERROR(unmounted);
  for (const auto& stub : mounted.stubs) ::rmdir(stub.c_str());  // only when the runtime left it empty
  return Status::OK();
}

Result<int> RunInUnion(Store& store, const UnionRun& run) {
  ASSIGN_OR_RETURN(MountedRun mounted, MountForRun(store, run));
  Result<int> status = RunInRuntime(mounted.spec, run.runtime);
  Status unmounted = UnmountAfterRun(run, mounted);
  RETURN_IF_ERROR(status.status());
  RETURN_IF_ERROR(unmounted);
  return *status;
}

}  // namespace strata
