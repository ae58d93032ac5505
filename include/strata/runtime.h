// Running a process in a root file system with an OCI runtime (runc by
// default): what a build's RUN step and a container's start both do.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "strata/status.h"

namespace strata {

struct BindMount {
  std::string source;  // host path
  std::string destination;
  bool readonly = false;
};

struct RunSpec {
  std::string rootfs;  // absolute path of a mounted root file system
  std::vector<std::string> args;
  std::vector<std::string> env;  // "KEY=value"
  std::string cwd = "/";
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string hostname = "strata";
  bool network = false;  // false: a network namespace with loopback only
  std::vector<BindMount> mounts;
  // Docker's hardening, and its ways out: the default seccomp profile
  // (--security-opt seccomp=unconfined turns it off); no_new_privs only when
  // asked (--security-opt no-new-privileges), as docker; --privileged: every
  // capability, no seccomp, no masked or read-only /proc and /sys paths.
  bool seccomp = true;
  bool no_new_privileges = false;
  bool privileged = false;
  bool terminal = false;  // a pty for the process; needs RuntimeOptions::console_socket
};

// The OCI runtime-spec config.json for `spec`: proc, a tmpfs /dev with pts,
// shm and mqueue, a read-only /sys, the usual masked and read-only paths,
// Docker's default capabilities and seccomp profile, no rlimits (raising
// them needs CAP_SYS_RESOURCE, which a sandbox may not have).
Result<std::string> OciConfigJson(const RunSpec& spec);

struct RuntimeOptions {
  std::string runtime = "runc";  // a path or a name on PATH
  std::string root;              // the runtime's --root (its state); "" for its default
  std::string state_dir;         // where the bundle is made; a temporary directory when empty
  int stdin_fd = -1;             // -1: /dev/null
  int stdout_fd = 1;
  int stderr_fd = 2;
  // For a RunSpec with a terminal: the unix socket the runtime sends the pty's
  // master to (runc --console-socket; see ConsoleSocket in runtime/console.h).
  std::string console_socket;
};

// Runs the process to its end and returns its exit status (128 + signal
// when killed). The bundle and the runtime's state are removed afterwards.
Result<int> RunInRuntime(const RunSpec& spec, const RuntimeOptions& options = {});

// Starts the process as runtime container `id` and returns its pid once it
// runs, without waiting for it (runc run -d): it gets the options' standard
// descriptors as they are. Its bundle stays (under options.state_dir) until
// DeleteFromRuntime. The caller reaps it: be a child subreaper
// (PR_SET_CHILD_SUBREAPER) first, or it is init's.
Result<int> StartInRuntime(const RunSpec& spec, const RuntimeOptions& options, const std::string& id);
// Sends `signal` to every OCI runtime process this process runs in the
// foreground now (RunInRuntime: a build's RUN). Async-signal-safe: for a
// signal handler that passes SIGINT or SIGTERM on.
void SignalRuntimeProcesses(int signal);

// Sends `signal` to runtime container `id`'s process (runc kill).
Status SignalInRuntime(const RuntimeOptions& options, const std::string& id, int signal);
// Forgets runtime container `id`, killing what is left of it, and removes its bundle.
void DeleteFromRuntime(const RuntimeOptions& options, const std::string& id);

// What docker checks before it runs a command: args[0] found in `rootfs`
// (through PATH from `env` when it has no '/'; symlinks resolved inside
// `rootfs`) and executable. Errors as docker words them, with the errno
// the exit status comes from: ENOENT (127), EACCES (126).
Status CheckExecutable(const std::string& rootfs, const std::vector<std::string>& args,
                       const std::vector<std::string>& env);

}  // namespace strata
