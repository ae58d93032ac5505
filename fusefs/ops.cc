// The FUSE low-level operations: each one a thin translation to OverlayFs,
// with fuse-overlayfs's id mapping applied at the boundary.
//
// There are no open files here. open and opendir answer ENOSYS, so the
// kernel stops sending open, release, opendir and releasedir at all
// (FUSE_NO_OPEN_SUPPORT, FUSE_NO_OPENDIR_SUPPORT) and keeps file pages and
// directory listings cached (its defaults then). A warm `tar c` of a tree
// then costs no round trip per file. Each read or write takes a descriptor
// on the node's current data (OverlayFs::OpenData), so every reader sees
// every write, whichever descriptor made it; copy-up happens on the first write or
// metadata change instead of at open, which nothing on the mount can tell.
//
// create answers ENOSYS too (but for O_TMPFILE, below): the kernel then makes
// a file by mknod and opens it without us, which spares the release request
// every created file would otherwise cost when it is closed.
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "device_io.h"

namespace strata::fuse {

namespace {

using strata::OverlayFs;

Daemon& D(fuse_req_t req) {
  return *static_cast<Daemon*>(fuse_req_userdata(req));
}
OverlayFs& Fs(fuse_req_t req) {
  return *D(req).fs;
}

// Replies with the errno of a failed status; returns true when it did.
template <typename T>
bool Failed(fuse_req_t req, const T& result) {
  if (result.ok()) return false;
  fuse_reply_err(req, result.status().ToErrno());
  return true;
}

strata::Caller CallerOf(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  return {D(req).ids.HostUid(ctx->uid), D(req).ids.HostGid(ctx->gid), ctx->umask};
}

fuse_entry_param ToEntry(fuse_req_t req, const strata::NodeEntry& e) {
  fuse_entry_param p{};
  p.ino = e.node;
  p.attr = e.attr;
  D(req).ids.Present(&p.attr);
  p.attr_timeout = D(req).timeout;
  p.entry_timeout = D(req).timeout;
  return p;
}

void ReplyEntry(fuse_req_t req, const strata::Result<strata::NodeEntry>& e) {
  if (Failed(req, e)) return;
  fuse_entry_param p = ToEntry(req, *e);
  fuse_reply_entry(req, &p);
}

void OpInit(void* userdata, fuse_conn_info* conn) {
  auto* d = static_cast<Daemon*>(userdata);
  // Not FUSE_CAP_SPLICE_READ: libfuse would splice every request into a pipe
  // and read it back out (two calls for one); a write's data would stay in
  // the pipe, out of DeviceIo's sight and handed to another thread. Read
  // whole, 80 MiB written 4 KiB at a time took 0.63 s instead of 1.2-1.5.
  for (unsigned cap :
       {FUSE_CAP_SPLICE_WRITE, FUSE_CAP_SPLICE_MOVE, FUSE_CAP_READDIRPLUS, FUSE_CAP_CACHE_SYMLINKS}) {
    if (conn->capable & cap) conn->want |= cap;
  }
  conn->want &= ~FUSE_CAP_SPLICE_READ;
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  // POSIX ACLs as the kernel's own file systems have them: the kernel checks
  // them and caches them per inode (`ls -l` asks for system.posix_acl_access
  // once per file, not at every call); modes come unmasked with the caller's
  // umask, which OverlayFs applies unless a default ACL decides. Not with id
  // maps: an ACL names host ids.
  if (d->ids.identity() && (conn->capable & FUSE_CAP_POSIX_ACL) && (conn->capable & FUSE_CAP_DONT_MASK))
    conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
  // O_TRUNC must reach us as a setattr: there is no open to carry it.
  conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
  // Locks stay in the kernel: this mount is the only way to the files.
  conn->want &= ~(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
  // Passthrough excludes the writeback cache.
  if ((d->fs->writable() || d->passthrough) && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto e = Fs(req).Lookup(parent, name);
  if (!e.ok() && e.status().ToErrno() == ENOENT) {
    fuse_entry_param neg{};
    neg.entry_timeout = D(req).timeout;  // negative entry: the kernel learns of creations itself
    fuse_reply_entry(req, &neg);
    return;
  }
  ReplyEntry(req, e);
}

void OpForget(fuse_req_t req, fuse_ino_t ino, uint64_t n) {
  Fs(req).Forget(ino, n);
  fuse_reply_none(req);
}

void OpForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) Fs(req).Forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

bool CallerInGroup(fuse_req_t req, uint32_t host_gid) {
  const auto& ids = D(req).ids;
  if (ids.HostGid(fuse_req_ctx(req)->gid) == host_gid) return true;
  gid_t groups[256];
  const int n = fuse_req_getgroups(req, 256, groups);  // negative: unknown, so not in it
  for (int i = 0; i < std::min(n, 256); ++i) {
    if (ids.HostGid(groups[i]) == host_gid) return true;
  }
  return false;
}

// Whether the calling thread has CAP_FSETID, by its /proc status (false if
// that cannot be read: the safe answer where it decides whether to clear
// set-id bits).
bool CallerHasFsetid(fuse_req_t req) {
  char path[64], text[4096];
  std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(fuse_req_ctx(req)->pid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  if (n <= 0) return false;
  text[n] = '\0';
  const char* eff = std::strstr(text, "\nCapEff:");
  return eff && (std::strtoull(eff + 9, nullptr, 16) >> CAP_FSETID) & 1;
}

// Adds clearing set-id bits, for this request's caller, to `c`.
void AddKillSuidgid(fuse_req_t req, strata::AttrChange* c) {
  c->mask |= strata::AttrChange::kKillSuidgid;
  c->caller_in_group = [req](uint32_t gid) { return CallerInGroup(req, gid); };
}

// Clears `ino`'s set-id bits for this request's caller (asking its
// capabilities first if `ask_fsetid`); false once it has replied an error.
bool KillSetIdBits(fuse_req_t req, fuse_ino_t ino, int fd, bool ask_fsetid) {
  strata::AttrChange kill;
  AddKillSuidgid(req, &kill);
  if (ask_fsetid) kill.caller_has_fsetid = [req] { return CallerHasFsetid(req); };
  return !Failed(req, Fs(req).SetAttr(ino, kill, fd));
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  auto st = Fs(req).GetAttr(ino);
  if (Failed(req, st)) return;
  D(req).ids.Present(&*st);
  fuse_reply_attr(req, &*st, D(req).timeout);
}

void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  strata::AttrChange c;
  using A = strata::AttrChange;
  if (to_set & FUSE_SET_ATTR_MODE) c.mask |= A::kMode, c.mode = attr->st_mode;
  if (to_set & FUSE_SET_ATTR_UID) c.mask |= A::kUid, c.uid = D(req).ids.HostUid(attr->st_uid);
  if (to_set & FUSE_SET_ATTR_GID) c.mask |= A::kGid, c.gid = D(req).ids.HostGid(attr->st_gid);
  if (to_set & FUSE_SET_ATTR_SIZE) c.mask |= A::kSize, c.size = static_cast<uint64_t>(attr->st_size);
  if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)) {
    c.mask |= A::kAtime;
    c.atime = (to_set & FUSE_SET_ATTR_ATIME_NOW) ? timespec{0, UTIME_NOW} : attr->st_atim;
  }
  if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
    c.mask |= A::kMtime;
    c.mtime = (to_set & FUSE_SET_ATTR_MTIME_NOW) ? timespec{0, UTIME_NOW} : attr->st_mtim;
  }
  if (DeviceIo::KillSuidgidAsked()) AddKillSuidgid(req, &c);
  auto st = Fs(req).SetAttr(ino, c, -1);
  if (Failed(req, st)) return;
  D(req).ids.Present(&*st);
  fuse_reply_attr(req, &*st, D(req).timeout);
}

void OpReadlink(fuse_req_t req, fuse_ino_t ino) {
  auto target = Fs(req).ReadLink(ino);
  if (Failed(req, target)) return;
  fuse_reply_readlink(req, target->c_str());
}

void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  ReplyEntry(req, Fs(req).Mknod(parent, name, mode, rdev, CallerOf(req)));
}
void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  ReplyEntry(req, Fs(req).Mkdir(parent, name, mode, CallerOf(req)));
}
void OpSymlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  ReplyEntry(req, Fs(req).Symlink(parent, name, target, CallerOf(req)));
}
void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent, const char* new_name) {
  ReplyEntry(req, Fs(req).Link(ino, new_parent, new_name));
}
void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  fuse_reply_err(req, Fs(req).Unlink(parent, name).ToErrno());
}
void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  fuse_reply_err(req, Fs(req).Rmdir(parent, name).ToErrno());
}
void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
              const char* new_name, unsigned flags) {
  fuse_reply_err(req, Fs(req).Rename(parent, name, new_parent, new_name, flags).ToErrno());
}

// What fh holds: whether the open is counted in Passthrough (every open with
// -o passthrough). Nothing is kept open here: a passed-through file's backing
// file is held by the kernel, and the others are read and written by node.
enum OpenMode : uint64_t { kNotCounted = 0, kCounted = 1 };

// ENOSYS (see the top of this file), but with -o passthrough: then the file
// is opened (copied up first when opened for writing) and the kernel told to
// read and write its backing file itself.
void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Passthrough* pt = D(req).passthrough.get();
  if (!pt || !pt->enabled()) return (void)fuse_reply_err(req, ENOSYS);
  // The node's data, copied up first when opened for writing; the descriptor
  // comes from OverlayFs's cache, so opening one file again opens nothing.
  auto data = Fs(req).OpenData(ino, /*write=*/(fi->flags & O_ACCMODE) != O_RDONLY);
  if (Failed(req, data)) return;
  const int fd = (*data)->get();
  Passthrough::Grant grant;
  if (!(fd >= 0 ? pt->Acquire(ino, fd, &grant) : pt->AcquireCached(ino))) {
    return (void)fuse_reply_err(req, ETXTBSY);  // see Passthrough::Acquire
  }
  fi->fh = kCounted;
  fi->keep_cache = 0;  // a file served both ways over time: never trust old pages
  if (grant.passthrough) Passthrough::SetReplyBacking(grant.backing_id);
  if (fuse_reply_open(req, fi) != 0) pt->Release(ino);  // the opener is gone
}

// ENOSYS for a named file: see the top of this file. An O_TMPFILE request
// (named "/", see session_loop.h) has no mknod to fall back on; its file gets
// no handle: reads and writes find it by its node.
void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  if (std::string_view(name) != "/") return (void)fuse_reply_err(req, ENOSYS);
  auto made = Fs(req).CreateUnnamed(parent, mode, CallerOf(req));
  if (Failed(req, made)) return;
  fuse_entry_param p = ToEntry(req, *made);
  fi->fh = 0;
  fi->keep_cache = 1;
  Passthrough* pt = D(req).passthrough.get();
  if (pt && pt->enabled()) {  // served without passthrough, but counted (see Passthrough)
    pt->AcquireCached(made->node);
    fi->fh = kCounted;
    fi->keep_cache = 0;
  }
  fuse_reply_create(req, &p, fi);
}

void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  auto data = Fs(req).OpenData(ino, /*write=*/false);
  if (Failed(req, data)) return;
  int fd = (*data)->get();
  if (fd < 0) return (void)fuse_reply_buf(req, nullptr, 0);  // an empty lower file
  fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
  buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  buf.buf[0].fd = fd;
  buf.buf[0].pos = off;
  fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);  // spliced before it returns
}

void OpWriteBuf(fuse_req_t req, fuse_ino_t ino, fuse_bufvec* in, off_t off, fuse_file_info*) {
  auto data = Fs(req).OpenData(ino, /*write=*/true);
  if (Failed(req, data)) return;
  // Before the write, as the kernel's own file systems; the kernel flags it
  // only for a caller without CAP_FSETID.
  if (DeviceIo::KillSuidgidAsked() && !KillSetIdBits(req, ino, (*data)->get(), /*ask_fsetid=*/false)) return;
  fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
  out.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  out.buf[0].fd = (*data)->get();
  out.buf[0].pos = off;
  ssize_t n = fuse_buf_copy(&out, in, FUSE_BUF_SPLICE_NONBLOCK);
  if (n < 0) return (void)fuse_reply_err(req, static_cast<int>(-n));
  fuse_reply_write(req, static_cast<size_t>(n));
}

// Only files opened with -o passthrough are counted (see OpenMode); an
// O_TMPFILE file without the option gets a release too, with nothing to do.
void OpRelease(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (fi->fh == kCounted) D(req).passthrough->Release(ino);
  fuse_reply_err(req, 0);
}

void OpFsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info*) {
  fuse_reply_err(req, Fs(req).Fsync(ino, datasync != 0).ToErrno());
}

void OpFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, fuse_file_info*) {
  auto data = Fs(req).OpenData(ino, /*write=*/true);
  if (Failed(req, data)) return;
  // Under HANDLE_KILLPRIV_V2 the kernel leaves set-id bits to us here too,
  // but sends no flag saying whether the caller may keep them.
  auto attr = Fs(req).GetAttr(ino);
  if (Failed(req, attr)) return;
  if ((attr->st_mode & (S_ISUID | S_ISGID)) && !KillSetIdBits(req, ino, (*data)->get(), /*ask_fsetid=*/true))
    return;
  fuse_reply_err(req, ::fallocate((*data)->get(), mode, off, len) == 0 ? 0 : errno);
}

// ENOSYS: see the top of this file. The kernel then caches listings by itself.
void OpOpendir(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
  fuse_reply_err(req, ENOSYS);
}

// Offsets: 0 the start, 1 after ".", 2 after "..", then each child's cookie:
// a listing read in pieces resumes after the last entry sent even when the
// directory changed in between (see OverlayFs::ReadDir).
void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
  auto listing = Fs(req).ReadDir(ino);
  if (Failed(req, listing)) return;
  const std::vector<OverlayFs::Child>& children = **listing;
  std::vector<char> buf(size);
  size_t used = 0;
  auto add = [&](const char* name, const fuse_entry_param& e, uint64_t next) {
    size_t n =
        plus
            ? fuse_add_direntry_plus(req, buf.data() + used, size - used, name, &e, static_cast<off_t>(next))
            : fuse_add_direntry(req, buf.data() + used, size - used, name, &e.attr, static_cast<off_t>(next));
    if (n > size - used) return false;
    used += n;
    return true;
  };
  for (uint64_t dot = static_cast<uint64_t>(off); dot < 2; ++dot) {
    fuse_entry_param e{};
    e.attr.st_ino = ino;
    e.attr.st_mode = S_IFDIR;
    if (!add(dot == 0 ? "." : "..", e, dot + 1)) return (void)fuse_reply_buf(req, buf.data(), used);
  }
  auto it = std::upper_bound(children.begin(), children.end(), static_cast<uint64_t>(off),
                             [](uint64_t o, const OverlayFs::Child& c) { return o < c.cookie; });
  for (; it != children.end(); ++it) {
    fuse_entry_param e{};
    e.attr.st_ino = it->ino;
    e.attr.st_mode = it->type;
    if (plus) {
      auto found = Fs(req).Lookup(ino, it->name);
      if (!found.ok()) continue;  // gone since the listing was taken
      e = ToEntry(req, *found);
    }
    if (!add(it->name.c_str(), e, it->cookie)) {
      if (plus) Fs(req).Forget(e.ino, 1);  // not sent: undo its lookup
      break;
    }
  }
  fuse_reply_buf(req, buf.data(), used);
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  ReadDir(req, ino, size, off, false);
}
void OpReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  ReadDir(req, ino, size, off, true);
}
void OpFsyncdir(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  fuse_reply_err(req, Fs(req).FsyncDir(ino).ToErrno());
}

void OpStatfs(fuse_req_t req, fuse_ino_t) {
  auto st = Fs(req).StatFs();
  if (Failed(req, st)) return;
  fuse_reply_statfs(req, &*st);
}

void OpSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size, int flags) {
  fuse_reply_err(req, Fs(req).SetXattr(ino, name, std::string_view(value, size), flags).ToErrno());
}

void OpGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  auto value = Fs(req).GetXattr(ino, name);
  if (Failed(req, value)) return;
  if (size == 0) return (void)fuse_reply_xattr(req, value->size());
  if (size < value->size()) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, value->data(), value->size());
}

void OpListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  auto names = Fs(req).ListXattr(ino);
  if (Failed(req, names)) return;
  std::string all;
  for (const auto& n : *names) all.append(n).push_back('\0');
  if (size == 0) return (void)fuse_reply_xattr(req, all.size());
  if (size < all.size()) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, all.data(), all.size());
}

void OpRemovexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  fuse_reply_err(req, Fs(req).RemoveXattr(ino, name).ToErrno());
}

}  // namespace

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops{};
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = OpGetattr;
  ops.setattr = OpSetattr;
  ops.readlink = OpReadlink;
  ops.mknod = OpMknod;
  ops.mkdir = OpMkdir;
  ops.symlink = OpSymlink;
  ops.link = OpLink;
  ops.unlink = OpUnlink;
  ops.rmdir = OpRmdir;
  ops.rename = OpRename;
  ops.open = OpOpen;
  ops.create = OpCreate;
  ops.read = OpRead;
  ops.write_buf = OpWriteBuf;
  ops.release = OpRelease;
  ops.fsync = OpFsync;
  ops.fallocate = OpFallocate;
  ops.opendir = OpOpendir;
  ops.readdir = OpReaddir;
  ops.readdirplus = OpReaddirplus;
  ops.fsyncdir = OpFsyncdir;
  ops.statfs = OpStatfs;
  ops.setxattr = OpSetxattr;
  ops.getxattr = OpGetxattr;
  ops.listxattr = OpListxattr;
  ops.removexattr = OpRemovexattr;
  return ops;
}

}  // namespace strata::fuse
