// What a container's run is, read from its processes: shared by the
// containers' records (containers.cc), the caller's side of a run
// (container_run.cc) and the monitor (monitor.cc).
#pragma once

#include "strata/container.h"
#include "strata/runtime.h"

namespace strata {

// The runtime as a container uses it: its state under <root>/runc (the
// store's own, apart from the host's /run/runc), the bundle under
// containers/<id>/, the runtime container named by the container's id.
RuntimeOptions ContainerRuntime(Containers& containers, const ContainerInfo& c);

// The run goes on: its process lives, or its monitor does (it is recording
// the end). Pids are compared with their start times: a reused pid is not it.
bool RunIsLive(const ContainerInfo& c);

}  // namespace strata
