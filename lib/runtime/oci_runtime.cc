#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "format/json.h"
#include "runtime/seccomp.h"
#include "strata/runtime.h"
#include "strata/text.h"
#include "util/file_util.h"
#include "util/process.h"
#include "util/status_macros.h"

namespace strata {

using nlohmann::json;

namespace {

// Docker's default capability set.
const std::vector<std::string> kCapabilities = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE"};

std::string Trimmed(std::string s) {
  s.erase(0, s.find_first_not_of(" \t"));
  return s;
}

// Every capability, by number (CAP_CHOWN is 0).
const std::vector<std::string> kAllCapabilities = {"CAP_CHOWN",
                                                   "CAP_DAC_OVERRIDE",
                                                   "CAP_DAC_READ_SEARCH",
                                                   "CAP_FOWNER",
                                                   "CAP_FSETID",
                                                   "CAP_KILL",
                                                   "CAP_SETGID",
                                                   "CAP_SETUID",
                                                   "CAP_SETPCAP",
                                                   "CAP_LINUX_IMMUTABLE",
                                                   "CAP_NET_BIND_SERVICE",
                                                   "CAP_NET_BROADCAST",
                                                   "CAP_NET_ADMIN",
                                                   "CAP_NET_RAW",
                                                   "CAP_IPC_LOCK",
                                                   "CAP_IPC_OWNER",
                                                   "CAP_SYS_MODULE",
                                                   "CAP_SYS_RAWIO",
                                                   "CAP_SYS_CHROOT",
                                                   "CAP_SYS_PTRACE",
                                                   "CAP_SYS_PACCT",
                                                   "CAP_SYS_ADMIN",
                                                   "CAP_SYS_BOOT",
                                                   "CAP_SYS_NICE",
                                                   "CAP_SYS_RESOURCE",
                                                   "CAP_SYS_TIME",
                                                   "CAP_SYS_TTY_CONFIG",
                                                   "CAP_MKNOD",
                                                   "CAP_LEASE",
                                                   "CAP_AUDIT_WRITE",
                                                   "CAP_AUDIT_CONTROL",
                                                   "CAP_SETFCAP",
                                                   "CAP_MAC_OVERRIDE",
                                                   "CAP_MAC_ADMIN",
                                                   "CAP_SYSLOG",
                                                   "CAP_WAKE_ALARM",
                                                   "CAP_BLOCK_SUSPEND",
                                                   "CAP_AUDIT_READ",
                                                   "CAP_PERFMON",
                                                   "CAP_BPF",
                                                   "CAP_CHECKPOINT_RESTORE"};

// docker --privileged: every capability this process may hand on (its
// bounding set; a sandbox may lack some, and asking for those fails the start).
std::vector<std::string> BoundingCapabilities() {
  std::vector<std::string> out;
  uint64_t bounding = 0;
  if (auto status = ReadFile("/proc/self/status"); status.ok()) {
    for (const auto& line : Split(*status, '\n')) {
      if (line.rfind("CapBnd:", 0) == 0) bounding = ParseUnsigned(Trimmed(line.substr(7)), 16).value_or(0);
    }
  }
  for (size_t i = 0; i < kAllCapabilities.size(); ++i) {
    if (bounding & (uint64_t{1} << i)) out.push_back(kAllCapabilities[i]);
  }
  return out;
}

json Mount(const char* dest, const char* type, const char* source, std::vector<std::string> options) {
  return json{{"destination", dest}, {"type", type}, {"source", source}, {"options", std::move(options)}};
}

}  // namespace

Result<std::string> OciConfigJson(const RunSpec& spec) {
  const std::vector<std::string> caps = spec.privileged ? BoundingCapabilities() : kCapabilities;
  json mounts = json::array(
      {Mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
       Mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
       Mount("/dev/pts", "devpts", "devpts",
             {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}),
       Mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
       Mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
       Mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"})});
  for (const BindMount& m : spec.mounts) {
    std::vector<std::string> options = {"rbind", m.readonly ? "ro" : "rw"};
    mounts.push_back(
        json{{"destination", m.destination}, {"type", "bind"}, {"source", m.source}, {"options", options}});
  }
  json namespaces =
      json::array({{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}});
  if (!spec.network) namespaces.push_back({{"type", "network"}});
  json config = {
      {"ociVersion", "1.0.2"},
      {"process",
       {{"terminal", spec.terminal},
        {"user", {{"uid", spec.uid}, {"gid", spec.gid}}},
        {"args", spec.args},
        {"env", spec.env},
        {"cwd", spec.cwd.empty() ? "/" : spec.cwd},
        {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
        {"noNewPrivileges", spec.no_new_privileges}}},
      {"root", {{"path", spec.rootfs}, {"readonly", false}}},
      {"hostname", spec.hostname},
      {"mounts", mounts},
      {"linux",
       {{"namespaces", namespaces},
        {"maskedPaths",
         {"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
          "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"}},
        {"readonlyPaths",
         {"/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}}};
  if (spec.privileged) {
    config["linux"].erase("maskedPaths");
    config["linux"].erase("readonlyPaths");
  }
  if (spec.seccomp && !spec.privileged) {
    ASSIGN_OR_RETURN(config["linux"]["seccomp"], DefaultSeccompProfile(caps));
  }
  return DumpJson(config, 2);
}

namespace {

// "runc [--root R] ARGS..."
std::vector<std::string> RuntimeCommand(const RuntimeOptions& options, std::vector<std::string> args) {
  std::vector<std::string> command = {options.runtime};
  if (!options.root.empty()) {
    command.push_back("--root");
    command.push_back(options.root);
  }
  command.insert(command.end(), args.begin(), args.end());
  return command;
}

// The runtime's own error, from its JSON log: the last "msg" of level error.
std::string RuntimeError(const std::string& log_path) {
  auto text = ReadFile(log_path);
  if (!text.ok()) return "";
  std::string message;
  for (const auto& line : Split(*text, '\n')) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.value("level", "") == "error" && j.contains("msg") && j["msg"].is_string())
      message = j["msg"].get<std::string>();
  }
  return message;
}

}  // namespace

Result<int> RunInRuntime(const RunSpec& spec, const RuntimeOptions& options) {
  if (spec.args.empty()) return Status::InvalidArgument("nothing to run");
  if (spec.rootfs.empty() || spec.rootfs[0] != '/') return Status::InvalidArgument("rootfs must be absolute");
  if (spec.terminal) return Status::InvalidArgument("a terminal is for detached runs (StartInRuntime)");
  std::string base = options.state_dir.empty() ? "/tmp" : options.state_dir;
  std::string id = "strata-" + RandomHex(8);
  std::string bundle = base + "/" + id;
  RETURN_IF_ERROR(MakePrivateDir(bundle));
  struct Cleanup {  // a runtime that died midway may leave its container state behind
    RuntimeOptions forget;
    std::string id;
    ~Cleanup() { DeleteFromRuntime(forget, id); }
  } cleanup{options, id};
  cleanup.forget.state_dir = base;
  ASSIGN_OR_RETURN(std::string config, OciConfigJson(spec));
  RETURN_IF_ERROR(WriteFileAtomic(bundle + "/config.json", config));
  ASSIGN_OR_RETURN(int status, Spawn(RuntimeCommand(options, {"run", "--bundle", bundle, id}),
                                     options.stdout_fd, options.stderr_fd, options.stdin_fd));
  if (status == 127) return Status::NotFound("cannot run the OCI runtime " + options.runtime);
  return status;
}

Result<int> StartInRuntime(const RunSpec& spec, const RuntimeOptions& options, const std::string& id) {
  if (spec.args.empty()) return Status::InvalidArgument("nothing to run");
  if (options.state_dir.empty()) return Status::InvalidArgument("a detached run needs a state directory");
  const std::string bundle = options.state_dir + "/" + id;
  RETURN_IF_ERROR(MakePrivateDir(bundle));
  ASSIGN_OR_RETURN(std::string config, OciConfigJson(spec));
  RETURN_IF_ERROR(WriteFileAtomic(bundle + "/config.json", config));
  if (!options.root.empty()) RETURN_IF_ERROR(MakePrivateDir(options.root));
  const std::string pid_file = bundle + "/pid", log = bundle + "/runtime.log";
  std::vector<std::string> run = {"--log", log, "--log-format", "json", "run", "-d", "--pid-file", pid_file};
  if (spec.terminal) {
    if (options.console_socket.empty())
      return Status::InvalidArgument("a run with a terminal needs a console socket");
    run.insert(run.end(), {"--console-socket", options.console_socket});
  }
  run.insert(run.end(), {"--bundle", bundle, id});
  ASSIGN_OR_RETURN(int status, Spawn(RuntimeCommand(options, run), options.stdout_fd, options.stderr_fd,
                                     options.stdin_fd));
  if (status == 127) return Status::NotFound("cannot run the OCI runtime " + options.runtime);
  if (status != 0) {
    std::string why = RuntimeError(log);
    DeleteFromRuntime(options, id);
    return Status::IOError(options.runtime + ": " +
                           (why.empty() ? "exit status " + std::to_string(status) : why));
  }
  ASSIGN_OR_RETURN(std::string pid_text, ReadFile(pid_file));
  auto pid = ParseUnsigned(pid_text, 10, INT32_MAX);
  if (!pid || *pid == 0) return Status::IOError(options.runtime + " wrote no pid to " + pid_file);
  return static_cast<int>(*pid);
}

Status SignalInRuntime(const RuntimeOptions& options, const std::string& id, int signal) {
  UniqueFd devnull(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  ASSIGN_OR_RETURN(int status, Spawn(RuntimeCommand(options, {"kill", id, std::to_string(signal)}),
                                     devnull.get(), devnull.get()));
  if (status != 0)
    return Status::IOError(options.runtime + " kill " + id + ": exit status " + std::to_string(status));
  return Status::OK();
}

void DeleteFromRuntime(const RuntimeOptions& options, const std::string& id) {
  UniqueFd devnull(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  (void)Spawn(RuntimeCommand(options, {"delete", "--force", id}), devnull.get(), devnull.get());
  if (!options.state_dir.empty()) (void)RemoveAll(options.state_dir + "/" + id);
}

namespace {

// `path` inside `root`, as the container will see it: symlinks resolved
// inside root (RESOLVE_IN_ROOT), never outside it.
Result<struct stat> StatInRoot(int root_fd, const std::string& path) {
  struct open_how how {};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(::syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how));
  if (fd < 0) return Status::Posix(errno, path);
  UniqueFd owned(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::Posix(errno, path);
  return st;
}

}  // namespace

Status CheckExecutable(const std::string& rootfs, const std::vector<std::string>& args,
                       const std::vector<std::string>& env) {
  if (args.empty()) return Status::InvalidArgument("no command");
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return ErrnoStatus("open", rootfs);
  const std::string& command = args[0];
  auto check = [&](const std::string& path) -> Result<bool> {  // true: runnable; false: not there
    auto st = StatInRoot(root.get(), path);
    if (!st.ok()) return false;
    if (S_ISDIR(st->st_mode) || !(st->st_mode & 0111))
      return Status::Posix(EACCES, "exec: \"" + command + "\": permission denied");
    return true;
  };
  if (command.find('/') != std::string::npos) {
    ASSIGN_OR_RETURN(bool found, check(command));
    if (!found)
      return Status::Posix(ENOENT,
                           "exec: \"" + command + "\": stat " + command + ": no such file or directory");
    return Status::OK();
  }
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& e : env)
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  Status denied;
  for (const auto& dir : Split(path, ':')) {
    auto found = check(JoinPath(dir.empty() ? "." : dir, command));
    if (found.ok() && *found) return Status::OK();
    if (!found.ok() && denied.ok()) denied = found.status();
  }
  if (!denied.ok()) return denied;  // as exec: a file found but not runnable
  return Status::Posix(ENOENT, "exec: \"" + command + "\": executable file not found in $PATH");
}

void SignalRuntimeProcesses(int signal) {
  SignalSpawnedChildren(signal);
}

}  // namespace strata
