// strata mount / umount: start the strata-fuse daemon that sits beside this
// binary, and take its mount down again.
#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "cli.h"

namespace strata::cli {

namespace {

std::string DaemonPath() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) Fail("cannot find my own binary: " + ec.message());
  return (self.parent_path() / "strata-fuse").string();
}

// Runs argv, waits, returns the exit status.
int Run(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) Fail(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::execv(argv[0], argv.data());
    std::fprintf(stderr, "strata: error: cannot run %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

void AddMountCommands(CLI::App& app, Context& ctx) {
  struct MountArgs {
    std::string image, dir;
    bool allow_other = false;
  };
  auto args = std::make_shared<MountArgs>();
  auto* mount = app.add_subcommand("mount", "mount an image read-only as one merged tree (FUSE)");
  mount->add_option("IMAGE", args->image, "name[:tag], id or id prefix")->required();
  mount->add_option("DIR", args->dir, "mount point (an existing directory)")->required();
  mount->add_flag("--allow-other", args->allow_other, "let other users see the mount");
  mount->callback([&ctx, args] {
    Image image = Check(ctx.OpenStore().GetImage(args->image));  // a clear error before any mount
    struct stat st;
    if (::stat(args->dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      Fail("mount point " + args->dir + " is not a directory");
    }
    std::vector<std::string> argv = {DaemonPath(), "--root", ctx.root, "--image", image.id, args->dir};
    if (args->allow_other) argv.push_back("--allow-other");
    if (int rc = Run(argv); rc != 0) Fail("mounting " + args->image + " on " + args->dir + " failed");
  });

  auto dir = std::make_shared<std::string>();
  auto* umount = app.add_subcommand("umount", "unmount a strata mount");
  umount->add_option("DIR", *dir, "mount point")->required();
  umount->callback([dir] {
    if (::umount2(dir->c_str(), 0) == 0) return;
    if (errno == EPERM && Run({"/usr/bin/fusermount3", "-u", *dir}) == 0) return;
    Fail("unmounting " + *dir + ": " + std::strerror(errno));
  });
}

}  // namespace strata::cli
