// Shared pieces of the strata CLI: the open store, error reporting, formats.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "strata/strata.h"

namespace strata::cli {

struct Context {
  std::string root;
  std::unique_ptr<Store> store;
  std::unique_ptr<Volumes> volumes;
  std::unique_ptr<Containers> containers;

  // Each opens on first use (with what it is built on); exits with an error line if it cannot.
  Store& OpenStore();
  Volumes& OpenVolumes();
  Containers& OpenContainers();
};

// Prints "strata: error: MESSAGE" (one line) and ends the command with exit 1.
[[noreturn]] void Fail(const Status& status);
[[noreturn]] void Fail(const std::string& message, int exit_code = 1);

// The value, or an error line and `exit_code` (run's refusals are 125, as docker's).
template <typename T>
T Check(Result<T> result, int exit_code = 1) {
  if (!result.ok()) Fail(result.status().message(), exit_code);
  return std::move(result).value();
}
inline void Check(const Status& status) {
  if (!status.ok()) Fail(status);
}

// --driver on a command that mounts a tree: fuse, kernel or auto.
void AddDriverOption(CLI::App* cmd, std::string& driver);
// The flag's driver; without one $STRATA_DRIVER's, else auto (the kernel
// path where it can be used, else FUSE).
MountDriver ChosenDriver(const std::string& flag);

std::string FormatTime(int64_t unix_seconds);
// Prints JSON and a newline; bytes that are not UTF-8 (file names) print as U+FFFD.
void PrintJson(const nlohmann::json& j);
// Compact JSON, with the same care for bytes that are not UTF-8.
std::string DumpJsonText(const nlohmann::json& j);
std::string ShortId(const std::string& id);

void AddBuildCommands(CLI::App& app, Context& ctx);
void AddContainerCommands(CLI::App& app, Context& ctx);
void AddRunCommands(CLI::App& app, Context& ctx);  // cmd_run.cc
void AddOciCommands(CLI::App& app, Context& ctx);
void AddRegistryCommands(CLI::App& app, Context& ctx);
void AddSystemCommands(CLI::App& app, Context& ctx);
void AddImportCommand(CLI::App& app, Context& ctx);
void AddImageCommands(CLI::App& app, Context& ctx);
void AddLayerCommands(CLI::App& app, Context& ctx);
void AddMountCommands(CLI::App& app, Context& ctx);
void AddVolumeCommands(CLI::App& app, Context& ctx);
void AddVersionCommands(CLI::App& app, Context& ctx);
void AddCompletionCommand(CLI::App& app);
void AddVolumePluginCommand(CLI::App& app, Context& ctx);

}  // namespace strata::cli
