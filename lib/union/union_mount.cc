#include "strata/union_mount.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "union/kernel_mount.h"
#include "util/file_util.h"
#include "util/process.h"
#include "util/status_macros.h"

namespace strata {

std::string DefaultMountProgram() {
  return HelperProgram("strata-fuse", "STRATA_FUSE");
}

Result<MountDriver> ParseMountDriver(const std::string& name) {
  if (name == "auto") return MountDriver::kAuto;
  if (name == "fuse") return MountDriver::kFuse;
  if (name == "kernel") return MountDriver::kKernel;
  return Status::InvalidArgument("unknown mount driver " + name + " (auto, fuse or kernel)");
}

const char* MountDriverName(MountDriver driver) {
  switch (driver) {
    case MountDriver::kAuto: return "auto";
    case MountDriver::kFuse: return "fuse";
    case MountDriver::kKernel: return "kernel";
  }
  return "?";
}

Result<MountDriver> StoreDefaultDriver(const std::string& store_root) {
  const std::string path = store_root + "/config.json";
  std::ifstream in(path);
  if (!in) return MountDriver::kAuto;
  nlohmann::json config = nlohmann::json::parse(in, nullptr, false);
  if (config.is_discarded() || !config.is_object())
    return Status::InvalidArgument(path + " is not a JSON object");
  if (!config.contains("driver")) return MountDriver::kAuto;
  if (!config["driver"].is_string()) return Status::InvalidArgument(path + ": driver is not a string");
  auto driver = ParseMountDriver(config["driver"].get<std::string>());
  if (!driver.ok()) return driver.status().WithContext(path);
  return driver;
}

Result<MountDriver> ChooseMountDriver(const UnionMountSpec& spec) {
  MountDriver driver = spec.driver;
  if (driver == MountDriver::kAuto) {
    ASSIGN_OR_RETURN(driver, StoreDefaultDriver(spec.store_root));
  }
  if (driver != MountDriver::kAuto) return driver;
  const bool fuse_only = spec.passthrough || spec.io_uring || spec.verify;
  return !fuse_only && KernelDriverUsable().ok() ? MountDriver::kKernel : MountDriver::kFuse;
}

Status MountUnion(const UnionMountSpec& spec, const std::string& program) {
  if (spec.upper_dir.empty() != spec.work_dir.empty())
    return Status::InvalidArgument("an upper directory needs a work directory");
  ASSIGN_OR_RETURN(MountDriver driver, ChooseMountDriver(spec));
  if (driver == MountDriver::kKernel) {
    if (spec.passthrough || spec.io_uring || spec.verify)
      return Status::InvalidArgument(
          "passthrough, io_uring and verify are the FUSE driver's (--driver fuse)");
    return MountKernelOverlay(spec);
  }
  std::vector<std::string> args = {program, "--root", spec.store_root, "--layer", spec.top_layer};
  if (!spec.upper_dir.empty()) {
    args.insert(args.end(), {"--upper", spec.upper_dir, "--work", spec.work_dir});
  }
  if (spec.allow_other) args.push_back("--allow-other");
  if (!spec.fsync) args.insert(args.end(), {"-o", "fsync=0"});
  if (spec.passthrough) args.insert(args.end(), {"-o", "passthrough"});
  if (spec.io_uring) args.insert(args.end(), {"-o", "io_uring"});
  if (spec.verify) args.push_back("--verify");
  if (!spec.lock_file.empty()) args.insert(args.end(), {"--lock", spec.lock_file});
  args.push_back(spec.mountpoint);
  // The daemon's complaint becomes part of our one-line error, not a second line.
  UniqueFd errors(::memfd_create("strata-mount-errors", MFD_CLOEXEC));
  if (!errors.valid()) return ErrnoStatus("memfd_create", "");
  ASSIGN_OR_RETURN(int status, Spawn(args, STDOUT_FILENO, errors.get()));
  if (status == 0) return Status::OK();
  if (status == 127) return Status::NotFound("cannot run the mount program " + program);
  if (status == 75) return Status::InUse("the layer is mounted elsewhere (" + spec.lock_file + " is held)");
  std::string said(4096, '\0');
  ssize_t n = ::pread(errors.get(), said.data(), said.size(), 0);
  said.resize(n > 0 ? static_cast<size_t>(n) : 0);
  while (!said.empty() && said.back() == '\n') said.pop_back();
  if (auto nl = said.rfind('\n'); nl != std::string::npos) said = said.substr(nl + 1);
  return Status::IOError("mounting on " + spec.mountpoint + " failed" + (said.empty() ? "" : ": " + said));
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
