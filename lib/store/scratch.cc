#include "store/scratch.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <ctime>

#include "util/status_macros.h"

namespace strata {

Result<Scratch> Scratch::Make(const std::string& store_root) {
  // Private: archives unpack here, and nothing in progress may be reachable
  // by another user (a setuid file, a device node).
  RETURN_IF_ERROR(MakePrivateDir(store_root + "/tmp"));
  // Made as .new-<hex> and renamed once its lock is held: a build-* directory
  // always has a lock, so one whose lock is free is a dead owner's.
  const std::string hex = RandomHex(8);
  const std::string pending = store_root + "/tmp/.new-" + hex, dir = store_root + "/tmp/build-" + hex;
  RETURN_IF_ERROR(MakePrivateDir(pending));
  UniqueFd lock(::open((pending + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock.valid() || ::flock(lock.get(), LOCK_EX) != 0 || ::rename(pending.c_str(), dir.c_str()) != 0) {
    Status st = ErrnoStatus("lock", pending);
    (void)RemoveAll(pending);
    return st;
  }
  Scratch s(dir, std::move(lock));
  for (const auto& d : {s.upper(), s.work(), s.rootfs()}) RETURN_IF_ERROR(MakeDirs(d));
  return s;
}

Scratch::~Scratch() {
  if (dir_.empty()) return;
  ::umount2(rootfs().c_str(), MNT_DETACH);  // never remove files through a live mount
  (void)RemoveAll(dir_);
}

void RemoveStaleScratch(const std::string& store_root) {
  std::string tmp = store_root + "/tmp";
  auto names = ListDir(tmp);
  if (!names.ok()) return;
  for (const auto& name : *names) {
    std::string dir = tmp + "/" + name;
    if (name.starts_with(".new-")) {  // its owner may be making its lock now: gone after a minute
      struct stat st;
      if (::stat(dir.c_str(), &st) == 0 && std::time(nullptr) - st.st_mtime >= 60) (void)RemoveAll(dir);
      continue;
    }
    if (!name.starts_with("build-")) continue;
    UniqueFd lock(::open((dir + "/lock").c_str(), O_RDWR | O_CLOEXEC));
    if (lock.valid() && ::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) continue;  // its owner is alive
    ::umount2((dir + "/rootfs").c_str(), MNT_DETACH);
    (void)RemoveAll(dir);
  }
}

}  // namespace strata
