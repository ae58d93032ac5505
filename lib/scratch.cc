#include "scratch.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>

#include <cstring>

#include "status_macros.h"

namespace strata {

Result<Scratch> Scratch::Make(const std::string& store_root) {
  std::string dir = store_root + "/tmp/build-" + RandomHex(8);
  RETURN_IF_ERROR(MakeDirs(dir));
  UniqueFd lock(::open((dir + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock.valid() || ::flock(lock.get(), LOCK_EX) != 0) {
    Status st = ErrnoStatus("lock", dir);
    (void)RemoveAll(dir);
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
  DIR* d = ::opendir(tmp.c_str());
  if (!d) return;
  while (struct dirent* ent = ::readdir(d)) {
    if (std::strncmp(ent->d_name, "build-", 6) != 0) continue;
    std::string dir = tmp + "/" + ent->d_name;
    UniqueFd lock(::open((dir + "/lock").c_str(), O_RDWR | O_CLOEXEC));
    if (lock.valid() && ::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) continue;  // its owner is alive
    ::umount2((dir + "/rootfs").c_str(), MNT_DETACH);
    (void)RemoveAll(dir);
  }
  ::closedir(d);
}

}  // namespace strata
