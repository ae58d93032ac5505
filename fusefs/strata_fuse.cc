// strata-fuse: the FUSE daemon. A thin translation from FUSE low-level
// operations to strata::UnionView; every semantic lives in the library.
//
//   strata-fuse --root ROOT --image IMAGE [-f] [--allow-other] MOUNTPOINT
//
// Returns once the mount is live (unless -f), like fuse-overlayfs.
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "strata/strata.h"

namespace {

using strata::NodeAttr;
using strata::UnionView;

// Layers never change, so the kernel may cache everything for as long as it likes.
constexpr double kForever = 86400.0 * 365;
constexpr uint64_t kNoFile = UINT64_MAX;  // fh of an empty file: nothing to read

struct Fs {
  std::unique_ptr<strata::Store> store;
  std::unique_ptr<UnionView> view;
};

const UnionView& View(fuse_req_t req) {
  return *static_cast<Fs*>(fuse_req_userdata(req))->view;
}

struct stat ToStat(const NodeAttr& a) {
  struct stat st {};
  st.st_ino = a.node;
  st.st_mode = a.mode;
  st.st_nlink = a.nlink;
  st.st_uid = a.uid;
  st.st_gid = a.gid;
  st.st_size = static_cast<off_t>(a.size);
  st.st_blksize = 4096;
  st.st_blocks = static_cast<blkcnt_t>((a.size + 511) / 512);
  st.st_mtim = {a.mtime_sec, static_cast<long>(a.mtime_nsec)};
  st.st_atim = st.st_mtim;
  st.st_ctim = st.st_mtim;
  st.st_rdev = makedev(a.rdev_major, a.rdev_minor);
  return st;
}

bool FillEntry(const UnionView& view, fuse_ino_t ino, fuse_entry_param* e) {
  auto attr = view.GetAttr(ino);
  if (!attr.ok()) return false;
  *e = {};
  e->ino = ino;
  e->attr = ToStat(*attr);
  e->attr_timeout = kForever;
  e->entry_timeout = kForever;
  return true;
}

void OpInit(void*, fuse_conn_info* conn) {
  for (unsigned cap :
       {FUSE_CAP_SPLICE_WRITE, FUSE_CAP_SPLICE_MOVE, FUSE_CAP_CACHE_SYMLINKS, FUSE_CAP_READDIRPLUS}) {
    if (conn->capable & cap) conn->want |= cap;
  }
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;  // always plus: attributes are free here
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  const UnionView& view = View(req);
  auto node = view.Lookup(parent, name);
  fuse_entry_param e{};
  if (!node.ok()) {
    int err = node.status().ToErrno();
    if (err != ENOENT) return (void)fuse_reply_err(req, err);
    e.entry_timeout = kForever;  // a negative entry: absent now, absent forever
    return (void)fuse_reply_entry(req, &e);
  }
  if (!FillEntry(view, *node, &e)) return (void)fuse_reply_err(req, EIO);
  fuse_reply_entry(req, &e);
}

void OpForget(fuse_req_t req, fuse_ino_t, uint64_t) {
  fuse_reply_none(req);
}
void OpForgetMulti(fuse_req_t req, size_t, fuse_forget_data*) {
  fuse_reply_none(req);
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  auto attr = View(req).GetAttr(ino);
  if (!attr.ok()) return (void)fuse_reply_err(req, attr.status().ToErrno());
  struct stat st = ToStat(*attr);
  fuse_reply_attr(req, &st, kForever);
}

void OpReadlink(fuse_req_t req, fuse_ino_t ino) {
  auto target = View(req).ReadLink(ino);
  if (!target.ok()) return (void)fuse_reply_err(req, target.status().ToErrno());
  fuse_reply_readlink(req, target->c_str());
}

void OpOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto children = View(req).Children(ino);
  if (!children.ok()) return (void)fuse_reply_err(req, children.status().ToErrno());
  fi->cache_readdir = 1;
  fi->keep_cache = 1;
  fuse_reply_open(req, fi);
}

// Offsets: 0 "." , 1 "..", then child i at 2 + i; each entry carries the next offset.
void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
  const UnionView& view = View(req);
  auto children = view.Children(ino);
  if (!children.ok()) return (void)fuse_reply_err(req, children.status().ToErrno());
  std::vector<char> buf(size);
  size_t used = 0;
  for (size_t i = static_cast<size_t>(off); i < (*children)->size() + 2; ++i) {
    const char* name = i == 0 ? "." : i == 1 ? ".." : (**children)[i - 2].name.c_str();
    fuse_ino_t child = i < 2 ? ino : (**children)[i - 2].node;
    fuse_entry_param e{};
    size_t n;
    if (plus) {
      if (i >= 2 && !FillEntry(view, child, &e)) return (void)fuse_reply_err(req, EIO);
      if (i < 2) {  // e.ino stays 0: no lookup count for "." and ".."; readers skip d_ino 0
        e.attr.st_ino = ino;
        e.attr.st_mode = S_IFDIR;
      }
      n = fuse_add_direntry_plus(req, buf.data() + used, size - used, name, &e, static_cast<off_t>(i + 1));
    } else {
      auto attr = view.GetAttr(child);
      e.attr.st_ino = child;
      e.attr.st_mode = attr.ok() ? attr->mode : S_IFREG;
      n = fuse_add_direntry(req, buf.data() + used, size - used, name, &e.attr, static_cast<off_t>(i + 1));
    }
    if (n > size - used) break;
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  ReadDir(req, ino, size, off, false);
}
void OpReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  ReadDir(req, ino, size, off, true);
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) return (void)fuse_reply_err(req, EROFS);
  auto path = View(req).ContentPath(ino);
  if (!path.ok()) return (void)fuse_reply_err(req, path.status().ToErrno());
  fi->fh = kNoFile;
  if (!path->empty()) {
    int fd = ::open(path->c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return (void)fuse_reply_err(req, errno);
    fi->fh = static_cast<uint64_t>(fd);
  }
  fi->keep_cache = 1;  // blobs never change: keep the page cache across opens
  fuse_reply_open(req, fi);
}

void OpRead(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  if (fi->fh == kNoFile) return (void)fuse_reply_buf(req, nullptr, 0);
  fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
  buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  buf.buf[0].fd = static_cast<int>(fi->fh);
  buf.buf[0].pos = off;
  fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);  // spliced from the blob file, no copy
}

void OpRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  if (fi->fh != kNoFile) ::close(static_cast<int>(fi->fh));
  fuse_reply_err(req, 0);
}

void OpStatfs(fuse_req_t req, fuse_ino_t) {
  Fs* fs = static_cast<Fs*>(fuse_req_userdata(req));
  struct statvfs st {};
  if (::statvfs(fs->store->root().c_str(), &st) != 0) return (void)fuse_reply_err(req, errno);
  st.f_files = fs->view->node_count();
  st.f_ffree = 0;
  st.f_namemax = 255;
  fuse_reply_statfs(req, &st);
}

void OpGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  auto xattrs = View(req).Xattrs(ino);
  if (!xattrs.ok()) return (void)fuse_reply_err(req, xattrs.status().ToErrno());
  for (const auto& x : **xattrs) {
    if (x.name != name) continue;
    if (size == 0) return (void)fuse_reply_xattr(req, x.value.size());
    if (size < x.value.size()) return (void)fuse_reply_err(req, ERANGE);
    return (void)fuse_reply_buf(req, x.value.data(), x.value.size());
  }
  fuse_reply_err(req, ENODATA);
}

void OpListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  auto xattrs = View(req).Xattrs(ino);
  if (!xattrs.ok()) return (void)fuse_reply_err(req, xattrs.status().ToErrno());
  std::string names;
  for (const auto& x : **xattrs) names.append(x.name).push_back('\0');
  if (size == 0) return (void)fuse_reply_xattr(req, names.size());
  if (size < names.size()) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, names.data(), names.size());
}

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops{};
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = OpGetattr;
  ops.readlink = OpReadlink;
  ops.opendir = OpOpendir;
  ops.readdir = OpReaddir;
  ops.readdirplus = OpReaddirplus;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.release = OpRelease;
  ops.statfs = OpStatfs;
  ops.getxattr = OpGetxattr;
  ops.listxattr = OpListxattr;
  return ops;
}

int Serve(Fs& fs, const std::string& mountpoint, const std::string& options, bool foreground) {
  std::vector<std::string> arg_strings = {"strata-fuse", "-o", options};
  std::vector<char*> argv;
  for (auto& a : arg_strings) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  fuse_lowlevel_ops ops = MakeOps();
  fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, &fs);
  if (!se) return 1;
  int rc = 1;
  if (fuse_set_signal_handlers(se) == 0) {
    if (fuse_session_mount(se, mountpoint.c_str()) == 0) {
      fuse_daemonize(foreground ? 1 : 0);  // the parent returns here, with the mount live
      fuse_loop_config* config = fuse_loop_cfg_create();
      fuse_loop_cfg_set_max_threads(config, 16);
      rc = fuse_session_loop_mt(se, config) == 0 ? 0 : 1;
      fuse_loop_cfg_destroy(config);
      fuse_session_unmount(se);
    }
    fuse_remove_signal_handlers(se);
  }
  fuse_session_destroy(se);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"strata-fuse: mount a strata image as a read-only union file system"};
  std::string root = strata::kDefaultRoot, image, mountpoint, extra_options;
  bool foreground = false, allow_other = false;
  if (const char* env = std::getenv("STRATA_ROOT"); env && *env) root = env;
  app.add_option("--root", root, "store root");
  app.add_option("--image", image, "image to mount")->required();
  app.add_flag("-f,--foreground", foreground, "stay in the foreground");
  app.add_flag("--allow-other", allow_other, "let other users see the mount");
  app.add_option("-o", extra_options, "extra FUSE mount options");
  app.add_option("MOUNTPOINT", mountpoint, "directory to mount on")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  Fs fs;
  auto store = strata::Store::Open(root);
  if (!store.ok()) {
    std::fprintf(stderr, "strata-fuse: error: %s\n", store.status().message().c_str());
    return 1;
  }
  fs.store = std::move(store).value();
  auto view = UnionView::OpenImage(*fs.store, image);
  if (!view.ok()) {
    std::fprintf(stderr, "strata-fuse: error: %s\n", view.status().message().c_str());
    return 1;
  }
  fs.view = std::move(view).value();
  std::string options = "ro,default_permissions,fsname=strata,subtype=strata";
  if (allow_other) options += ",allow_other";
  if (!extra_options.empty()) options += "," + extra_options;
  return Serve(fs, mountpoint, options, foreground);
}
