// The FUSE low-level operations: each one a thin translation to OverlayFs,
// with fuse-overlayfs's id mapping applied at the boundary.
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <vector>

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
  return {D(req).ids.HostUid(ctx->uid), D(req).ids.HostGid(ctx->gid)};
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

strata::OpenFile* FileOf(fuse_file_info* fi) {
  return reinterpret_cast<strata::OpenFile*>(fi->fh);
}

void OpInit(void* userdata, fuse_conn_info* conn) {
  auto* d = static_cast<Daemon*>(userdata);
  for (unsigned cap : {FUSE_CAP_SPLICE_WRITE, FUSE_CAP_SPLICE_MOVE, FUSE_CAP_SPLICE_READ,
                       FUSE_CAP_READDIRPLUS, FUSE_CAP_CACHE_SYMLINKS}) {
    if (conn->capable & cap) conn->want |= cap;
  }
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  // Locks stay in the kernel: this mount is the only way to the files.
  conn->want &= ~(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
  if (d->fs->writable() && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
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

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  auto st = Fs(req).GetAttr(ino);
  if (Failed(req, st)) return;
  D(req).ids.Present(&*st);
  fuse_reply_attr(req, &*st, D(req).timeout);
}

void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
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
  int fd = fi ? FileOf(fi)->CurrentFd() : -1;
  auto st = Fs(req).SetAttr(ino, c, fd);
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

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto file = Fs(req).OpenNode(ino, fi->flags);
  if (Failed(req, file)) return;
  fi->keep_cache = 1;  // the page cache stays right: every write comes through this mount
  fi->fh = reinterpret_cast<uint64_t>(file->release());
  fuse_reply_open(req, fi);
}

void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  auto created = Fs(req).Create(parent, name, mode, fi->flags, CallerOf(req));
  if (Failed(req, created)) return;
  fuse_entry_param p = ToEntry(req, created->first);
  fi->fh = reinterpret_cast<uint64_t>(created->second.release());
  fuse_reply_create(req, &p, fi);
}

void OpRead(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  int fd = FileOf(fi)->CurrentFd();
  if (fd < 0) return (void)fuse_reply_buf(req, nullptr, 0);  // an empty lower file
  fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
  buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  buf.buf[0].fd = fd;
  buf.buf[0].pos = off;
  fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void OpWriteBuf(fuse_req_t req, fuse_ino_t, fuse_bufvec* in, off_t off, fuse_file_info* fi) {
  fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
  out.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  out.buf[0].fd = FileOf(fi)->CurrentFd();
  out.buf[0].pos = off;
  ssize_t n = fuse_buf_copy(&out, in, FUSE_BUF_SPLICE_NONBLOCK);
  if (n < 0) return (void)fuse_reply_err(req, static_cast<int>(-n));
  fuse_reply_write(req, static_cast<size_t>(n));
}

void OpFlush(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
  fuse_reply_err(req, 0);
}

void OpRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete FileOf(fi);
  fuse_reply_err(req, 0);
}

void OpFsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  fuse_reply_err(req, Fs(req).Fsync(FileOf(fi)->CurrentFd(), datasync != 0).ToErrno());
}

void OpFallocate(fuse_req_t req, fuse_ino_t, int mode, off_t off, off_t len, fuse_file_info* fi) {
  int fd = FileOf(fi)->CurrentFd();
  fuse_reply_err(req, ::fallocate(fd, mode, off, len) == 0 ? 0 : errno);
}

// A directory handle. The merged listing is taken on the first readdir that
// reaches us (with the kernel's readdir cache warm, none does) and kept, so
// offsets stay put. No lock: the kernel never runs two readdirs on one open
// directory at once. And nothing may touch the handle after the reply: the
// reply lets the kernel send releasedir, which another worker may run at once.
struct DirHandle {
  bool loaded = false;
  std::vector<OverlayFs::Child> children;
};

// The kernel sends opendir only for directories, so there is nothing to check
// here: a stale node fails on the first readdir that reaches us.
void OpOpendir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  fi->fh = reinterpret_cast<uint64_t>(new DirHandle);
  fi->cache_readdir = 1;  // the kernel drops it when the directory changes through this mount
  fi->keep_cache = 1;
  fuse_reply_open(req, fi);
}

// Offsets: 0 "." , 1 "..", then child i at 2 + i; each entry carries the next offset.
void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi, bool plus) {
  auto* dir = reinterpret_cast<DirHandle*>(fi->fh);
  if (!dir->loaded) {
    auto children = Fs(req).ReadDir(ino);
    if (Failed(req, children)) return;
    dir->children = std::move(*children);
    dir->loaded = true;
  }
  std::vector<char> buf(size);
  size_t used = 0;
  for (size_t i = static_cast<size_t>(off); i < dir->children.size() + 2; ++i) {
    const char* name = i == 0 ? "." : i == 1 ? ".." : dir->children[i - 2].name.c_str();
    fuse_entry_param e{};
    e.attr.st_ino = i < 2 ? ino : dir->children[i - 2].ino;
    e.attr.st_mode = i < 2 ? S_IFDIR : dir->children[i - 2].type;
    if (plus && i >= 2) {
      auto found = Fs(req).Lookup(ino, name);
      if (!found.ok()) continue;  // gone since the listing was taken
      e = ToEntry(req, *found);
    }
    size_t n = plus ? fuse_add_direntry_plus(req, buf.data() + used, size - used, name, &e,
                                             static_cast<off_t>(i + 1))
                    : fuse_add_direntry(req, buf.data() + used, size - used, name, &e.attr,
                                        static_cast<off_t>(i + 1));
    if (n > size - used) {
      if (plus && e.ino != 0) Fs(req).Forget(e.ino, 1);  // not sent: undo its lookup
      break;
    }
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  ReadDir(req, ino, size, off, fi, false);
}
void OpReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  ReadDir(req, ino, size, off, fi, true);
}
void OpReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete reinterpret_cast<DirHandle*>(fi->fh);
  fuse_reply_err(req, 0);
}
void OpFsyncdir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) {
  fuse_reply_err(req, 0);
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
  ops.flush = OpFlush;
  ops.release = OpRelease;
  ops.fsync = OpFsync;
  ops.fallocate = OpFallocate;
  ops.opendir = OpOpendir;
  ops.readdir = OpReaddir;
  ops.readdirplus = OpReaddirplus;
  ops.releasedir = OpReleasedir;
  ops.fsyncdir = OpFsyncdir;
  ops.statfs = OpStatfs;
  ops.setxattr = OpSetxattr;
  ops.getxattr = OpGetxattr;
  ops.listxattr = OpListxattr;
  ops.removexattr = OpRemovexattr;
  return ops;
}

}  // namespace strata::fuse
