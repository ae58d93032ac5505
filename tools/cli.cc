#include "cli.h"

#include <cstdio>
#include <ctime>

namespace strata::cli {

Store& Context::OpenStore() {
  if (!store) store = Check(Store::Open(root));
  return *store;
}

Volumes& Context::OpenVolumes() {
  if (!volumes) volumes = Check(Volumes::Open(OpenStore()));
  return *volumes;
}

Containers& Context::OpenContainers() {
  if (!containers) containers = Check(Containers::Open(OpenStore(), OpenVolumes()));
  return *containers;
}

void Fail(const std::string& message, int exit_code) {
  std::string line = message;
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::fprintf(stderr, "strata: error: %s\n", line.c_str());
  throw CLI::RuntimeError(exit_code);
}

void Fail(const Status& status) {
  Fail(status.message());
}

std::string DumpJsonText(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void PrintJson(const nlohmann::json& j) {
  std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

std::string FormatTime(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string ShortId(const std::string& id) {
  return id.substr(0, 12);
}

void AddDriverOption(CLI::App* cmd, std::string& driver) {
  cmd->add_option("--driver", driver,
                  "who mounts the tree: kernel (kernel overlayfs; root, Linux 6.8+), fuse (strata-fuse, any "
                  "user) or auto (default: $STRATA_DRIVER, else the kernel where it can)")
      ->check(CLI::IsMember({"auto", "fuse", "kernel"}));
}

MountDriver ChosenDriver(const std::string& flag) {
  const char* env = std::getenv("STRATA_DRIVER");
  const std::string name = !flag.empty() ? flag : env && *env ? env : "auto";
  auto driver = ParseMountDriver(name);
  if (!driver.ok() && flag.empty()) Fail("STRATA_DRIVER: " + driver.status().message());
  return Check(std::move(driver));
}

}  // namespace strata::cli
