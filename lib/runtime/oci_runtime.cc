#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "format/json.h"
#include "strata/runtime.h"
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

json Mount(const char* dest, const char* type, const char* source, std::vector<std::string> options) {
  return json{{"destination", dest}, {"type", type}, {"source", source}, {"options", std::move(options)}};
}

}  // namespace

std::string OciConfigJson(const RunSpec& spec) {
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
       {{"terminal", false},
        {"user", {{"uid", spec.uid}, {"gid", spec.gid}}},
        {"args", spec.args},
        {"env", spec.env},
        {"cwd", spec.cwd.empty() ? "/" : spec.cwd},
        {"capabilities",
         {{"bounding", kCapabilities}, {"effective", kCapabilities}, {"permitted", kCapabilities}}},
        {"noNewPrivileges", true}}},
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
  return DumpJson(config, 2);
}

Result<int> RunInRuntime(const RunSpec& spec, const RuntimeOptions& options) {
  if (spec.args.empty()) return Status::InvalidArgument("nothing to run");
  if (spec.rootfs.empty() || spec.rootfs[0] != '/') return Status::InvalidArgument("rootfs must be absolute");
  std::string base = options.state_dir.empty() ? "/tmp" : options.state_dir;
  std::string id = "strata-" + RandomHex(8);
  std::string bundle = base + "/" + id;
  RETURN_IF_ERROR(MakeDirs(bundle));
  struct Cleanup {
    std::string bundle, runtime, id;
    ~Cleanup() {
      // A runtime that died midway may leave its container state behind.
      UniqueFd devnull(::open("/dev/null", O_WRONLY | O_CLOEXEC));
      (void)Spawn({runtime, "delete", "--force", id}, devnull.get(), devnull.get());
      (void)RemoveAll(bundle);
    }
  } cleanup{bundle, options.runtime, id};
  RETURN_IF_ERROR(WriteFileAtomic(bundle + "/config.json", OciConfigJson(spec)));
  ASSIGN_OR_RETURN(int status, Spawn({options.runtime, "run", "--bundle", bundle, id}, options.stdout_fd,
                                     options.stderr_fd));
  if (status == 127) return Status::NotFound("cannot run the OCI runtime " + options.runtime);
  return status;
}

}  // namespace strata
