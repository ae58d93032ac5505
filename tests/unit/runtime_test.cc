// Runs real processes with runc in a busybox root file system.
#include <catch2/catch.hpp>

#include <set>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "strata/runtime.h"
#include "test_util.h"
#include "util/file_util.h"

using namespace strata;
using namespace strata::test;
namespace fs = std::filesystem;

namespace {

std::string MakeBusyboxRoot(const TempDir& tmp) {
  std::string root = tmp / "rootfs";
  for (const char* d : {"bin", "tmp", "proc", "sys", "dev", "etc"}) fs::create_directories(root + "/" + d);
  fs::copy_file("/bin/busybox", root + "/bin/busybox");
  for (const char* applet : {"sh", "echo", "cat", "id", "pwd", "wc", "hostname", "ls"}) {
    fs::create_symlink("busybox", root + "/bin/" + applet);
  }
  return root;
}

// Runs `script` with sh -c and returns (exit status, stdout).
std::pair<int, std::string> Run(const TempDir& tmp, RunSpec spec, const std::string& script) {
  spec.args = {"/bin/sh", "-c", script};
  std::string out_path = tmp / "stdout";
  UniqueFd out(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  UniqueFd err(::open((tmp / "stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  RuntimeOptions options;
  options.stdout_fd = out.get();
  options.stderr_fd = err.get();
  options.state_dir = tmp.path();
  auto status = RunInRuntime(spec, options);
  REQUIRE(status.ok());
  return {*status, ReadBytes(out_path)};
}

}  // namespace

TEST_CASE("the OCI config carries the process, the mounts and no rlimits") {
  RunSpec spec;
  spec.rootfs = "/r";
  spec.args = {"/bin/true"};
  spec.mounts.push_back({"/host/data", "/data", true});
  auto text = OciConfigJson(spec);
  REQUIRE(text.ok());
  auto config = nlohmann::json::parse(*text);
  REQUIRE(config["root"]["path"] == "/r");
  REQUIRE(config["process"]["args"][0] == "/bin/true");
  REQUIRE_FALSE(config["process"].contains("rlimits"));
  auto namespaces = config["linux"]["namespaces"].dump();
  REQUIRE(namespaces.find("network") != std::string::npos);  // no network unless asked
  auto mounts = config["mounts"].dump();
  REQUIRE(mounts.find("\"/data\"") != std::string::npos);
  REQUIRE(mounts.find("\"ro\"") != std::string::npos);
}

TEST_CASE("docker's default hardening: its seccomp profile, masked paths, and the ways out") {
  RunSpec spec;
  spec.rootfs = "/r";
  spec.args = {"/bin/true"};
  auto config = nlohmann::json::parse(*OciConfigJson(spec));
  const auto& seccomp = config["linux"]["seccomp"];
  CHECK(seccomp["defaultAction"] == "SCMP_ACT_ERRNO");
  CHECK(seccomp["architectures"][0] == "SCMP_ARCH_X86_64");
  std::set<std::string> allowed;
  for (const auto& rule : seccomp["syscalls"]) {
    if (rule["action"] == "SCMP_ACT_ALLOW" && !rule.contains("args"))
      for (const auto& n : rule["names"]) allowed.insert(n.get<std::string>());
  }
  for (const char* ok : {"read", "write", "openat", "execve", "clone", "arch_prctl"}) {
    INFO(ok);
    CHECK((allowed.count(ok) || seccomp.dump().find(std::string("\"") + ok + "\"") != std::string::npos));
  }
  for (const char* refused : {"unshare", "mount", "kexec_load", "bpf", "setns", "reboot", "init_module"}) {
    INFO(refused);  // CAP_SYS_ADMIN, CAP_SYS_BOOT, CAP_SYS_MODULE: not in the default set
    CHECK_FALSE(allowed.count(refused));
  }
  CHECK(config["process"]["noNewPrivileges"] == false);  // as docker, unless asked
  CHECK(config["linux"]["maskedPaths"].dump().find("/proc/kcore") != std::string::npos);

  spec.seccomp = false;
  spec.no_new_privileges = true;
  config = nlohmann::json::parse(*OciConfigJson(spec));
  CHECK_FALSE(config["linux"].contains("seccomp"));
  CHECK(config["process"]["noNewPrivileges"] == true);

  spec = RunSpec{};
  spec.rootfs = "/r";
  spec.args = {"/bin/true"};
  spec.privileged = true;
  config = nlohmann::json::parse(*OciConfigJson(spec));
  CHECK_FALSE(config["linux"].contains("seccomp"));
  CHECK_FALSE(config["linux"].contains("maskedPaths"));
  CHECK(config["process"]["capabilities"]["bounding"].size() > 14);
}

TEST_CASE("runc runs the process with its env, cwd, user and exit status", "[runc]") {
  TempDir tmp;
  RunSpec spec;
  spec.rootfs = MakeBusyboxRoot(tmp);
  spec.env = {"PATH=/bin", "GREETING=hello there"};
  spec.cwd = "/tmp";
  spec.uid = 1000;
  spec.gid = 1001;
  spec.hostname = "builder";
  auto [status, out] = Run(tmp, spec, "echo \"$GREETING\"; pwd; id -u; id -g; hostname");
  REQUIRE(status == 0);
  REQUIRE(out == "hello there\n/tmp\n1000\n1001\nbuilder\n");

  auto [failed, nothing] = Run(tmp, spec, "exit 7");
  REQUIRE(failed == 7);
}

TEST_CASE("no network but loopback, and bind mounts reach the container", "[runc]") {
  TempDir tmp;
  RunSpec spec;
  spec.rootfs = MakeBusyboxRoot(tmp);
  spec.env = {"PATH=/bin"};
  fs::create_directories(tmp / "host");
  WriteBytes(tmp / "host/file", "from the host\n");
  fs::create_directories(tmp / "rootfs/data");
  spec.mounts.push_back({tmp / "host", "/data", true});
  auto [status, out] =
      Run(tmp, spec, "ls /sys/class/net; cat /data/file; echo >/data/file || echo read-only");
  REQUIRE(status == 0);
  REQUIRE(out == "lo\nfrom the host\nread-only\n");
}

TEST_CASE("a missing runtime is a clear error") {
  TempDir tmp;
  RunSpec spec;
  spec.rootfs = tmp.path();
  spec.args = {"/bin/true"};
  RuntimeOptions options;
  options.runtime = "/nonexistent/runc";
  options.state_dir = tmp.path();
  auto status = RunInRuntime(spec, options);
  REQUIRE(status.status().code() == Code::kNotFound);
  REQUIRE_THAT(status.status().message(), Catch::Contains("/nonexistent/runc"));
}

TEST_CASE("ListDir gives a directory's names sorted, without . and .., by path or descriptor") {
  TempDir tmp;
  for (const char* name : {"b", "a", ".hidden"}) WriteBytes(tmp / name, "x");
  std::vector<std::string> want = {".hidden", "a", "b"};
  REQUIRE(*ListDir(std::string(tmp / "")) == want);
  UniqueFd dir(::open(std::string(tmp / "").c_str(), O_RDONLY | O_DIRECTORY));
  REQUIRE(*ListDir(dir.get()) == want);
  REQUIRE(*ListDir(dir.get()) == want);                // each call reads from the start
  REQUIRE(::faccessat(dir.get(), "a", F_OK, 0) == 0);  // and the descriptor stays usable
  auto missing = ListDir(std::string(tmp / "nope"));
  REQUIRE_FALSE(missing.ok());
  REQUIRE(missing.status().message().find("nope") != std::string::npos);
}
