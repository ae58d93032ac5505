// strata version / --version / info: what this strata is, what this machine
// lets it do, and what the store holds (as docker version and docker info).
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "cli.h"

namespace strata::cli {

namespace {

std::string VersionLine() {
  return std::string("strata version ") + Version() + " (git " + GitRevision() + ")";
}

std::string KernelRelease() {
  struct utsname u;
  return ::uname(&u) == 0 ? u.release : "unknown";
}

// The first line strata-fuse prints for --version, and its FUSE library's.
std::vector<std::string> MountProgramVersion() {
  std::vector<std::string> lines;
  const std::string command = DefaultMountProgram() + " --version 2>/dev/null";
  if (FILE* p = ::popen(command.c_str(), "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, p)) {
      std::string s(line);
      while (!s.empty() && s.back() == '\n') s.pop_back();
      lines.push_back(s);
    }
    ::pclose(p);
  }
  return lines;
}

std::string KernelPathLine() {
  Status usable = KernelDriverUsable();
  return usable.ok() ? "available (kernel overlayfs over metadata trees)"
                     : "not available: " + usable.message();
}

// FUSE passthrough needs Linux 6.9; FUSE over io_uring needs the fuse
// module's enable_uring (Linux 6.14+).
std::string PassthroughLine() {
  unsigned major = 0, minor = 0;
  std::sscanf(KernelRelease().c_str(), "%u.%u", &major, &minor);
  return major > 6 || (major == 6 && minor >= 9) ? "available (Linux 6.9+)"
                                                 : "not available (Linux 6.9+ needed)";
}

std::string UringLine() {
  std::ifstream in("/sys/module/fuse/parameters/enable_uring");
  std::string value;
  if (!(in >> value)) return "not available (no enable_uring in the fuse module)";
  return value == "Y" ? "enabled" : "supported, off (echo Y >/sys/module/fuse/parameters/enable_uring)";
}

void PrintVersion() {
  std::printf("%s\n", VersionLine().c_str());
  std::printf("Kernel:            %s\n", KernelRelease().c_str());
  std::printf("Kernel path:       %s\n", KernelPathLine().c_str());
  struct stat st;
  std::printf("FUSE:              %s\n",
              ::stat("/dev/fuse", &st) == 0 ? "/dev/fuse present" : "no /dev/fuse");
  for (const auto& line : MountProgramVersion()) std::printf("  %s\n", line.c_str());
  std::printf("FUSE passthrough:  %s\n", PassthroughLine().c_str());
  std::printf("FUSE io_uring:     %s\n", UringLine().c_str());
}

void PrintInfo(Context& ctx) {
  Store& store = ctx.OpenStore();
  const auto images = Check(store.ListImages());
  const auto layers = Check(store.ListLayers());
  const auto containers = Check(ctx.OpenContainers().List());
  const auto volumes = Check(ctx.OpenVolumes().List());
  size_t running = 0;
  for (const auto& c : containers) running += c.state == ContainerState::kRunning;
  UnionMountSpec spec;
  spec.store_root = ctx.root;
  spec.driver = ChosenDriver("");
  std::printf("%s\n", VersionLine().c_str());
  std::printf("Root:              %s\n", store.root().c_str());
  std::printf("Mount driver:      %s", MountDriverName(Check(ChooseMountDriver(spec))));
  std::printf(" (%s)\n", spec.driver == MountDriver::kAuto ? "auto" : "chosen by $STRATA_DRIVER");
  std::printf("Kernel path:       %s\n", KernelPathLine().c_str());
  std::printf("Images:            %zu\n", images.size());
  std::printf("Layers:            %zu\n", layers.size());
  std::printf("Containers:        %zu (running %zu)\n", containers.size(), running);
  std::printf("Volumes:           %zu\n", volumes.size());
}

}  // namespace

void AddVersionCommands(CLI::App& app, Context& ctx) {
  app.set_version_flag("--version", VersionLine(), "print strata's version and exit");
  app.add_subcommand("version", "strata's version, and what this machine lets it do")->callback(PrintVersion);
  app.add_subcommand("info", "the store: root, mount driver, what it holds")->callback([&ctx] {
    PrintInfo(ctx);
  });
}

}  // namespace strata::cli
