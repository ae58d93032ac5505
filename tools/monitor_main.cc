// strata-monitor: the process that owns a container's run (see
// strata/container_run.h). Started by LaunchContainer, never by hand:
//   strata-monitor --root ROOT --runtime RUNC --ready-fd 3 [--mount-program P] [--rm] ID
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "strata/strata.h"

int main(int argc, char** argv) {
  std::string root, id;
  strata::MonitorOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "strata-monitor: %s needs a value\n", a.c_str());
        std::exit(125);
      }
      return argv[++i];
    };
    if (a == "--root") {
      root = value();
    } else if (a == "--runtime") {
      options.runtime = value();
    } else if (a == "--mount-program") {
      options.mount_program = value();
    } else if (a == "--driver") {
      auto driver = strata::ParseMountDriver(value());
      if (!driver.ok()) {
        std::fprintf(stderr, "strata-monitor: %s\n", driver.status().message().c_str());
        return 125;
      }
      options.driver = *driver;
    } else if (a == "--ready-fd") {
      options.ready_fd = static_cast<int>(strata::ParseUnsigned(value(), 10, 1024).value_or(0));
    } else if (a == "--rm") {
      options.remove_when_done = true;
    } else if (id.empty() && !a.empty() && a[0] != '-') {
      id = a;
    } else {
      std::fprintf(stderr, "strata-monitor: unknown argument %s\n", a.c_str());
      return 125;
    }
  }
  if (root.empty() || id.empty()) {
    std::fprintf(stderr, "strata-monitor: want --root ROOT and a container id\n");
    return 125;
  }
  auto store = strata::Store::Open(root);
  strata::Status st = store.status();
  std::unique_ptr<strata::Volumes> volumes;
  std::unique_ptr<strata::Containers> containers;
  if (st.ok()) {
    auto v = strata::Volumes::Open(**store);
    st = v.status();
    if (st.ok()) volumes = std::move(v).value();
  }
  if (st.ok()) {
    auto c = strata::Containers::Open(**store, *volumes);
    st = c.status();
    if (st.ok()) containers = std::move(c).value();
  }
  if (!st.ok()) {
    std::string line = "E5 " + st.message() + "\n";
    if (options.ready_fd > 0) (void)!::write(options.ready_fd, line.data(), line.size());
    return 125;
  }
  return strata::RunMonitor(*containers, id, options);
}
