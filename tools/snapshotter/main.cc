// strata-snapshotter: serves a store's snapshots to containerd as a proxy
// snapshotter on a unix socket. containerd's config:
//
//   [proxy_plugins.strata]
//     type = "snapshot"
//     address = "/run/strata-snapshotter.sock"
//
// Runs until SIGINT or SIGTERM; the socket is root's alone (0600).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "snapshot_service.h"
#include "strata/store.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: strata-snapshotter [--root DIR] [--driver auto|kernel|fuse] --address SOCKET\n");
  return 2;
}

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "strata-snapshotter: error: %s\n", message.c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  const char* env_root = std::getenv("STRATA_ROOT");
  std::string root = env_root && *env_root ? env_root : strata::kDefaultRoot, address, driver = "auto";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "--root" || arg == "--address" || arg == "--driver") && i + 1 < argc) {
      (arg == "--root" ? root : arg == "--address" ? address : driver) = argv[++i];
    } else if (arg == "--help" || arg == "-h") {
      Usage();
      return 0;
    } else {
      return Usage();
    }
  }
  if (address.empty()) return Usage();

  // Signals are taken by sigwait below, never delivered to a gRPC thread.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  auto store = strata::Store::Open(root);
  if (!store.ok()) Die(store.status().message());
  strata::SnapshotterOptions options;
  auto parsed = strata::ParseMountDriver(driver);
  if (!parsed.ok()) Die(parsed.status().message());
  options.driver = *parsed;
  auto snapshots = strata::Snapshotter::Open(**store, options);
  if (!snapshots.ok()) Die(snapshots.status().message());

  struct stat st;
  if (::lstat(address.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) Die(address + " exists and is not a socket");
    ::unlink(address.c_str());  // a socket a killed server left
  }
  strata::snapshotter::SnapshotService service(**snapshots);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + address, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  const mode_t old_mask = ::umask(0077);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ::umask(old_mask);
  if (!server) Die("cannot listen on " + address);
  std::fprintf(stderr, "strata-snapshotter: serving %s on %s (%s mounts)\n", root.c_str(), address.c_str(),
               strata::MountDriverName((*snapshots)->driver()));

  int signal = 0;
  sigwait(&stop, &signal);
  server->Shutdown();
  ::unlink(address.c_str());
  return 0;
}
