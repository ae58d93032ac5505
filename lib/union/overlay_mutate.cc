// Copy-up and every change to the upper directory.
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "format/upper_dir.h"
#include "union/overlay_impl.h"
#include "util/status_macros.h"

namespace strata {

namespace {

Status Errno(std::string_view what) {
  return Status::Posix(errno, std::string(what) + ": " + strerror(errno));
}

// Copies [off, end) of `in` to the same offsets of `out`.
Status CopyRange(int in, int out, off_t off, off_t end) {
  while (off < end) {
    off_t in_off = off, out_off = off;
    ssize_t n = ::copy_file_range(in, &in_off, out, &out_off, static_cast<size_t>(end - off), 0);
    if (n > 0) {
      off += n;
      continue;
    }
    if (n == 0) return Status::OK();  // the file ended early
    if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) return Errno("copy up");
    break;  // no in-kernel copy between these file systems: fall back to read/write
  }
  // Both files at `off` from here: pread's offset and the out file's position move together.
  if (::lseek(out, off, SEEK_SET) < 0) return Errno("copy up");
  char buf[256 * 1024];
  while (off < end) {
    ssize_t n = ::pread(in, buf, std::min<size_t>(sizeof buf, static_cast<size_t>(end - off)), off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("copy up");
    }
    if (n == 0) return Status::OK();
    RETURN_IF_ERROR(WriteAll(out, buf, static_cast<size_t>(n), "copy up"));
    off += n;
  }
  return Status::OK();
}

// Copies a file's data, skipping its holes as overlayfs's copy-up does: a
// sparse file (a VM image, /var/log/lastlog) stays sparse above.
Status CopyData(int in, int out) {
  struct stat st;
  if (::fstat(in, &st) != 0) return Errno("copy up");
  const off_t size = st.st_size;
  for (off_t pos = 0; pos < size;) {
    off_t data = ::lseek(in, pos, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;  // only a hole is left
    off_t hole = data < 0 ? size : ::lseek(in, data, SEEK_HOLE);
    if (data < 0) data = pos;  // no SEEK_DATA here: copy the rest as data
    if (hole < 0) hole = size;
    RETURN_IF_ERROR(CopyRange(in, out, data, std::min(hole, size)));
    pos = hole;
  }
  if (::ftruncate(out, size) != 0) return Errno("copy up");  // a hole at the end
  return Status::OK();
}

// A copy-up adds an entry to an upper directory that the caller sees no
// change in: its times are put back after. Where a create in that directory
// may run beside the copy-up (under the shared lock), Changed() marks the
// copy-up's own change, and Restore() leaves a later one standing.
class ParentTimes {
 public:
  ParentTimes(int dirfd, std::string rel) : dirfd_(dirfd), rel_(std::move(rel)) {
    saved_ = ::fstatat(dirfd_, rel_.c_str(), &before_, 0) == 0;
  }
  void Changed() { changed_ = ::fstatat(dirfd_, rel_.c_str(), &after_, 0) == 0; }
  void Restore() {
    if (!saved_) return;
    struct stat now;
    if (changed_ &&
        (::fstatat(dirfd_, rel_.c_str(), &now, 0) != 0 || now.st_mtim.tv_sec != after_.st_mtim.tv_sec ||
         now.st_mtim.tv_nsec != after_.st_mtim.tv_nsec)) {
      return;
    }
    const struct timespec times[2] = {before_.st_atim, before_.st_mtim};
    ::utimensat(dirfd_, rel_.c_str(), times, 0);
  }

 private:
  int dirfd_;
  std::string rel_;
  struct stat before_ {
  }, after_{};
  bool saved_ = false, changed_ = false;
};

// Moves from_dirfd/from to dirfd/rel, where a whiteout is. As overlayfs
// does, in one exchange: no moment, even after a crash, shows the lower entry
// the whiteout hides; the whiteout is then at `from` (true). A file system
// without exchange gets the whiteout removed first (false).
Result<bool> MoveOntoWhiteout(int from_dirfd, const std::string& from, int dirfd, const std::string& rel) {
  if (::renameat2(from_dirfd, from.c_str(), dirfd, rel.c_str(), RENAME_EXCHANGE) == 0) return true;
  if (errno != EINVAL || ::unlinkat(dirfd, rel.c_str(), 0) != 0 ||
      ::renameat(from_dirfd, from.c_str(), dirfd, rel.c_str()) != 0) {
    return Errno("rename");
  }
  return false;
}

bool IsAncestor(const OverlayNode* maybe_ancestor, const OverlayNode* n) {
  for (; n; n = n->parent) {
    if (n == maybe_ancestor) return true;
  }
  return false;
}

}  // namespace

Status OverlayImpl::CopyMetadata(int dirfd, const std::string& rel, const std::string& abs, NodeId lower) {
  ASSIGN_OR_RETURN(NodeAttr a, lower_->GetAttr(lower));
  if (::fchownat(dirfd, rel.c_str(), a.uid, a.gid, AT_SYMLINK_NOFOLLOW) != 0) return Errno("chown");
  if (!S_ISLNK(a.mode) && ::fchmodat(dirfd, rel.c_str(), a.mode & 07777, 0) != 0) return Errno("chmod");
  ASSIGN_OR_RETURN(auto xattrs, lower_->Xattrs(lower));
  for (const Xattr& x : *xattrs) {
    if (::lsetxattr(abs.c_str(), x.name.c_str(), x.value.data(), x.value.size(), 0) != 0 &&
        errno != ENOTSUP && errno != EPERM) {
      return Errno("setxattr");
    }
  }
  struct timespec times[2] = {{a.mtime_sec, static_cast<long>(a.mtime_nsec)},
                              {a.mtime_sec, static_cast<long>(a.mtime_nsec)}};
  if (::utimensat(dirfd, rel.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) return Errno("utimens");
  return Status::OK();
}

Status OverlayImpl::CopyUpDirsLocked(OverlayNode* dir) {
  if (dir->upper.load(std::memory_order_acquire)) return Status::OK();
  // The lock may be shared (MakeNew): two changes below one lower directory
  // must not both make it.
  MutexLock copying(dir_copy_up_mu_);
  std::vector<OverlayNode*> chain;  // the directories to make, deepest first
  for (OverlayNode* p = dir; p && !p->upper; p = p->parent) chain.push_back(p);
  if (chain.empty()) return Status::OK();
  // Copy-up changes no directory the caller can see, so the upper parent's
  // times are put back after (as overlayfs does): see ParentTimes.
  ParentTimes parent(upper_fd_.get(), Rel(chain.back()->parent));
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    const std::string rel = Rel(*it);
    struct stat st;
    if (::mkdirat(upper_fd_.get(), rel.c_str(), 0700) != 0 &&
        !(errno == EEXIST && ::fstatat(upper_fd_.get(), rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISDIR(st.st_mode))) {  // left by a copy-up that failed half way
      return Errno("copy up directory");
    }
    if (it == chain.rbegin()) parent.Changed();
  }
  // Deepest first: making a child directory changes its parent's times.
  for (OverlayNode* d : chain) {
    const std::string rel = Rel(d);
    RETURN_IF_ERROR(CopyMetadata(upper_fd_.get(), rel, Abs(rel), d->lower));
  }
  parent.Restore();
  for (OverlayNode* d : chain) d->upper.store(true, std::memory_order_release);
  ++generation_;
  return Status::OK();
}

Status OverlayImpl::CopyUp(OverlayNode* n, bool with_data) {
  // Shared: every write request passes here, and most find the node above already.
  ReaderLock shared(mu_);
  if (!n->orphan.empty()) return Status::OK();
  // A removed lower file still referenced (open) is copied into an orphan.
  const bool orphan = n->removed;
  if (orphan && (n->upper || n->type != S_IFREG || n->lower == 0)) return Status::Posix(ENOENT, "removed");
  if (n->upper) return Status::OK();
  RETURN_IF_ERROR(RequireWritable());
  if (!orphan) {
    RETURN_IF_ERROR(CopyUpDirsLocked(n->parent));
    if (n->type == S_IFDIR) return CopyUpDirsLocked(n);
  }
  const NodeId lower = n->lower;
  ASSIGN_OR_RETURN(NodeAttr attr, lower_->GetAttr(lower));
  std::string source, target;
  if (S_ISREG(attr.mode) && with_data) {
    ASSIGN_OR_RETURN(source, lower_->ContentPath(lower));
  }
  if (S_ISLNK(attr.mode)) {
    ASSIGN_OR_RETURN(target, lower_->ReadLink(lower));
  }
  shared.Unlock();  // the copy runs without the lock: other operations go on meanwhile

  const std::string tmp = "copyup-" + std::to_string(copy_counter_++);
  const int work = work_fd_.get();
  Status st;
  if (S_ISREG(attr.mode)) {
    UniqueFd out(::openat(work, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out.valid()) return Errno("copy up");
    if (!source.empty()) {
      UniqueFd in(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
      st = in.valid() ? CopyData(in.get(), out.get()) : Errno("copy up");
    }
  } else if (S_ISLNK(attr.mode)) {
    if (::symlinkat(target.c_str(), work, tmp.c_str()) != 0) st = Errno("copy up");
  } else if (::mknodat(work, tmp.c_str(), attr.mode, makedev(attr.rdev_major, attr.rdev_minor)) != 0) {
    st = Errno("copy up");
  }
  if (st.ok()) st = CopyMetadata(work, tmp, options_.work_dir + "/" + tmp, lower);
  if (!st.ok()) {
    ::unlinkat(work, tmp.c_str(), 0);
    return st;
  }

  WriterLock lock(mu_);
  if (!n->orphan.empty() || (n->upper && !n->removed)) {  // another copy-up won
    ::unlinkat(work, tmp.c_str(), 0);
    return Status::OK();
  }
  if (n->removed) {  // removed before or during the copy: the data lives on in the work directory
    if (n->upper || n->type != S_IFREG) {
      ::unlinkat(work, tmp.c_str(), 0);
      return Status::Posix(ENOENT, "removed");
    }
    n->orphan = tmp;
    return Status::OK();
  }
  std::string rel = Rel(n);  // again: a rename may have moved it meanwhile
  ParentTimes parent(upper_fd_.get(), Rel(n->parent));
  if (::renameat(work, tmp.c_str(), upper_fd_.get(), rel.c_str()) != 0) {
    Status err = Errno("copy up");
    ::unlinkat(work, tmp.c_str(), 0);
    return err;
  }
  parent.Restore();  // the lock is ours alone: no create can have run meanwhile
  struct stat host;
  if (::fstatat(upper_fd_.get(), rel.c_str(), &host, AT_SYMLINK_NOFOLLOW) == 0) {
    host_inos_[{host.st_dev, host.st_ino}] = n->ino;  // st_ino survives the copy-up
  }
  n->upper.store(true, std::memory_order_release);
  ++generation_;
  return Status::OK();
}

Status OverlayImpl::WhiteoutLocked(const std::string& rel) {
  const std::string tmp = "whiteout-" + std::to_string(copy_counter_++);
  if (::mknodat(work_fd_.get(), tmp.c_str(), S_IFCHR | 0, makedev(0, 0)) == 0) {
    if (::renameat(work_fd_.get(), tmp.c_str(), upper_fd_.get(), rel.c_str()) == 0) return Status::OK();
    Status err = Errno("whiteout");
    ::unlinkat(work_fd_.get(), tmp.c_str(), 0);
    return err;
  }
  if (::unlinkat(upper_fd_.get(), rel.c_str(), 0) != 0 && errno != ENOENT) return Errno("whiteout");
  return upper::MakeWhiteout(upper_fd_.get(), rel);
}

Status OverlayImpl::ClearWhiteoutsLocked(const std::string& dir_rel) {
  UniqueFd dir(::openat(upper_fd_.get(), dir_rel.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return Errno("opendir");
  ASSIGN_OR_RETURN(auto names, ListDir(dir.get()));
  for (const auto& name : names) {
    struct stat st;
    if (name.starts_with(upper::kWhiteoutPrefix) ||
        (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && upper::IsWhiteout(st))) {
      ::unlinkat(dir.get(), name.c_str(), 0);
    }
  }
  return Status::OK();
}

Result<std::string> OverlayImpl::PrepareNewLocked(OverlayNode* dir, std::string_view name) {
  RETURN_IF_ERROR(RequireWritable());
  if (name.size() > 255) return Status::Posix(ENAMETOOLONG, "name too long");
  if (dir->children.count(name)) return Status::Posix(EEXIST, std::string(name));
  auto existing = FindChild(QueryLocked(dir, name));  // adds no node: the lock may be shared
  if (existing.ok()) return Status::Posix(EEXIST, std::string(name));
  if (existing.status().ToErrno() != ENOENT) return existing.status();
  RETURN_IF_ERROR(CopyUpDirsLocked(dir));
  return ChildRel(dir, name);
}

Status OverlayImpl::PlaceNewLocked(const std::string& rel, const std::function<Status(const Place&)>& make) {
  struct stat st;
  if (::fstatat(upper_fd_.get(), rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !upper::IsWhiteout(st)) {
    RETURN_IF_ERROR(make(Place{upper_fd_.get(), rel, Abs(rel)}));
    upper::RemoveWhiteoutFile(upper_fd_.get(), rel);  // the new entry hides it already
    return Status::OK();
  }
  const std::string tmp = "new-" + std::to_string(copy_counter_++);
  const int work = work_fd_.get();
  Status made = make(Place{work, tmp, options_.work_dir + "/" + tmp});
  if (made.ok()) made = MoveOntoWhiteout(work, tmp, upper_fd_.get(), rel).status();
  // Left in the work directory: the whiteout, or the entry if it could not be placed.
  RemoveEntryAt(work, tmp);
  return made;
}

uint64_t OverlayImpl::CreateInfo(OverlayNode* dir, const std::string& dir_rel) {
  if (uint64_t known = dir->create_info.load(std::memory_order_acquire)) return known;
  uint64_t info = kDirInfoKnown;
  struct stat st;
  if (::fstatat(upper_fd_.get(), dir_rel.empty() ? "." : dir_rel.c_str(), &st, 0) == 0 &&
      (st.st_mode & S_ISGID)) {
    info |= kDirInfoSetgid | st.st_gid;
  }
  // A default ACL decides new entries' permissions instead of the umask.
  if (::lgetxattr(Abs(dir_rel).c_str(), "system.posix_acl_default", nullptr, 0) > 0)
    info |= kDirInfoDefaultAcl;
  dir->create_info.store(info, std::memory_order_release);
  return info;
}

Status OverlayImpl::SetNewOwnerAndMode(const Place& at, const Caller& caller, uint32_t type, uint32_t mode,
                                       uint64_t dir_info) {
  const bool setgid_dir = dir_info & kDirInfoSetgid;
  const uint32_t gid = setgid_dir ? static_cast<uint32_t>(dir_info) : caller.gid;
  mode &= 07777;
  if (setgid_dir && type == S_IFDIR) mode |= S_ISGID;
  // Made by this process: owned by its euid, and its egid or the setgid directory's group.
  if ((caller.uid != euid_ || (!setgid_dir && caller.gid != egid_)) &&
      ::fchownat(at.dirfd, at.rel.c_str(), caller.uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
    return Errno("chown");
  }
  if (type == S_IFLNK) return Status::OK();
  if (dir_info & kDirInfoDefaultAcl) {  // the default ACL set the permissions (and the ACL mask): only
                                        // setuid/setgid go back
    struct stat st;
    if ((mode & (S_ISUID | S_ISGID)) &&
        (::fstatat(at.dirfd, at.rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
         ::fchmodat(at.dirfd, at.rel.c_str(), (st.st_mode & 01777) | (mode & (S_ISUID | S_ISGID)), 0) != 0)) {
      return Errno("chmod");
    }
    return Status::OK();
  }
  // chown cleared setuid and setgid; the umask of this process took bits the caller's did not.
  if (((mode & (S_ISUID | S_ISGID)) || (mode & process_umask_)) &&
      ::fchmodat(at.dirfd, at.rel.c_str(), mode, 0) != 0)
    return Errno("chmod");
  return Status::OK();
}

Result<NodeEntry> OverlayImpl::MakeNew(
    uint64_t parent, std::string_view name, const Caller& caller, uint32_t type, uint32_t mode,
    const std::function<Status(OverlayNode*, const Place&, uint32_t)>& make) {
  DirGuard guard(dir_stripes_, parent);
  struct stat st;
  {
    ReaderLock lock(mu_);
    ASSIGN_OR_RETURN(OverlayNode * dir, DirLocked(parent));
    ASSIGN_OR_RETURN(std::string rel, PrepareNewLocked(dir, name));
    const size_t slash = rel.rfind('/');
    uint64_t dir_info = CreateInfo(dir, slash == std::string::npos ? "" : rel.substr(0, slash));
    if (type == S_IFLNK) dir_info &= ~kDirInfoDefaultAcl;  // a symlink has no permissions to decide
    const uint32_t made_mode = (dir_info & kDirInfoDefaultAcl) ? mode : mode & ~(caller.umask & 0777);
    RETURN_IF_ERROR(PlaceNewLocked(rel, [&](const Place& at) {
      RETURN_IF_ERROR(make(dir, at, made_mode));
      return SetNewOwnerAndMode(at, caller, type, made_mode, dir_info);
    }));
    if (::fstatat(upper_fd_.get(), rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Errno("stat");
  }
  WriterLock lock(mu_);
  ASSIGN_OR_RETURN(OverlayNode * dir, DirLocked(parent));
  OverlayNode* n;
  if (auto it = dir->children.find(name); it != dir->children.end()) {
    n = it->second;  // a lookup from outside the kernel found it first
  } else {
    n = AddChildLocked(dir, name);
    n->upper = true;
    n->type = st.st_mode & S_IFMT;
    n->ino = InoForHost(st);
    // A directory made where a lower entry was deleted is opaque (see Mkdir).
    n->opaque = n->type == S_IFDIR && LowerHasLocked(dir, name);
  }
  ++n->lookups;
  st.st_ino = n->ino;
  ChangedLocked(dir);
  return NodeEntry{n->id, st};
}

Result<NodeEntry> OverlayImpl::Mknod(uint64_t parent, std::string_view name, uint32_t mode, dev_t rdev,
                                     const Caller& caller) {
  return MakeNew(
      parent, name, caller, mode & S_IFMT, mode, [&](OverlayNode*, const Place& at, uint32_t made) {
        return ::mknodat(at.dirfd, at.rel.c_str(), made, rdev) == 0 ? Status::OK() : Errno("mknod");
      });
}

Result<NodeEntry> OverlayImpl::Mkdir(uint64_t parent, std::string_view name, uint32_t mode,
                                     const Caller& caller) {
  // Called by MakeNew under the shared lock.
  return MakeNew(parent, name, caller, S_IFDIR, mode,
                 [&](OverlayNode* dir, const Place& at, uint32_t made) REQUIRES_SHARED(mu_) {
                   if (::mkdirat(at.dirfd, at.rel.c_str(), made & 07777) != 0) return Errno("mkdir");
                   // A directory made where a lower entry was deleted must not show that entry's old
                   // contents.
                   return LowerHasLocked(dir, name) ? upper::SetOpaque(at.abs) : Status::OK();
                 });
}

Result<NodeEntry> OverlayImpl::Symlink(uint64_t parent, std::string_view name, std::string_view target,
                                       const Caller& caller) {
  return MakeNew(parent, name, caller, S_IFLNK, 0777, [&](OverlayNode*, const Place& at, uint32_t) {
    return ::symlinkat(std::string(target).c_str(), at.dirfd, at.rel.c_str()) == 0 ? Status::OK()
                                                                                   : Errno("symlink");
  });
}

Result<std::pair<NodeEntry, std::unique_ptr<OpenFile>>> OverlayImpl::Create(uint64_t parent,
                                                                            std::string_view name,
                                                                            uint32_t mode, int flags,
                                                                            const Caller& caller) {
  UniqueFd fd;
  ASSIGN_OR_RETURN(
      NodeEntry entry,
      MakeNew(parent, name, caller, S_IFREG, mode, [&](OverlayNode*, const Place& at, uint32_t made) {
        fd = UniqueFd(
            ::openat(at.dirfd, at.rel.c_str(), (flags & ~O_NOCTTY) | O_CREAT | O_EXCL | O_CLOEXEC, made));
        return fd.valid() ? Status::OK() : Errno("create");
      }));
  return std::make_pair(entry, std::unique_ptr<OpenFile>(new UpperOpenFile(fd.Release())));
}

Result<NodeEntry> OverlayImpl::CreateUnnamed(uint64_t parent, uint32_t mode, const Caller& caller) {
  RETURN_IF_ERROR(RequireWritable());
  WriterLock lock(mu_);
  ASSIGN_OR_RETURN(OverlayNode * dir, DirLocked(parent));
  // Made straight in the work directory as an orphan: it has no name to show.
  const std::string name = "orphan-" + std::to_string(next_id_);
  mode &= ~(caller.umask & 0777);  // made in the work directory: no default ACL to inherit there
  UniqueFd fd(::openat(work_fd_.get(), name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777));
  if (!fd.valid()) return Errno("create");
  struct stat st;
  if (::fchown(fd.get(), caller.uid, caller.gid) != 0 ||
      (((mode & (S_ISUID | S_ISGID)) || (mode & 07777 & process_umask_)) &&
       ::fchmod(fd.get(), mode & 07777) != 0) ||
      ::fstat(fd.get(), &st) != 0) {
    Status err = Errno("create");
    ::unlinkat(work_fd_.get(), name.c_str(), 0);
    return err;
  }
  auto node = std::make_unique<OverlayNode>();  // not in dir->children: nothing can look it up
  OverlayNode* n = node.get();
  n->id = next_id_++;
  n->parent = dir;
  ++dir->kids;
  nodes_.emplace(n->id, std::move(node));
  n->removed = true;
  n->orphan = name;
  n->type = S_IFREG;
  n->ino = InoForHost(st);
  n->lookups = 1;
  st.st_ino = n->ino;
  return NodeEntry{n->id, st};
}

Result<NodeEntry> OverlayImpl::Link(uint64_t id, uint64_t new_parent, std::string_view new_name) {
  RETURN_IF_ERROR(RequireWritable());
  DirGuard guard(dir_stripes_, new_parent);
  OverlayNode* n;
  {
    ReaderLock lock(mu_);
    ASSIGN_OR_RETURN(n, GetLocked(id));
    // A removed file can be named again only while its data lives on (O_TMPFILE, linkat).
    if (n->removed && n->orphan.empty()) return Status::Posix(ENOENT, "removed");
    if (n->type == S_IFDIR) return Status::Posix(EPERM, "hard link to a directory");
  }
  RETURN_IF_ERROR(CopyUp(n));  // overlayfs links the upper copy
  struct stat st;
  {
    // Adding a name moves no other: the shared lock and the stripe will do (see MakeNew).
    ReaderLock lock(mu_);
    ASSIGN_OR_RETURN(OverlayNode * dir, DirLocked(new_parent));
    if (!HasUpperDataLocked(n)) return Status::Posix(ENOENT, "removed");
    ASSIGN_OR_RETURN(std::string rel, PrepareNewLocked(dir, new_name));
    const HostPath from = UpperPathLocked(n);
    RETURN_IF_ERROR(PlaceNewLocked(rel, [&](const Place& at) {
      return ::linkat(from.dirfd, from.rel.c_str(), at.dirfd, at.rel.c_str(), 0) == 0 ? Status::OK()
                                                                                      : Errno("link");
    }));
    if (::fstatat(upper_fd_.get(), rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Errno("stat");
  }
  WriterLock lock(mu_);
  ASSIGN_OR_RETURN(OverlayNode * dir, DirLocked(new_parent));
  const std::pair<dev_t, ino_t> host{st.st_dev, st.st_ino};
  st.st_ino = n->ino;
  if (n->removed) {  // an orphan named again: the node itself takes the name, the orphan goes
    if (::unlinkat(work_fd_.get(), n->orphan.c_str(), 0) == 0) --st.st_nlink;
    n->orphan.clear();
    n->removed = false;
    n->upper = true;
    ReparentLocked(n, dir);
    n->name = std::string(new_name);
    dir->children[n->name] = n;
    ++n->lookups;
    ChangedLocked(dir);
    return NodeEntry{n->id, st};
  }
  host_inos_[host] = n->ino;
  // The new name joins the node: the kernel then keeps one inode, with one set
  // of attributes and one page cache, for both names, as for any hardlink.
  if (auto it = dir->children.find(new_name); it != dir->children.end()) {
    RemoveNameLocked(it->second, dir, new_name);  // a stale entry (the name was free on disk)
  }
  AddAliasLocked(n, dir, new_name);
  ++n->lookups;
  NoteLinkedLocked(n, host);
  ChangedLocked(dir);
  return NodeEntry{n->id, st};
}

Status OverlayImpl::Unlink(uint64_t parent, std::string_view name) {
  DirGuard guard(dir_stripes_, parent);
  WriterLock lock(mu_);
  RETURN_IF_ERROR(RequireWritable());
  ASSIGN_OR_RETURN(OverlayNode * dir, DirLocked(parent));
  ASSIGN_OR_RETURN(OverlayNode * n, ChildLocked(dir, name));
  if (n->type == S_IFDIR) return Status::Posix(EISDIR, "is a directory");
  RETURN_IF_ERROR(CopyUpDirsLocked(dir));
  std::string rel = ChildRel(dir, name);
  // The data outlives a name that is not the node's last one anyway.
  if (n->aliases.empty()) RETURN_IF_ERROR(KeepIfReferencedLocked(n, rel));
  if (LowerHasLocked(dir, name)) {
    RETURN_IF_ERROR(WhiteoutLocked(rel));  // replaces the upper copy, if any, in one rename
  } else if (::unlinkat(upper_fd_.get(), rel.c_str(), 0) != 0) {
    return Errno("unlink");
  }
  RemoveNameLocked(n, dir, name);
  return Status::OK();
}

Status OverlayImpl::Rmdir(uint64_t parent, std::string_view name) {
  DirGuard guard(dir_stripes_, parent);
  WriterLock lock(mu_);
  RETURN_IF_ERROR(RequireWritable());
  ASSIGN_OR_RETURN(OverlayNode * dir, DirLocked(parent));
  ASSIGN_OR_RETURN(OverlayNode * n, ChildLocked(dir, name));
  if (n->type != S_IFDIR) return Status::Posix(ENOTDIR, "not a directory");
  if (n == dir || !n->parent) return Status::Posix(EBUSY, "root");
  ASSIGN_OR_RETURN(auto children, MergedChildrenLocked(n));
  if (!children.empty()) return Status::Posix(ENOTEMPTY, "directory not empty");
  RETURN_IF_ERROR(CopyUpDirsLocked(dir));
  std::string rel = ChildRel(dir, name);
  if (n->upper) {
    RETURN_IF_ERROR(ClearWhiteoutsLocked(rel));
    if (::unlinkat(upper_fd_.get(), rel.c_str(), AT_REMOVEDIR) != 0) return Errno("rmdir");
  }
  if (LowerHasLocked(dir, name)) RETURN_IF_ERROR(WhiteoutLocked(rel));
  DetachLocked(n);
  return Status::OK();
}

Status OverlayImpl::Rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                           std::string_view new_name, unsigned flags) {
  RETURN_IF_ERROR(RequireWritable());
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) return Status::Posix(EINVAL, "unsupported rename flags");
  const bool exchange = flags & RENAME_EXCHANGE;
  DirGuard guard(dir_stripes_, parent, new_parent);
  // Data copy-ups first, without the lock.
  for (auto [p, n] : {std::pair{parent, name}, std::pair{new_parent, new_name}}) {
    OverlayNode* node = nullptr;
    {
      WriterLock lock(mu_);
      ASSIGN_OR_RETURN(OverlayNode * dir, DirLocked(p));
      if (auto found = ChildLocked(dir, n); found.ok()) node = *found;
    }
    if (node && node->type != S_IFDIR) RETURN_IF_ERROR(CopyUp(node));
    if (!exchange) break;  // a replaced target is never copied up
  }

  WriterLock lock(mu_);
  ASSIGN_OR_RETURN(OverlayNode * dir, DirLocked(parent));
  ASSIGN_OR_RETURN(OverlayNode * ndir, DirLocked(new_parent));
  ASSIGN_OR_RETURN(OverlayNode * src, ChildLocked(dir, name));
  OverlayNode* dst = nullptr;
  if (auto found = ChildLocked(ndir, new_name); found.ok()) {
    dst = *found;
  } else if (found.status().ToErrno() != ENOENT) {
    return found.status();
  }
  if (src == dst) return Status::OK();
  RETURN_IF_ERROR(CheckRenameLocked(dir, src, ndir, dst, flags));
  RETURN_IF_ERROR(CopyUpDirsLocked(dir));
  RETURN_IF_ERROR(CopyUpDirsLocked(ndir));
  // A directory merged with a lower one moves with a redirect to its origin (redirect_dir).
  if (src->type == S_IFDIR && src->lower) RETURN_IF_ERROR(RedirectForMoveLocked(src, dir, ndir));
  if (exchange && dst->type == S_IFDIR && dst->lower) RETURN_IF_ERROR(RedirectForMoveLocked(dst, ndir, dir));
  const std::string old_rel = ChildRel(dir, name), new_rel = ChildRel(ndir, new_name);
  if (exchange) {
    // A directory of the upper layer alone landing on a lower entry's name
    // must hide it (overlayfs marks it opaque, as for a plain move).
    const bool src_opaque = NeedsOpaqueForMoveLocked(src, ndir, new_name);
    const bool dst_opaque = NeedsOpaqueForMoveLocked(dst, dir, name);
    if (src_opaque) RETURN_IF_ERROR(upper::SetOpaque(Abs(ChildRel(dir, name))));
    if (dst_opaque) RETURN_IF_ERROR(upper::SetOpaque(Abs(ChildRel(ndir, new_name))));
    if (::renameat2(upper_fd_.get(), old_rel.c_str(), upper_fd_.get(), new_rel.c_str(), RENAME_EXCHANGE) !=
        0) {
      return Errno("rename");
    }
    src->opaque = src->opaque || src_opaque;
    dst->opaque = dst->opaque || dst_opaque;
    MoveNameLocked(src, dir, name, ndir, new_name);
    MoveNameLocked(dst, ndir, new_name, dir, name);
  } else {
    RETURN_IF_ERROR(MoveLocked(dir, name, src, ndir, new_name, dst));
  }
  ChangedLocked(dir);
  ChangedLocked(ndir);
  return Status::OK();
}

// What rename(2) refuses, errno for errno as overlayfs answers.
Status OverlayImpl::CheckRenameLocked(OverlayNode* dir, OverlayNode* src, OverlayNode* ndir, OverlayNode* dst,
                                      unsigned flags) {
  const bool exchange = flags & RENAME_EXCHANGE;
  if ((flags & RENAME_NOREPLACE) && dst) return Status::Posix(EEXIST, "target exists");
  if (exchange && !dst) return Status::Posix(ENOENT, "no target to exchange with");
  const bool src_dir = src->type == S_IFDIR, dst_dir = dst && dst->type == S_IFDIR;
  if (src_dir && IsAncestor(src, ndir)) return Status::Posix(EINVAL, "move into itself");
  if (exchange && dst_dir && IsAncestor(dst, dir)) return Status::Posix(EINVAL, "move into itself");
  if (dst && !exchange) {
    if (src_dir && !dst_dir) return Status::Posix(ENOTDIR, "target is not a directory");
    if (!src_dir && dst_dir) return Status::Posix(EISDIR, "target is a directory");
    if (dst_dir) {
      ASSIGN_OR_RETURN(auto children, MergedChildrenLocked(dst));
      if (!children.empty()) return Status::Posix(ENOTEMPTY, "target directory not empty");
    }
  }
  return Status::OK();
}

// dir/name (src) becomes ndir/new_name, replacing dst if any: whiteouts and
// opaque marks as overlayfs leaves them, the old name whited out when a lower
// entry is below it.
Status OverlayImpl::MoveLocked(OverlayNode* dir, std::string_view name, OverlayNode* src, OverlayNode* ndir,
                               std::string_view new_name, OverlayNode* dst) {
  const std::string old_rel = ChildRel(dir, name), new_rel = ChildRel(ndir, new_name);
  const bool dst_dir = dst && dst->type == S_IFDIR;
  const bool src_below = LowerHasLocked(dir, name);
  if (dst_dir && dst->upper) RETURN_IF_ERROR(ClearWhiteoutsLocked(new_rel));
  if (dst && !dst_dir && dst->aliases.empty()) RETURN_IF_ERROR(KeepIfReferencedLocked(dst, new_rel));
  // A directory landing on a lower one's name must hide it from the moment it
  // lands; one with a redirect merges with its origin only, and needs no mark.
  const bool needs_opaque = NeedsOpaqueForMoveLocked(src, ndir, new_name);
  if (needs_opaque) RETURN_IF_ERROR(upper::SetOpaque(Abs(old_rel)));
  struct stat target;
  const bool onto_whiteout = !dst &&
                             ::fstatat(upper_fd_.get(), new_rel.c_str(), &target, AT_SYMLINK_NOFOLLOW) == 0 &&
                             upper::IsWhiteout(target);
  bool old_holds_whiteout = false;
  if (onto_whiteout) {
    ASSIGN_OR_RETURN(old_holds_whiteout,
                     MoveOntoWhiteout(upper_fd_.get(), old_rel, upper_fd_.get(), new_rel));
  } else if (::renameat(upper_fd_.get(), old_rel.c_str(), upper_fd_.get(), new_rel.c_str()) != 0) {
    return Errno("rename");
  }
  if (old_holds_whiteout) {  // the old name keeps it if it needs one
    if (!src_below && ::unlinkat(upper_fd_.get(), old_rel.c_str(), 0) != 0) return Errno("rename");
  } else {
    if (!dst) upper::RemoveWhiteoutFile(upper_fd_.get(), new_rel);  // hidden by the entry anyway
    if (src_below) RETURN_IF_ERROR(WhiteoutLocked(old_rel));
  }
  if (needs_opaque) src->opaque = true;
  if (dst) RemoveNameLocked(dst, ndir, new_name);
  MoveNameLocked(src, dir, name, ndir, new_name);
  return Status::OK();
}

bool OverlayImpl::NeedsOpaqueForMoveLocked(const OverlayNode* n, const OverlayNode* ndir,
                                           std::string_view new_name) const {
  return n->type == S_IFDIR && !n->lower && !n->opaque && LowerHasLocked(ndir, new_name);
}

std::string OverlayImpl::OriginLocked(const OverlayNode* n) const {
  if (n->id == kRootNode || !n->parent) return "";
  const std::string redirect = n->upper ? upper::ReadRedirect(AbsPathLocked(n)) : "";
  if (!redirect.empty() && redirect[0] == '/') return redirect.substr(1);
  const std::string parent = OriginLocked(n->parent);
  const std::string& name = redirect.empty() ? n->name : redirect;
  return parent.empty() ? name : parent + "/" + name;
}

Status OverlayImpl::RedirectForMoveLocked(OverlayNode* n, OverlayNode* dir, OverlayNode* ndir) {
  RETURN_IF_ERROR(CopyUpDirsLocked(n));
  const std::string abs = AbsPathLocked(n);
  const std::string existing = upper::ReadRedirect(abs);
  const bool same_dir = dir == ndir;
  if (!existing.empty() && (same_dir || existing[0] == '/')) return Status::OK();
  const std::string redirect = same_dir ? n->name : "/" + OriginLocked(n);
  if (!upper::SetRedirect(abs, redirect).ok()) {
    return Status::Posix(EXDEV, "cannot record where the directory's lower contents are");
  }
  return Status::OK();
}

Result<OverlayNode*> OverlayImpl::CopiedUp(uint64_t id, bool with_data) {
  RETURN_IF_ERROR(RequireWritable());
  OverlayNode* n;
  {
    ReaderLock lock(mu_);
    ASSIGN_OR_RETURN(n, GetLocked(id));
  }
  RETURN_IF_ERROR(CopyUp(n, with_data));
  return n;
}

Result<struct stat> OverlayImpl::SetAttr(uint64_t id, const AttrChange& change, int fd) {
  const bool to_empty = (change.mask & AttrChange::kSize) && change.size == 0;
  ASSIGN_OR_RETURN(OverlayNode * n, CopiedUp(id, /*with_data=*/!to_empty));
  RETURN_IF_ERROR(ApplyAttrChange(n, change, fd));
  return GetAttr(id);
}

Status OverlayImpl::ApplyAttrChange(OverlayNode* n, const AttrChange& change, int fd) {
  ReaderLock lock(mu_);  // keeps the path; the kernel makes one change to a node at a time
  n->create_info.store(0, std::memory_order_release);  // its setgid bit or group may change
  const HostPath where = UpperPathLocked(n);
  const std::string& rel = where.rel;
  const int ufd = where.dirfd;
  if (change.mask & (AttrChange::kUid | AttrChange::kGid)) {
    uid_t uid = (change.mask & AttrChange::kUid) ? change.uid : static_cast<uid_t>(-1);
    gid_t gid = (change.mask & AttrChange::kGid) ? change.gid : static_cast<gid_t>(-1);
    if (::fchownat(ufd, rel.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) return Errno("chown");
  }
  if ((change.mask & AttrChange::kMode) && n->type != S_IFLNK &&
      ::fchmodat(ufd, rel.c_str(), change.mode & 07777, 0) != 0) {
    return Errno("chmod");
  }
  // The host's chown (by this privileged process) clears the bits itself;
  // a write or truncate by it would keep them.
  if ((change.mask & AttrChange::kKillSuidgid) && n->type == S_IFREG &&
      !(change.mask & (AttrChange::kUid | AttrChange::kGid | AttrChange::kMode))) {
    struct stat st;
    if (::fstatat(ufd, rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Errno("stat");
    mode_t mode = st.st_mode & 07777;
    if ((mode & (S_ISUID | S_ISGID)) && !(change.caller_has_fsetid && change.caller_has_fsetid())) {
      mode &= ~S_ISUID;
      if ((mode & S_ISGID) &&
          ((mode & S_IXGRP) || (change.caller_in_group && !change.caller_in_group(st.st_gid)))) {
        mode &= ~S_ISGID;
      }
    }
    if (mode != (st.st_mode & 07777) && ::fchmodat(ufd, rel.c_str(), mode, 0) != 0) return Errno("chmod");
  }
  if (change.mask & AttrChange::kSize) {
    if (n->type == S_IFDIR) return Status::Posix(EISDIR, "is a directory");
    UniqueFd own;
    if (fd < 0) {
      own = UniqueFd(::openat(ufd, rel.c_str(), O_WRONLY | O_CLOEXEC));
      if (!own.valid()) return Errno("truncate");
      fd = own.get();
    }
    if (::ftruncate(fd, static_cast<off_t>(change.size)) != 0) return Errno("truncate");
  }
  if (change.mask & (AttrChange::kAtime | AttrChange::kMtime)) {
    struct timespec times[2] = {change.atime, change.mtime};
    if (!(change.mask & AttrChange::kAtime)) times[0].tv_nsec = UTIME_OMIT;
    if (!(change.mask & AttrChange::kMtime)) times[1].tv_nsec = UTIME_OMIT;
    if (::utimensat(ufd, rel.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) return Errno("utimens");
  }
  return Status::OK();
}

Status OverlayImpl::SetXattr(uint64_t id, const std::string& name, std::string_view value, int flags) {
  RETURN_IF_ERROR(RequireWritable());
  if (upper::IsPrivateXattr(name)) return Status::Posix(EPERM, "overlay attribute");
  ASSIGN_OR_RETURN(OverlayNode * n, CopiedUp(id));
  ReaderLock lock(mu_);
  n->create_info.store(0, std::memory_order_release);  // a default ACL may come
  if (::lsetxattr(AbsPathLocked(n).c_str(), name.c_str(), value.data(), value.size(), flags) != 0) {
    return Errno("setxattr");
  }
  return Status::OK();
}

Status OverlayImpl::RemoveXattr(uint64_t id, const std::string& name) {
  RETURN_IF_ERROR(RequireWritable());
  if (upper::IsPrivateXattr(name)) return Status::Posix(ENODATA, "no such attribute");
  ASSIGN_OR_RETURN(OverlayNode * n, CopiedUp(id));
  ReaderLock lock(mu_);
  n->create_info.store(0, std::memory_order_release);  // a default ACL may go
  if (::lremovexattr(AbsPathLocked(n).c_str(), name.c_str()) != 0) return Errno("removexattr");
  return Status::OK();
}

}  // namespace strata
