// An upper directory kernel overlayfs (the kernel path, metacopy=on) has
// used: files whose metadata alone was copied up keep their data below, in
// files the FUSE path does not follow. Before strata-fuse serves such a
// directory their data is copied up (in place), so the union shows the same
// files whichever path mounts it.
#include "union/kernel_upper.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "format/upper_dir.h"
#include "util/file_lock.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace strata {

namespace {

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

// `rel` in the upper directory; `origin`, where its contents are in the lower tree.
Status CompleteBelow(const std::string& upper, const std::string& rel, const std::string& origin,
                     const UnionView& lower) {
  const std::string abs = Join(upper, rel);
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(abs));
  for (const std::string& name : names) {
    const std::string child = abs + "/" + name;
    struct stat st;
    if (::lstat(child.c_str(), &st) != 0) return ErrnoStatus("stat", child);
    if (S_ISDIR(st.st_mode)) {
      RETURN_IF_ERROR(CompleteBelow(upper, Join(rel, name),
                                    upper::OriginOf(origin, name, upper::ReadRedirect(child)), lower));
      continue;
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0 || !upper::IsMetacopy(child)) continue;
    const std::string from = upper::OriginOf(origin, name, upper::ReadRedirect(child));
    auto node = lower.Resolve(from);
    if (!node.ok()) return Status::Corruption(child + ": a metacopy file with no lower file at " + from);
    ASSIGN_OR_RETURN(std::string data_path, lower.ContentPath(*node));
    UniqueFd data;
    if (!data_path.empty()) {
      data = UniqueFd(::open(data_path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!data.valid()) return ErrnoStatus("open", data_path);
    }
    RETURN_IF_ERROR(upper::CompleteMetacopy(child, data.get()));
  }
  return Status::OK();
}

// Whether a kernel overlay mount of this machine has `upper` as its upper directory.
bool UpperMountedByKernel(const std::string& upper) {
  char real[PATH_MAX];
  const std::string key = std::string("upperdir=") + (::realpath(upper.c_str(), real) ? real : upper.c_str());
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(" - overlay ") == std::string::npos) continue;
    auto at = line.find(key);
    if (at != std::string::npos && (at + key.size() == line.size() || line[at + key.size()] == ','))
      return true;
  }
  return false;
}

}  // namespace

Status CheckUpperFree(const std::string& upper, const std::string& lock_file) {
  if (!lock_file.empty()) {  // a strata-fuse daemon holds it while it serves the layer
    auto held = FileLock::TryAcquire(lock_file, lock_file);
    if (!held.ok()) return Status::InUse("the layer is mounted elsewhere (" + lock_file + " is held)");
  }
  if (UpperMountedByKernel(upper))
    return Status::InUse("the layer is mounted elsewhere (" + upper + " is an overlay's upper directory)");
  return Status::OK();
}

Status CompleteKernelCopyUps(const std::string& upper_dir, const std::string& work_dir,
                             const UnionView& lower) {
  RETURN_IF_ERROR(CheckUpperFree(upper_dir, ""));      // the daemon calling holds the lock
  const std::string kernel_work = work_dir + "/work";  // made by every kernel overlay mount
  struct stat st;
  if (::lstat(kernel_work.c_str(), &st) != 0) return Status::OK();
  RETURN_IF_ERROR(CompleteBelow(upper_dir, "", "", lower));
  for (const char* name : {"/work", "/index"}) RETURN_IF_ERROR(RemoveAll(work_dir + name));
  return Status::OK();
}

}  // namespace strata
