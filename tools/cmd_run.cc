// strata create / run / start / stop / kill / wait: a container's runs.
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "cli.h"

namespace strata::cli {

namespace {

struct CreateArgs {
  std::string name, workdir, user, entrypoint, runtime = "runc", driver, volume_driver;
  std::vector<std::string> volumes, mounts, env, security_opts;
  bool remove = false, detach = false, interactive = false, tty = false, privileged = false, verify = false;
};

void AddCreateFlags(CLI::App* cmd, CreateArgs& a) {
  cmd->add_option("--name", a.name, "container name (default: generated)");
  // Repeatable flags of one value each, so IMAGE and CMD after them stay positional.
  auto repeatable = [cmd](const char* names, std::vector<std::string>& into, const char* help) {
    cmd->add_option_function<std::string>(
           names, [&into](const std::string& v) { into.push_back(v); }, help)
        ->trigger_on_parse();
  };
  repeatable("-v,--volume", a.volumes, "NAME:/path[:ro] (a named volume) or /host:/path[:ro] (a bind mount)");
  repeatable("--mount", a.mounts, "type=volume|bind,source=...,target=...[,readonly]");
  repeatable("-e,--env", a.env, "KEY=VALUE (or KEY: the caller's value)");
  cmd->add_option("--volume-driver", a.volume_driver,
                  "driver of the volumes -v makes (a Docker volume plugin's name; default local)");
  cmd->add_option("-w,--workdir", a.workdir, "working directory in the container");
  cmd->add_option("-u,--user", a.user, "user[:group] to run as");
  cmd->add_option("--entrypoint", a.entrypoint, "overrides the image's ENTRYPOINT");
  repeatable("--security-opt", a.security_opts, "seccomp=unconfined or no-new-privileges");
  cmd->add_flag("--privileged", a.privileged, "every capability, no seccomp, no masked paths");
  cmd->add_flag("-t,--tty", a.tty, "a terminal for the container's process");
  cmd->add_flag("--verify", a.verify,
                "check each file's stored content against its digest at its first open");
  // IMAGE [CMD...]: everything from the image on belongs to the container.
  cmd->prefix_command();
}

// Creates the container IMAGE [CMD...] names. `failure` is the exit status of
// a refusal: 125 for run, as docker's "the engine failed".
ContainerInfo Create(Context& ctx, const CreateArgs& a, const std::vector<std::string>& rest, int failure) {
  if (rest.empty()) Fail("an IMAGE is required", failure);
  // Flags stop at the image: one left in front of it is none of ours.
  if (rest[0].size() > 1 && rest[0][0] == '-') Fail("unknown flag: " + rest[0], failure);
  ContainerConfig config;
  config.name = a.name;
  config.image = rest[0];
  config.cmd.assign(rest.begin() + 1, rest.end());
  if (!a.entrypoint.empty()) config.entrypoint = {a.entrypoint};
  config.env = a.env;
  config.working_dir = a.workdir;
  config.user = a.user;
  config.privileged = a.privileged;
  config.verify = a.verify;
  config.tty = a.tty;
  for (const auto& opt : a.security_opts) {
    if (opt == "seccomp=unconfined" || opt == "seccomp:unconfined") {
      config.seccomp = false;
    } else if (opt == "no-new-privileges" || opt == "no-new-privileges=true" ||
               opt == "no-new-privileges:true") {
      config.no_new_privileges = true;
    } else if (opt == "no-new-privileges=false" || opt == "no-new-privileges:false") {
      config.no_new_privileges = false;
    } else {
      Fail("--security-opt " + opt + ": strata knows seccomp=unconfined and no-new-privileges", failure);
    }
  }
  for (const auto& v : a.volumes) config.mounts.push_back(Check(ParseVolumeFlag(v), failure));
  for (const auto& m : a.mounts) config.mounts.push_back(Check(ParseMountFlag(m), failure));
  config.volume_driver = a.volume_driver;
  return Check(ctx.OpenContainers().Create(config), failure);
}

// Docker's exit statuses for a run that did not begin: 127 the command is not
// there, 126 it cannot be run, 125 anything else.
[[noreturn]] void FailToStart(const Status& status) {
  const int code = status.posix_errno() == ENOENT ? 127 : status.posix_errno() == EACCES ? 126 : 125;
  Fail(status.message(), code);
}

// The caller's terminal in raw mode while a container's terminal is attached
// to it: every key, Ctrl-C too, goes to the container, as with docker -it.
// Put back at the end, however the end comes (exit() included).
class RawTerminal {
 public:
  explicit RawTerminal(bool wanted) {
    if (!wanted || !::isatty(STDIN_FILENO) || ::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    struct termios raw = saved_;
    ::cfmakeraw(&raw);
    if (::tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) != 0) return;
    active_ = true;
    static bool registered = false;
    if (!registered) std::atexit([] { Restore(); });
    registered = true;
  }
  ~RawTerminal() { Restore(); }

 private:
  static void Restore() {
    if (active_) ::tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_);
    active_ = false;
  }
  static inline struct termios saved_ {};
  static inline bool active_ = false;
};

// An attached run: the monitor runs it; this process waits, and forwards
// SIGINT, SIGTERM and SIGHUP to the container's process, and a terminal's
// size changes (SIGWINCH) to the monitor, which relays its terminal. A second
// Ctrl-C stops the container (SIGTERM, then SIGKILL after 10 s). Returns the
// container's exit status.
int RunAttached(Context& ctx, const std::string& id, const StartOptions& options) {
  sigset_t signals, old;
  sigemptyset(&signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGWINCH}) sigaddset(&signals, sig);
  ::sigprocmask(SIG_BLOCK, &signals, &old);
  std::fflush(stdout);
  const bool tty = Check(ctx.OpenContainers().Get(id)).tty;
  RawTerminal raw(tty && options.stdin_fd == STDIN_FILENO);
  auto monitor = LaunchContainer(ctx.OpenContainers(), id, options);
  if (!monitor.ok()) FailToStart(monitor.status());
  int interrupts = 0;
  for (;;) {
    int status = 0;
    if (::waitpid(*monitor, &status, WNOHANG) == *monitor) {
      ::sigprocmask(SIG_SETMASK, &old, nullptr);
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    siginfo_t info;
    int sig = ::sigwaitinfo(&signals, &info);
    if (sig < 0 || sig == SIGCHLD) continue;
    if (sig == SIGWINCH) {
      ::kill(*monitor, SIGWINCH);
      continue;
    }
    if (sig == SIGINT && ++interrupts >= 2) {
      std::fprintf(stderr, "strata: stopping container %s\n", id.substr(0, 12).c_str());
      (void)StopContainer(ctx.OpenContainers(), id, 10);
      continue;
    }
    (void)KillContainer(ctx.OpenContainers(), id, sig);
  }
}

// A detached start: the output goes to the container's log (`strata logs`).
void StartDetached(Context& ctx, const std::string& id, StartOptions options) {
  options.log_output = true;
  auto monitor = LaunchContainer(ctx.OpenContainers(), id, options);
  if (!monitor.ok()) FailToStart(monitor.status());
}

int ParseSignal(const std::string& name) {
  if (auto number = ParseUnsigned(name, 10, 64)) return static_cast<int>(*number);
  std::string n = name.rfind("SIG", 0) == 0 ? name.substr(3) : name;
  static const std::pair<const char*, int> kSignals[] = {
      {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL}, {"USR1", SIGUSR1},
      {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"STOP", SIGSTOP}, {"CONT", SIGCONT}, {"WINCH", SIGWINCH}};
  for (const auto& [known, number] : kSignals)
    if (n == known) return number;
  Fail("unknown signal " + name);
}

void AddCreateAndRun(CLI::App& app, Context& ctx) {
  auto create_args = std::make_shared<CreateArgs>();
  auto* create = app.add_subcommand("create", "create a container: IMAGE [CMD...]");
  AddCreateFlags(create, *create_args);
  create->callback([&ctx, create_args, create] {
    ContainerInfo c = Create(ctx, *create_args, create->remaining(), 1);
    std::printf("%s\n", c.id.c_str());
  });

  auto run_args = std::make_shared<CreateArgs>();
  auto* run = app.add_subcommand("run", "create a container and run it: IMAGE [CMD...]");
  AddCreateFlags(run, *run_args);
  run->add_flag("--rm", run_args->remove, "remove the container (and its anonymous volumes) when it ends");
  run->add_flag("-d,--detach", run_args->detach, "run in the background and print the container id");
  run->add_flag("-i,--interactive", run_args->interactive, "keep standard input attached");
  run->add_option("--runtime", run_args->runtime, "OCI runtime (default runc)");
  AddDriverOption(run, run_args->driver);
  run->callback([&ctx, run_args, run] {
    if (run_args->tty && run_args->interactive && !run_args->detach && !::isatty(STDIN_FILENO))
      Fail("the input device is not a TTY", 125);  // -it wants one to attach, as docker says
    ContainerInfo c = Create(ctx, *run_args, run->remaining(), 125);
    StartOptions options;
    options.runtime = run_args->runtime;
    options.driver = ChosenDriver(run_args->driver);
    options.remove_when_done = run_args->remove;
    if (run_args->interactive) options.stdin_fd = STDIN_FILENO;
    if (run_args->detach) {
      StartDetached(ctx, c.id, options);
      std::printf("%s\n", c.id.c_str());
      return;
    }
    int status = RunAttached(ctx, c.id, options);
    if (status != 0) throw CLI::RuntimeError(status);
  });
}

void AddStartStopKillWait(CLI::App& app, Context& ctx) {
  struct StartArgs {
    std::vector<std::string> names;
    bool attach = false, interactive = false;
    std::string runtime = "runc", driver;
  };
  auto start_args = std::make_shared<StartArgs>();
  auto* start = app.add_subcommand("start", "run a container's command again, in its kept layer");
  start->add_option("CONTAINER", start_args->names, "name or id")->required();
  start->add_flag("-a,--attach", start_args->attach, "print its output and exit with its status");
  start->add_flag("-i,--interactive", start_args->interactive, "attach standard input (with -a)");
  start->add_option("--runtime", start_args->runtime, "OCI runtime (default runc)");
  AddDriverOption(start, start_args->driver);
  start->callback([&ctx, start_args] {
    int last = 0;
    for (const auto& name : start_args->names) {
      ContainerInfo c = Check(ctx.OpenContainers().Get(name));
      StartOptions options;
      options.runtime = start_args->runtime;
      options.driver = ChosenDriver(start_args->driver);
      if (start_args->interactive) options.stdin_fd = STDIN_FILENO;
      if (start_args->attach) {
        last = RunAttached(ctx, c.id, options);
      } else {
        StartDetached(ctx, c.id, options);
        std::printf("%s\n", c.name.c_str());
      }
    }
    if (start_args->attach && last != 0) throw CLI::RuntimeError(last);
  });

  struct StopArgs {
    std::vector<std::string> names;
    int timeout = 10;
  };
  auto stop_args = std::make_shared<StopArgs>();
  auto* stop =
      app.add_subcommand("stop", "stop running containers: SIGTERM, then SIGKILL after a grace period");
  stop->add_option("CONTAINER", stop_args->names, "name or id")->required();
  stop->add_option("-t,--time", stop_args->timeout, "seconds to wait before SIGKILL (default 10)");
  stop->callback([&ctx, stop_args] {
    for (const auto& name : stop_args->names) {
      Check(StopContainer(ctx.OpenContainers(), name, stop_args->timeout));
      std::printf("%s\n", name.c_str());
    }
  });

  struct KillArgs {
    std::vector<std::string> names;
    std::string signal = "KILL";
  };
  auto kill_args = std::make_shared<KillArgs>();
  auto* kill = app.add_subcommand("kill", "send a signal to running containers (default SIGKILL)");
  kill->add_option("CONTAINER", kill_args->names, "name or id")->required();
  kill->add_option("-s,--signal", kill_args->signal, "signal name or number");
  kill->callback([&ctx, kill_args] {
    const int sig = ParseSignal(kill_args->signal);
    for (const auto& name : kill_args->names) {
      Check(KillContainer(ctx.OpenContainers(), name, sig));
      std::printf("%s\n", name.c_str());
    }
  });

  auto wait_names = std::make_shared<std::vector<std::string>>();
  auto* wait = app.add_subcommand("wait", "wait for containers to end and print their exit statuses");
  wait->add_option("CONTAINER", *wait_names, "name or id")->required();
  wait->callback([&ctx, wait_names] {
    for (const auto& name : *wait_names) {
      ContainerInfo c = Check(WaitContainer(ctx.OpenContainers(), name));
      std::printf("%d\n", c.exit_code);
    }
  });
}

}  // namespace

void AddRunCommands(CLI::App& app, Context& ctx) {
  AddCreateAndRun(app, ctx);
  AddStartStopKillWait(app, ctx);
}

}  // namespace strata::cli
