// strata mount / umount: a container's or an image's tree, through strata-fuse or kernel overlayfs.
#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "cli.h"

namespace strata::cli {

void AddMountCommands(CLI::App& app, Context& ctx) {
  struct MountArgs {
    std::string target, dir;
    bool allow_other = false;
    bool passthrough = false;
    bool io_uring = false;
    bool verify = false;
    std::string driver;
  };
  auto args = std::make_shared<MountArgs>();
  auto* mount = app.add_subcommand(
      "mount", "mount a container's tree (writable: its layer) or an image's (read-only) on DIR");
  mount->add_option("TARGET", args->target, "container name or id, or image name[:tag] or id")->required();
  mount->add_option("DIR", args->dir, "mount point (an existing directory)")->required();
  mount->add_flag("--allow-other", args->allow_other, "let other users see the mount");
  mount->add_flag("--passthrough", args->passthrough,
                  "let the kernel read and write open files directly (Linux 6.9+; for big files)");
  mount->add_flag(
      "--verify", args->verify,
      "check each file's stored content against its digest when first opened (EIO if it does not match)");
  mount->add_flag("--io-uring", args->io_uring,
                  "take requests on per-CPU io_uring rings (Linux 6.14+ with fuse's enable_uring set)");
  AddDriverOption(mount, args->driver);
  mount->callback([&ctx, args] {
    const MountDriver driver = ChosenDriver(args->driver);
    Store& store = ctx.OpenStore();
    const bool container = ctx.OpenContainers().Get(args->target).ok();  // a container's name wins
    Image image;
    if (!container) image = Check(store.GetImage(args->target));
    struct stat st;
    if (::stat(args->dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      Fail("mount point " + args->dir + " is not a directory");
    }
    if (container) {
      Check(MountContainer(ctx.OpenContainers(), args->target, args->dir,
                           {args->allow_other, args->passthrough, args->io_uring, args->verify, "", driver}));
      return;
    }
    UnionMountSpec spec;
    spec.store_root = ctx.root;
    spec.top_layer = image.layers.empty() ? "" : image.layers.back();
    spec.mountpoint = args->dir;
    spec.allow_other = args->allow_other;
    spec.passthrough = args->passthrough;
    spec.io_uring = args->io_uring;
    spec.verify = args->verify;
    spec.driver = driver;
    Check(MountUnion(spec));
  });

  auto dir = std::make_shared<std::string>();
  auto* umount = app.add_subcommand("umount", "unmount a strata mount");
  umount->add_option("DIR", *dir, "mount point")->required();
  umount->callback([dir] { Check(UnmountUnion(*dir)); });
}

}  // namespace strata::cli
