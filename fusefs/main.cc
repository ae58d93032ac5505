// strata-fuse: mounts a union of read-only layers (a strata image, or plain
// directories as fuse-overlayfs takes them) with an optional writable upper
// directory. Returns once the mount is live (unless -f); SIGTERM unmounts.
//
//   strata-fuse [--root ROOT] --image IMAGE [--upper DIR --work DIR] [-f] MOUNTPOINT
//   strata-fuse [--root ROOT] --layer LAYER [--upper DIR --work DIR] [--lock FILE] [-f] MOUNTPOINT
//
// --lock FILE: hold an exclusive flock on FILE while mounted; exit 75 at once
// when another process holds it (one daemon per writable layer).
//   strata-fuse -o lowerdir=L1:L2[,upperdir=U,workdir=W][,fsync=0,...] MOUNTPOINT
//
// -o passthrough (with either form): the kernel reads and writes open files
// through their host files (see passthrough.h).
// -o io_uring: requests come and go on io_uring rings, one queue per CPU,
// where the kernel allows it (see uring_channel.h).
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "device_io.h"
#include "ops.h"
#include "session_loop.h"
#include "uring_channel.h"

namespace {

using namespace strata::fuse;

int Fail(const std::string& message) {
  std::fprintf(stderr, "strata-fuse: error: %s\n", message.c_str());
  return 1;
}

// Replaces *path with its absolute, resolved form; says what is wrong if it
// names nothing.
bool MakeAbsolute(const char* what, std::string* path) {
  char* resolved = ::realpath(path->c_str(), nullptr);
  if (!resolved) {
    Fail(std::string(what) + " " + *path + ": " + std::strerror(errno));
    return false;
  }
  *path = resolved;
  std::free(resolved);
  return true;
}

int Serve(Daemon& d, const DaemonOptions& o, const std::string& options) {
  std::vector<std::string> arg_strings = {"strata-fuse", "-o", options};
  std::vector<char*> argv;
  for (auto& a : arg_strings) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  fuse_lowlevel_ops ops = MakeOps();
  fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, &d);
  fuse_opt_free_args(&args);
  if (!se) return 1;
  int rc = 1;
  if (fuse_session_mount(se, o.mountpoint.c_str()) == 0) {
    std::unique_ptr<UringChannel> uring;
    if (o.io_uring) uring = std::make_unique<UringChannel>(se);
    DeviceIo device(d.passthrough.get(), uring.get());
    RequestInspector inspect;
    if (device.Install(se)) {
      inspect = [&device](const fuse_buf& buf) { device.NoteRequest(buf); };
      if (uring) uring->SetInspector(inspect);
    } else if (d.passthrough || uring) {
      std::fprintf(stderr,
                   "strata-fuse: warning: cannot hook libfuse's replies; no passthrough, no io_uring\n");
      d.passthrough.reset();
      uring.reset();
    }
    fuse_daemonize(o.foreground ? 1 : 0);  // the parent returns here, with the mount live
    rc = RunSessionLoop(se, 16, inspect);  // until SIGTERM or an unmount
    if (uring) uring->Stop();
    fuse_session_unmount(se);
  }
  fuse_session_destroy(se);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = ParseCommandLine(argc, argv);
  if (auto* error = std::get_if<std::string>(&parsed))
    return Fail(*error + " (see the header of fusefs/main.cc)");
  DaemonOptions& o = std::get<DaemonOptions>(parsed);
  if (o.show_version) {
    std::printf("strata-fuse: version 0.1.0\nFUSE library version %s\n", fuse_pkgversion());
    return 0;
  }
  if (!o.lock_file.empty()) {
    // Never closed: the lock lives as long as this process (and its daemonized child).
    int fd = ::open(o.lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Fail("cannot open " + o.lock_file + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      Fail(o.lock_file + " is held by another mount of this layer");
      return 75;
    }
  }
  // Every path absolute: the daemon changes to / when it detaches (a relative
  // lowerdir would then name nothing), and it unmounts by name.
  if (!MakeAbsolute("mount point", &o.mountpoint)) return 1;
  for (std::string& dir : o.lower_dirs) {
    if (!MakeAbsolute("lowerdir", &dir)) return 1;
  }
  if (!o.overlay.upper_dir.empty() &&
      !(MakeAbsolute("upperdir", &o.overlay.upper_dir) && MakeAbsolute("workdir", &o.overlay.work_dir))) {
    return 1;
  }
  std::error_code ec;  // the store root may not exist yet: no realpath
  if (auto root = std::filesystem::absolute(o.root, ec); !ec) o.root = root.lexically_normal();
  Daemon d;
  d.ids = o.ids;
  if (o.passthrough) d.passthrough = std::make_unique<Passthrough>();
  std::unique_ptr<strata::UnionView> lower;
  if (!o.image.empty() || o.layer) {
    auto store = strata::Store::Open(o.root);
    if (!store.ok()) return Fail(store.status().message());
    d.store = std::move(store).value();
    std::vector<std::string> chain;
    if (o.layer) {
      auto layers = d.store->LayerChain(*o.layer);
      if (!layers.ok()) return Fail(layers.status().message());
      chain = std::move(layers).value();
    } else {
      auto image = d.store->GetImage(o.image);
      if (!image.ok()) return Fail(image.status().message());
      chain = image->layers;
    }
    auto view = strata::UnionView::OpenLayers(*d.store, chain, {.verify_content = o.verify});
    if (!view.ok()) return Fail(view.status().message());
    lower = std::move(view).value();
  } else {
    auto view = strata::UnionView::FromDirectories(o.lower_dirs);
    if (!view.ok()) return Fail(view.status().message());
    lower = std::move(view).value();
  }
  auto fs = strata::OverlayFs::Open(std::move(lower), o.overlay);
  if (!fs.ok()) return Fail(fs.status().message());
  d.fs = std::move(fs).value();
  std::string options = "default_permissions,fsname=strata,subtype=strata";
  if (!d.fs->writable()) options += ",ro";
  for (const auto& opt : o.fuse_options) options += "," + opt;
  return Serve(d, o, options);
}
