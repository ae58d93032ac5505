#include <cstdio>

#include "cli.h"
#include "output_format.h"

namespace strata::cli {

namespace {

// "K=V" strings into a map; a missing '=' is an error naming the flag.
std::map<std::string, std::string> KeyValues(const std::vector<std::string>& items, const char* flag) {
  std::map<std::string, std::string> out;
  for (const auto& item : items) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) Fail(std::string(flag) + " wants KEY=VALUE, got '" + item + "'");
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

}  // namespace

void AddVolumeCommands(CLI::App& app, Context& ctx) {
  auto* volume = app.add_subcommand("volume", "manage volumes");
  volume->require_subcommand(1);

  struct CreateArgs {
    std::string name, driver = "local";
    std::vector<std::string> labels, opts;
  };
  auto create_args = std::make_shared<CreateArgs>();
  auto* create = volume->add_subcommand("create", "create a volume");
  create->add_option("NAME", create_args->name, "volume name")->required();
  create->add_option("-d,--driver", create_args->driver, "volume driver (default local)");
  create->add_option("--label", create_args->labels, "KEY=VALUE label");
  create->add_option("-o,--opt", create_args->opts, "KEY=VALUE driver option");
  create->callback([&ctx, create_args] {
    VolumeCreateOptions options;
    options.driver = create_args->driver;
    options.labels = KeyValues(create_args->labels, "--label");
    options.options = KeyValues(create_args->opts, "--opt");
    std::printf("%s\n", Check(ctx.OpenVolumes().Create(create_args->name, options)).name.c_str());
  });

  auto ls_json = std::make_shared<bool>(false), ls_quiet = std::make_shared<bool>(false);
  auto ls_format = std::make_shared<std::string>();
  auto* ls = volume->add_subcommand("ls", "list volumes");
  ls->add_flag("--json", *ls_json, "print JSON");
  ls->add_flag("-q,--quiet", *ls_quiet, "print names only");
  ls->add_option("-f,--format", *ls_format, "per volume: a JSON pointer or {{.Field}}");
  ls->callback([&ctx, ls_json, ls_quiet, ls_format] {
    auto volumes = Check(ctx.OpenVolumes().List());
    if (*ls_json || !ls_format->empty()) {
      PrintItems(nlohmann::json::parse(ToJson(volumes)), *ls_format);
      return;
    }
    if (!*ls_quiet) std::printf("%-10s %s\n", "DRIVER", "VOLUME NAME");
    for (const auto& v : volumes) {
      if (*ls_quiet) {
        std::printf("%s\n", v.name.c_str());
      } else {
        std::printf("%-10s %s\n", v.driver.c_str(), v.name.c_str());
      }
    }
  });

  auto inspect_names = std::make_shared<std::vector<std::string>>();
  auto inspect_format = std::make_shared<std::string>();
  auto* inspect = volume->add_subcommand("inspect", "show volumes as JSON");
  inspect->add_option("NAME", *inspect_names, "volume name")->required();
  inspect->add_option("-f,--format", *inspect_format, "per volume: a JSON pointer or {{.Field}}");
  inspect->callback([&ctx, inspect_names, inspect_format] {
    std::vector<VolumeInfo> volumes;
    for (const auto& name : *inspect_names) volumes.push_back(Check(ctx.OpenVolumes().Get(name)));
    PrintItems(nlohmann::json::parse(ToJson(volumes)), *inspect_format);
  });

  auto rm_names = std::make_shared<std::vector<std::string>>();
  auto* rm = volume->add_subcommand("rm", "remove volumes no container uses");
  rm->add_option("NAME", *rm_names, "volume name")->required();
  rm->callback([&ctx, rm_names] {
    for (const auto& name : *rm_names) {
      Check(ctx.OpenVolumes().Remove(name));
      std::printf("%s\n", name.c_str());
    }
  });

  auto prune_all = std::make_shared<bool>(false);
  auto* prune = volume->add_subcommand("prune", "remove unused anonymous volumes (all unused with -a)");
  prune->add_flag("-a,--all", *prune_all, "remove unused named volumes too");
  prune->add_flag("-f,--force")->description("do not ask (strata never asks)");
  prune->callback([&ctx, prune_all] {
    auto removed = Check(ctx.OpenVolumes().Prune({.all = *prune_all}));
    for (const auto& name : removed) std::printf("Deleted: volume %s\n", name.c_str());
    std::printf("Removed %zu volume(s)\n", removed.size());
  });
}

}  // namespace strata::cli
