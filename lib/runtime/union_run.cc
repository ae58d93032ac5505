#include "runtime/union_run.h"

#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>

#include "runtime/passwd.h"
#include "strata/union_mount.h"
#include "strata/union_view.h"
#include "util/status_macros.h"

namespace strata {

Result<int> RunInUnion(Store& store, const UnionRun& run) {
  ASSIGN_OR_RETURN(auto view, UnionView::OpenLayers(store, run.layers));
  ASSIGN_OR_RETURN(UserIds ids, ResolveUser(run.user, ReadTreeFile(*view, "etc/passwd"),
                                            ReadTreeFile(*view, "etc/group"), MissingGroup::kPrimary));
  UnionMountSpec mount;
  mount.store_root = store.root();
  mount.top_layer = run.layers.empty() ? "" : run.layers.back();
  mount.upper_dir = run.upper_dir;
  mount.work_dir = run.work_dir;
  mount.mountpoint = run.mountpoint;
  mount.allow_other = true;  // the user may be anyone
  mount.fsync = run.fsync;
  mount.lock_file = run.lock_file;
  RETURN_IF_ERROR(MountUnion(mount, run.mount_program.empty() ? DefaultMountProgram() : run.mount_program));

  RunSpec spec = run.spec;
  spec.rootfs = run.mountpoint;
  if (std::none_of(spec.env.begin(), spec.env.end(),
                   [](const std::string& e) { return e.rfind("PATH=", 0) == 0; }))
    spec.env.insert(spec.env.begin(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  spec.uid = ids.uid;
  spec.gid = ids.gid;
  Result<int> status = RunInRuntime(spec, run.runtime);

  Status unmounted = UnmountUnion(run.mountpoint);
  if (!unmounted.ok()) ::umount2(run.mountpoint.c_str(), MNT_DETACH);  // never leave a mount behind
  RETURN_IF_ERROR(status.status());
  RETURN_IF_ERROR(unmounted);
  for (const char* stub : {"proc", "sys", "dev"}) {
    if (view->Resolve(stub).ok()) continue;
    std::string path = run.upper_dir;  // (built in steps: GCC 12 warns falsely on a + "/" + b)
    path.append("/").append(stub);
    ::rmdir(path.c_str());
  }
  return *status;
}

}  // namespace strata
