#include "strata/union_mount.h"

#include <errno.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "file_util.h"
#include "process.h"
#include "status_macros.h"

namespace strata {

std::string DefaultMountProgram() {
  if (const char* env = std::getenv("STRATA_FUSE"); env && *env) return env;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto beside = self.parent_path() / "strata-fuse";
    if (::access(beside.c_str(), X_OK) == 0) return beside.string();
  }
  return STRATA_INSTALL_BINDIR "/strata-fuse";
}

Status MountUnion(const UnionMountSpec& spec, const std::string& program) {
  if (spec.upper_dir.empty() != spec.work_dir.empty())
    return Status::InvalidArgument("an upper directory needs a work directory");
  std::vector<std::string> args = {program, "--root", spec.store_root, "--layer", spec.top_layer};
  if (!spec.upper_dir.empty()) {
    args.insert(args.end(), {"--upper", spec.upper_dir, "--work", spec.work_dir});
  }
  if (spec.allow_other) args.push_back("--allow-other");
  if (!spec.fsync) args.insert(args.end(), {"-o", "fsync=0"});
  args.push_back(spec.mountpoint);
  ASSIGN_OR_RETURN(int status, Spawn(args));
  if (status == 127) return Status::NotFound("cannot run the mount program " + program);
  if (status != 0) return Status::IOError("mounting on " + spec.mountpoint + " failed (" + program + ")");
  return Status::OK();
}

Status UnmountUnion(const std::string& mountpoint) {
  if (::umount2(mountpoint.c_str(), 0) == 0) return Status::OK();
  int err = errno;
  if (err == EPERM) {  // not root: the setuid helper may do it
    auto st = Spawn({"fusermount3", "-u", mountpoint});
    if (st.ok() && *st == 0) return Status::OK();
  }
  errno = err;
  return ErrnoStatus("unmount", mountpoint);
}

}  // namespace strata
