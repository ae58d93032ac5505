#include "container/run_state.h"

#include "util/process.h"

namespace strata {

RuntimeOptions ContainerRuntime(Containers& containers, const ContainerInfo& c) {
  RuntimeOptions options;
  options.runtime = c.runtime.empty() ? "runc" : c.runtime;
  options.root = containers.store().root() + "/runc";
  options.state_dir = containers.Paths(c.id).dir;
  return options;
}

bool RunIsLive(const ContainerInfo& c) {
  return ProcessIsAlive(c.pid, c.pid_start) || ProcessIsAlive(c.monitor_pid, c.monitor_start);
}

}  // namespace strata
