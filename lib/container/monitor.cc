// The monitor of a container's run (strata-monitor calls RunMonitor): mount,
// start with the runtime, become the process's reaper, record its end,
// unmount, remove when asked. It outlives whoever launched it.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <memory>
#include <optional>
#include <thread>

#include "container/run_state.h"
#include "container/terminal_relay.h"
#include "runtime/console.h"
#include "runtime/union_run.h"
#include "strata/container_run.h"
#include "util/file_util.h"
#include "util/process.h"
#include "util/status_macros.h"

namespace strata {

namespace {

// Says to the launcher how the start went, once; closes the pipe.
class ReadyPipe {
 public:
  // Not to be inherited: the mount daemon and the runtime outlive the start.
  explicit ReadyPipe(int fd) : fd_(fd) {
    if (fd_.valid()) ::fcntl(fd_.get(), F_SETFD, FD_CLOEXEC);
  }
  void Ok() { Say("ok\n"); }
  void Fail(const Status& st) {
    int error_number = st.posix_errno() ? st.posix_errno() : st.code() == Code::kInUse ? EBUSY : EIO;
    Say("E" + std::to_string(error_number) + " " + st.message() + "\n");
  }

 private:
  void Say(const std::string& text) {
    if (!fd_.valid()) return;
    (void)WriteAll(fd_.get(), text.data(), text.size(), "ready pipe");
    fd_.Reset();
  }
  UniqueFd fd_;
};

// The container's process once it runs; a SIGTERM to the monitor before then.
std::atomic<int> g_container_pid{0};
std::atomic<bool> g_terminated{false};

// Ctrl-C and a closed terminal are the launcher's to forward: the monitor
// stays. SIGTERM to the monitor ends the run it owns: the container is
// killed, and the monitor records that, unmounts and goes as after any end.
// (Handlers, not SIG_IGN: the runtime and the container, which this process
// starts, must get the default dispositions back at exec.)
void HandleSignals() {
  struct sigaction sa {};
  sa.sa_handler = [](int) {};
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGHUP, SIGPIPE}) ::sigaction(sig, &sa, nullptr);
  sa.sa_handler = [](int) {
    g_terminated = true;
    if (int pid = g_container_pid.load(); pid > 0) ::kill(pid, SIGKILL);
  };
  ::sigaction(SIGTERM, &sa, nullptr);
  // The launcher forwards its terminal's size changes; the relay applies them.
  sa.sa_handler = [](int) { TerminalRelay::ResizeFromSignal(); };
  ::sigaction(SIGWINCH, &sa, nullptr);
}

// Reaps children until `pid` ends; its exit status (128 + signal when killed).
int ReapUntil(int pid, uint64_t start) {
  for (;;) {
    int status = 0;
    pid_t got = ::waitpid(-1, &status, 0);
    if (got == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {  // not ours after all (no subreaper): watch it instead
      while (ProcessIsAlive(pid, start)) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      return 255;  // its status went to another reaper
    }
  }
}

UnionRun DescribeRun(Containers& containers, const ContainerInfo& c, const std::vector<std::string>& layers) {
  const ContainerPaths paths = containers.Paths(c.id);
  UnionRun run;
  run.layers = layers;
  run.upper_dir = paths.upper;
  run.work_dir = paths.work;
  run.mountpoint = paths.merged;
  run.lock_file = paths.lock;
  run.user = c.user;
  run.spec.args = c.args;
  run.spec.env = c.env;
  run.spec.cwd = c.working_dir;
  run.spec.hostname = c.id.substr(0, 12);
  run.spec.seccomp = c.seccomp;
  run.spec.no_new_privileges = c.no_new_privileges;
  run.spec.privileged = c.privileged;
  run.spec.terminal = c.tty;
  run.verify = c.verify;
  return run;
}

// Volumes and binds as the runtime's bind mounts.
Status AddMounts(Containers& containers, const ContainerInfo& c, RunSpec& spec) {
  for (const MountRequest& m : c.mounts) {
    std::string source = m.source;
    if (m.type == MountRequest::Type::kVolume) {
      ASSIGN_OR_RETURN(VolumeInfo v, containers.volumes().Get(m.source));
      source = v.mountpoint;
    }
    spec.mounts.push_back({source, m.target, m.readonly});
  }
  return Status::OK();
}

// Records how the run ended (or that it never began: `started` false).
void RecordEnd(Containers& containers, const std::string& id, int exit_code, bool started) {
  auto c = containers.Get(id);
  if (!c.ok()) return;
  if (started) c->state = ContainerState::kExited;
  c->exit_code = exit_code;
  c->finished = std::time(nullptr);
  c->pid = c->monitor_pid = 0;
  c->pid_start = c->monitor_start = 0;
  (void)containers.Update(*c);
}

}  // namespace

int RunMonitor(Containers& containers, const std::string& id, const MonitorOptions& options) {
  ReadyPipe ready(options.ready_fd);
  HandleSignals();
  // The runtime's process is reparented to us when the runtime exits.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  auto c = containers.Get(id);
  if (!c.ok()) return ready.Fail(c.status()), 125;
  if (c->state == ContainerState::kRunning) {
    return ready.Fail(Status::InUse("container " + c->name + " is already running")), 125;
  }
  auto layers = containers.store().LayerChain(c->top_layer);
  if (!layers.ok()) return ready.Fail(layers.status()), 125;
  UnionRun run = DescribeRun(containers, *c, *layers);
  run.mount_program = options.mount_program;
  run.driver = options.driver;
  if (Status st = AddMounts(containers, *c, run.spec); !st.ok()) return ready.Fail(st), 125;
  auto mounted = MountForRun(containers.store(), run);
  if (!mounted.ok()) return ready.Fail(mounted.status()), 125;

  auto finish = [&](int code, bool started) {
    (void)UnmountAfterRun(run, *mounted);
    RecordEnd(containers, id, code, started);
    if (options.remove_when_done) {
      (void)containers.Remove(id, {.force = true, .remove_anonymous_volumes = true});
    }
    return code;
  };
  // As docker: a command that is not there is 127, one that cannot run 126.
  if (Status st = CheckExecutable(mounted->spec.rootfs, mounted->spec.args, mounted->spec.env); !st.ok()) {
    ready.Fail(st);
    return finish(st.posix_errno() == EACCES ? 126 : 127, false);
  }
  c->runtime = options.runtime;
  RuntimeOptions runtime = ContainerRuntime(containers, *c);
  runtime.stdin_fd = 0;
  std::optional<ConsoleSocket> console;
  if (c->tty) {
    auto listening = ConsoleSocket::Listen();
    if (!listening.ok()) return ready.Fail(listening.status()), finish(125, false);
    console = std::move(*listening);
    runtime.console_socket = console->path();
  }
  auto pid = StartInRuntime(mounted->spec, runtime, c->id);
  if (!pid.ok()) {
    ready.Fail(pid.status());
    return finish(125, false);
  }
  std::unique_ptr<TerminalRelay> relay;
  if (console) {
    auto master = console->ReceiveMaster();
    if (!master.ok()) {
      DeleteFromRuntime(runtime, c->id);
      ready.Fail(master.status());
      return finish(125, false);
    }
    relay = std::make_unique<TerminalRelay>(std::move(*master), 0, 1);
    console.reset();
  }
  c->state = ContainerState::kRunning;
  c->pid = *pid;
  c->pid_start = ProcessStartTime(*pid);
  c->monitor_pid = static_cast<int>(::getpid());
  c->monitor_start = ProcessStartTime(c->monitor_pid);
  c->started = std::time(nullptr);
  c->finished = 0;
  c->exit_code = 0;
  if (Status st = containers.Update(*c); !st.ok()) {
    DeleteFromRuntime(runtime, c->id);
    ready.Fail(st);
    return finish(125, false);
  }
  ready.Ok();
  g_container_pid = c->pid;
  if (g_terminated) ::kill(c->pid, SIGKILL);  // asked to end before the process ran
  const int code = ReapUntil(c->pid, c->pid_start);
  if (relay) relay->Finish();
  DeleteFromRuntime(runtime, c->id);
  return finish(code, true);
}

}  // namespace strata
