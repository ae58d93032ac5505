// Mounting store layers as one tree, optionally with a writable upper
// directory on top: what a build's RUN step, a container's start and
// `strata mount` do. The library does not link the FUSE daemon: it runs the
// strata-fuse program, as containers/storage runs its mount_program.
#pragma once

#include <string>

#include "strata/status.h"

namespace strata {

// Who serves the mount: strata-fuse (any user), kernel overlayfs over the
// chain's metadata tree (root, Linux 6.8+: see Store::MetaTree), or the
// kernel where KernelDriverUsable() says it can, else FUSE.
enum class MountDriver { kAuto, kFuse, kKernel };

// "auto", "fuse" or "kernel".
Result<MountDriver> ParseMountDriver(const std::string& name);
const char* MountDriverName(MountDriver driver);

struct UnionMountSpec {
  std::string store_root{};
  std::string top_layer{};  // the lower tree is this layer and those below it; "" for an empty tree
  std::string upper_dir{};  // "" (with work_dir "") for a read-only mount
  std::string work_dir{};
  std::string mountpoint{};
  bool allow_other = false;  // needed when a process of another user must see the tree
  bool fsync = true;         // false: skip fsync in the upper layer (scratch data)
  // The kernel reads and writes open files through their files in the store
  // (FUSE passthrough, Linux 6.9+): host speed for big files, one more round
  // trip per open. See strata-fuse's -o passthrough in the README.
  bool passthrough = false;
  // Requests travel on per-CPU io_uring rings instead of /dev/fuse (Linux
  // 6.14+, where the fuse module allows it): shorter round trips. See
  // strata-fuse's -o io_uring in the README.
  bool io_uring = false;
  bool verify = false;  // each blob checked against its digest at its first open; EIO if it does not match
  MountDriver driver = MountDriver::kFuse;
  std::string lock_file{};  // when set, the daemon holds an exclusive flock on it while
                            // mounted, and the mount fails if another holds it
};

// $STRATA_FUSE, else strata-fuse beside the running program, else the
// installed one.
std::string DefaultMountProgram();

// OK when the kernel driver can mount here (root, outside a user namespace,
// an overlayfs with data-only layers), else why not.
Status KernelDriverUsable();

// The store's default driver: `"driver"` in `<store_root>/config.json`
// ("auto", "fuse" or "kernel"); kAuto when the file or the key is missing.
Result<MountDriver> StoreDefaultDriver(const std::string& store_root);

// The driver a mount of `spec` gets: kAuto becomes the store's default
// driver, and then, if that is kAuto too, kKernel when the kernel driver is
// usable and the spec asks nothing only FUSE does (passthrough, io_uring,
// verify), else kFuse. An error when the store's config.json is bad.
Result<MountDriver> ChooseMountDriver(const UnionMountSpec& spec);

// Returns once the mount is live.
Status MountUnion(const UnionMountSpec& spec, const std::string& program = DefaultMountProgram());

// Unmounts a strata mount (the FUSE daemon, if any, exits).
Status UnmountUnion(const std::string& mountpoint);

}  // namespace strata
