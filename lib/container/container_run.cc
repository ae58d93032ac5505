// Starting, signalling, stopping and waiting for a container's run, and
// mounting its layer: the caller's side. The monitor's side is monitor.cc.
#include "strata/container_run.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "container/run_state.h"
#include "strata/text.h"
#include "strata/union_mount.h"
#include "util/file_util.h"
#include "util/process.h"
#include "util/status_macros.h"

namespace strata {

namespace {

using namespace std::chrono_literals;

// What the monitor says on its ready pipe: "ok", or "E<errno> <message>".
Status ReadyStatus(const std::string& said, int monitor_status, const std::string& program) {
  if (said.rfind("ok", 0) == 0) return Status::OK();
  if (said.size() > 1 && said[0] == 'E') {
    size_t space = said.find(' ');
    int error_number = static_cast<int>(ParseUnsigned(said.substr(1, space - 1), 10, 4095).value_or(0));
    std::string message = space == std::string::npos ? "" : said.substr(space + 1);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    if (error_number == ENOENT || error_number == EACCES) return Status::Posix(error_number, message);
    if (error_number == EBUSY) return Status::InUse(message);
    return Status::IOError(message);
  }
  return Status::IOError("the container monitor " + program + " ended with status " +
                         std::to_string(monitor_status) + " before the container ran");
}

// Polls `done` every 50 ms for up to `limit`.
template <typename Done>
bool PollFor(std::chrono::milliseconds limit, Done done) {
  for (auto end = std::chrono::steady_clock::now() + limit;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(50ms);
  }
}

}  // namespace

std::string DefaultMonitorProgram() {
  return HelperProgram("strata-monitor", "STRATA_MONITOR");
}

Result<int> LaunchContainer(Containers& containers, const std::string& name_or_id,
                            const StartOptions& options) {
  ASSIGN_OR_RETURN(ContainerInfo c, containers.Get(name_or_id));
  if (c.state == ContainerState::kRunning)
    return Status::InUse("container " + c.name + " is already running");
  const ContainerPaths paths = containers.Paths(c.id);
  const std::string program =
      options.monitor_program.empty() ? DefaultMonitorProgram() : options.monitor_program;
  std::vector<std::string> args = {
      program, "--root", containers.store().root(), "--runtime", options.runtime, "--ready-fd", "3"};
  if (!options.mount_program.empty()) args.insert(args.end(), {"--mount-program", options.mount_program});
  args.insert(args.end(), {"--driver", MountDriverName(options.driver)});
  if (options.remove_when_done) args.push_back("--rm");
  args.push_back(c.id);

  UniqueFd log;
  int out = options.stdout_fd, err = options.stderr_fd;
  if (options.log_output) {
    log = UniqueFd(::open(paths.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!log.valid()) return ErrnoStatus("open", paths.log);
    out = err = log.get();
  }
  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int in = options.stdin_fd >= 0 ? options.stdin_fd : devnull.get();
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return ErrnoStatus("pipe", "");
  UniqueFd ready_read(ready[0]), ready_write(ready[1]);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) return ErrnoStatus("fork", "");
  if (pid == 0) {
    // A session of its own: the caller's terminal signals (Ctrl-C) and the
    // caller's end reach the monitor only as the caller forwards them. Signal
    // masks and ignored signals survive exec: the container must not inherit
    // the caller's.
    ::setsid();
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD}) ::signal(sig, SIG_DFL);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::dup2(ready_write.get(), 3);
    ::execv(argv[0], argv.data());
    ::dprintf(3, "E%d cannot run the container monitor %s\n", ENOENT, argv[0]);
    _exit(125);
  }
  ready_write.Reset();
  std::string said;
  char buf[512];
  while (said.find('\n') == std::string::npos) {  // one line, or the end
    ssize_t n = ::read(ready_read.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    said.append(buf, static_cast<size_t>(n));
  }
  if (said.rfind("ok", 0) == 0) return static_cast<int>(pid);
  ASSIGN_OR_RETURN(int status, WaitForMonitor(pid));
  return ReadyStatus(said, status, program);
}

Result<int> WaitForMonitor(int monitor_pid) {
  int status = 0;
  while (::waitpid(monitor_pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoStatus("waitpid", "");
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Result<int> StartContainer(Containers& containers, const std::string& name_or_id,
                           const StartOptions& options) {
  ASSIGN_OR_RETURN(int monitor, LaunchContainer(containers, name_or_id, options));
  return WaitForMonitor(monitor);
}

Status KillContainer(Containers& containers, const std::string& name_or_id, int signal) {
  ASSIGN_OR_RETURN(ContainerInfo c, containers.Get(name_or_id));
  if (c.state != ContainerState::kRunning)
    return Status::InvalidArgument("container " + c.name + " is not running");
  if (!ProcessIsAlive(c.pid, c.pid_start)) return Status::OK();  // ended; its monitor is recording it
  return SignalInRuntime(ContainerRuntime(containers, c), c.id, signal);
}

Status StopContainer(Containers& containers, const std::string& name_or_id, int timeout_seconds) {
  ASSIGN_OR_RETURN(ContainerInfo c, containers.Get(name_or_id));
  if (c.state != ContainerState::kRunning)
    return Status::OK();  // as docker: stopping a stopped one is no error
  if (timeout_seconds > 0) {
    (void)KillContainer(containers, c.id, SIGTERM);
    PollFor(std::chrono::seconds(timeout_seconds), [&] { return !ProcessIsAlive(c.pid, c.pid_start); });
  }
  if (ProcessIsAlive(c.pid, c.pid_start)) RETURN_IF_ERROR(KillContainer(containers, c.id, SIGKILL));
  // The monitor records the end, unmounts, and goes.
  bool recorded = PollFor(30s, [&] {
    auto now = containers.Get(c.id);
    return !now.ok() || now->state != ContainerState::kRunning;
  });
  if (!recorded) return Status::IOError("container " + c.name + " did not stop");
  return Status::OK();
}

Result<ContainerInfo> WaitContainer(Containers& containers, const std::string& name_or_id) {
  ASSIGN_OR_RETURN(ContainerInfo c, containers.Get(name_or_id));
  while (c.state == ContainerState::kRunning) {
    std::this_thread::sleep_for(50ms);
    ASSIGN_OR_RETURN(c, containers.Get(c.id));
  }
  return c;
}

Status MountContainer(Containers& containers, const std::string& name_or_id, const std::string& mountpoint,
                      const ContainerMountOptions& options) {
  ASSIGN_OR_RETURN(ContainerInfo c, containers.Get(name_or_id));
  if (c.state == ContainerState::kRunning) return Status::InUse("container " + c.name + " is running");
  const ContainerPaths paths = containers.Paths(c.id);
  UnionMountSpec spec;
  spec.store_root = containers.store().root();
  spec.top_layer = c.top_layer;
  spec.upper_dir = paths.upper;
  spec.work_dir = paths.work;
  spec.mountpoint = mountpoint;
  spec.lock_file = paths.lock;
  spec.allow_other = options.allow_other;
  spec.passthrough = options.passthrough;
  spec.io_uring = options.io_uring;
  spec.verify = options.verify;
  spec.driver = options.driver;
  RETURN_IF_ERROR(
      MountUnion(spec, options.mount_program.empty() ? DefaultMountProgram() : options.mount_program));
  // Remembered so that `rm -f` can unmount it.
  char real[PATH_MAX];
  c.mounted_at = ::realpath(mountpoint.c_str(), real) ? real : mountpoint;
  return containers.Update(c);
}

}  // namespace strata
