// strata ps / rm / diff / commit / logs (cmd_run.cc: create, run, start, stop, kill, wait).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "output_format.h"
#include "progress_display.h"

namespace strata::cli {

namespace {

std::string Ago(int64_t t) {
  int64_t d = std::time(nullptr) - t;
  if (d < 60) return std::to_string(d) + " seconds ago";
  if (d < 3600) return std::to_string(d / 60) + " minutes ago";
  if (d < 86400) return std::to_string(d / 3600) + " hours ago";
  return std::to_string(d / 86400) + " days ago";
}

std::string StatusText(const ContainerInfo& c) {
  switch (c.state) {
    case ContainerState::kCreated: return "Created";
    case ContainerState::kRunning: return "Up since " + FormatTime(c.started);
    case ContainerState::kExited: return "Exited (" + std::to_string(c.exit_code) + ") " + Ago(c.finished);
  }
  return "";
}

std::string Joined(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) out += (out.empty() ? "" : " ") + a;
  return out.size() > 30 ? out.substr(0, 27) + "..." : out;
}

// ps, rm.
void AddListCommands(CLI::App& app, Context& ctx) {
  struct PsArgs {
    bool all = false, json = false, quiet = false;
    std::string format;
  };
  auto ps_args = std::make_shared<PsArgs>();
  auto* ps = app.add_subcommand("ps", "list containers (running ones; -a for all)");
  ps->add_flag("-a,--all", ps_args->all, "all containers");
  ps->add_flag("--json", ps_args->json, "print JSON");
  ps->add_flag("-q,--quiet", ps_args->quiet, "ids only");
  ps->add_option("-f,--format", ps_args->format,
                 "per container: a JSON pointer or {{.Field}} (--json's names)");
  ps->callback([&ctx, ps_args] {
    std::vector<ContainerInfo> shown;
    for (auto& c : Check(ctx.OpenContainers().List())) {
      if (ps_args->all || c.state == ContainerState::kRunning) shown.push_back(std::move(c));
    }
    if (ps_args->json || !ps_args->format.empty()) {
      PrintItems(nlohmann::json::parse(ToJson(shown)), ps_args->format);
      return;
    }
    if (!ps_args->quiet) {
      std::printf("%-14s %-20s %-32s %-21s %-26s %s\n", "CONTAINER ID", "IMAGE", "COMMAND", "CREATED",
                  "STATUS", "NAMES");
    }
    for (const auto& c : shown) {
      if (ps_args->quiet) {
        std::printf("%s\n", c.id.c_str());
        continue;
      }
      std::string command = "\"" + Joined(c.args) + "\"";
      std::printf("%-14s %-20s %-32s %-21s %-26s %s\n", ShortId(c.id).c_str(), c.image_ref.c_str(),
                  command.c_str(), FormatTime(c.created).c_str(), StatusText(c).c_str(), c.name.c_str());
    }
  });

  struct RmArgs {
    std::vector<std::string> names;
    bool force = false, volumes = false;
  };
  auto rm_args = std::make_shared<RmArgs>();
  auto* rm = app.add_subcommand("rm", "remove containers and their writable layers (volumes stay)");
  rm->add_option("CONTAINER", rm_args->names, "name or id")->required();
  rm->add_flag("-f,--force", rm_args->force, "remove a running container too");
  rm->add_flag("-v,--volumes", rm_args->volumes, "remove its anonymous volumes too");
  rm->callback([&ctx, rm_args] {
    for (const auto& name : rm_args->names) {
      Check(ctx.OpenContainers().Remove(
          name, {.force = rm_args->force, .remove_anonymous_volumes = rm_args->volumes}));
      std::printf("%s\n", name.c_str());
    }
  });
}

// diff, commit, logs: what a container's layer and runs left.
void AddLayerOfContainerCommands(CLI::App& app, Context& ctx) {
  auto diff_name = std::make_shared<std::string>();
  auto diff_json = std::make_shared<bool>(false);
  auto* diff = app.add_subcommand("diff", "what a container changed: A added, C changed, D deleted");
  diff->add_option("CONTAINER", *diff_name, "name or id")->required();
  diff->add_flag("--json", *diff_json, "print JSON");
  diff->callback([&ctx, diff_name, diff_json] {
    auto changes = Check(ctx.OpenContainers().Diff(*diff_name));
    if (*diff_json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& c : changes) out.push_back({{"Kind", std::string(1, c.kind)}, {"Path", c.path}});
      PrintJson(out);
      return;
    }
    for (const auto& change : changes) std::printf("%c %s\n", change.kind, change.path.c_str());
  });

  struct CommitArgs {
    std::string container, image;
    bool quiet = false;
  };
  auto commit_args = std::make_shared<CommitArgs>();
  auto* commit = app.add_subcommand("commit", "make a container's writable layer an image layer");
  commit->add_option("CONTAINER", commit_args->container, "name or id")->required();
  commit->add_option("IMAGE", commit_args->image, "name[:tag] for the new image");
  commit->add_flag("-q,--quiet", commit_args->quiet, "no progress");
  commit->callback([&ctx, commit_args] {
    Containers& containers = ctx.OpenContainers();
    StoreProgress progress(ctx.OpenStore(), commit_args->quiet);
    Image image = Check(containers.Commit(commit_args->container, commit_args->image));
    std::printf("%s\n", image.id.c_str());
  });

  auto logs_name = std::make_shared<std::string>();
  auto* logs = app.add_subcommand("logs", "what a container printed when started without -a");
  logs->add_option("CONTAINER", *logs_name, "name or id")->required();
  logs->callback([&ctx, logs_name] {
    ContainerInfo c = Check(ctx.OpenContainers().Get(*logs_name));
    std::FILE* f = std::fopen(ctx.OpenContainers().Paths(c.id).log.c_str(), "r");
    if (!f) return;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) std::fwrite(buf, 1, n, stdout);
    std::fclose(f);
  });
}

}  // namespace

void AddContainerCommands(CLI::App& app, Context& ctx) {
  AddRunCommands(app, ctx);  // cmd_run.cc
  AddListCommands(app, ctx);
  AddLayerOfContainerCommands(app, ctx);
}

}  // namespace strata::cli
