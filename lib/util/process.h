// Running a helper program (an OCI runtime, the FUSE daemon) and waiting for it.
#pragma once

#include <string>
#include <vector>

#include "strata/status.h"

namespace strata {

// Runs `args` (args[0] a path or a name on PATH) with standard input from
// `in_fd` (-1: /dev/null) and the given output descriptors; returns its exit status, or
// 128 + the signal that killed it. 127 means it could not be run.
// A helper program of strata's (strata-fuse, strata-monitor): $ENV when set,
// else beside the running binary, else where strata installs its programs.
std::string HelperProgram(const std::string& name, const char* env);

// The start time of process `pid` (clock ticks since boot, /proc/PID/stat's
// 22nd field), or 0 when there is no such process. A pid with the start time
// it had is the same process: pids are reused. A zombie is not alive.
uint64_t ProcessStartTime(int pid);
bool ProcessIsAlive(int pid, uint64_t start_time);

// The children Spawn waits for now, for a signal handler to pass a signal
// on to (async-signal-safe).
void SignalSpawnedChildren(int signal);

Result<int> Spawn(const std::vector<std::string>& args, int out_fd = 1, int err_fd = 2, int in_fd = -1);

}  // namespace strata
