// strata create / run / start / ps / rm / diff / commit / logs.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

#include "cli.h"

namespace strata::cli {

namespace {

struct CreateArgs {
  std::string name, workdir, user, entrypoint, runtime = "runc";
  std::vector<std::string> volumes, mounts, env;
  bool remove = false;
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
  cmd->add_option("-w,--workdir", a.workdir, "working directory in the container");
  cmd->add_option("-u,--user", a.user, "user[:group] to run as");
  cmd->add_option("--entrypoint", a.entrypoint, "overrides the image's ENTRYPOINT");
  // IMAGE [CMD...]: everything from the image on belongs to the container.
  cmd->prefix_command();
}

ContainerInfo Create(Context& ctx, const CreateArgs& a, const std::vector<std::string>& rest) {
  if (rest.empty()) Fail("an IMAGE is required");
  ContainerConfig config;
  config.name = a.name;
  config.image = rest[0];
  config.cmd.assign(rest.begin() + 1, rest.end());
  if (!a.entrypoint.empty()) config.entrypoint = {a.entrypoint};
  config.env = a.env;
  config.working_dir = a.workdir;
  config.user = a.user;
  for (const auto& v : a.volumes) config.mounts.push_back(Check(ParseVolumeFlag(v)));
  for (const auto& m : a.mounts) config.mounts.push_back(Check(ParseMountFlag(m)));
  return Check(ctx.OpenContainers().Create(config));
}

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

// Runs the container attached (output to the terminal) or into its log file.
int Start(Context& ctx, const ContainerInfo& c, const std::string& runtime, bool attach) {
  StartOptions options;
  options.runtime = runtime;
  options.log_output = !attach;
  std::fflush(stdout);
  return Check(StartContainer(ctx.OpenContainers(), c.id, options));
}

// create, run, start.
void AddRunCommands(CLI::App& app, Context& ctx) {
  auto create_args = std::make_shared<CreateArgs>();
  auto* create = app.add_subcommand("create", "create a container: IMAGE [CMD...]");
  AddCreateFlags(create, *create_args);
  create->callback([&ctx, create_args, create] {
    ContainerInfo c = Create(ctx, *create_args, create->remaining());
    std::printf("%s\n", c.id.c_str());
  });

  auto run_args = std::make_shared<CreateArgs>();
  auto* run = app.add_subcommand("run", "create a container and run it attached: IMAGE [CMD...]");
  AddCreateFlags(run, *run_args);
  run->add_flag("--rm", run_args->remove, "remove the container (and its anonymous volumes) when it ends");
  run->add_option("--runtime", run_args->runtime, "OCI runtime (default runc)");
  run->callback([&ctx, run_args, run] {
    ContainerInfo c = Create(ctx, *run_args, run->remaining());
    StartOptions options;
    options.runtime = run_args->runtime;
    std::fflush(stdout);
    auto status = StartContainer(ctx.OpenContainers(), c.id, options);
    if (run_args->remove)
      (void)ctx.OpenContainers().Remove(c.id, {.force = true, .remove_anonymous_volumes = true});
    if (!status.ok()) Fail(status.status().message(), 125);
    if (*status != 0) throw CLI::RuntimeError(*status);
  });

  struct StartArgs {
    std::vector<std::string> names;
    bool attach = false;
    std::string runtime = "runc";
  };
  auto start_args = std::make_shared<StartArgs>();
  auto* start = app.add_subcommand("start", "run a container's command again, in its kept layer");
  start->add_option("CONTAINER", start_args->names, "name or id")->required();
  start->add_flag("-a,--attach", start_args->attach, "print its output and exit with its status");
  start->add_option("--runtime", start_args->runtime, "OCI runtime (default runc)");
  start->callback([&ctx, start_args] {
    int last = 0;
    for (const auto& name : start_args->names) {
      ContainerInfo c = Check(ctx.OpenContainers().Get(name));
      last = Start(ctx, c, start_args->runtime, start_args->attach);
      if (!start_args->attach) std::printf("%s\n", c.name.c_str());
    }
    if (start_args->attach && last != 0) throw CLI::RuntimeError(last);
  });
}

// ps, rm.
void AddListCommands(CLI::App& app, Context& ctx) {
  struct PsArgs {
    bool all = false, json = false, quiet = false;
  };
  auto ps_args = std::make_shared<PsArgs>();
  auto* ps = app.add_subcommand("ps", "list containers (running ones; -a for all)");
  ps->add_flag("-a,--all", ps_args->all, "all containers");
  ps->add_flag("--json", ps_args->json, "print JSON");
  ps->add_flag("-q,--quiet", ps_args->quiet, "ids only");
  ps->callback([&ctx, ps_args] {
    std::vector<ContainerInfo> shown;
    for (auto& c : Check(ctx.OpenContainers().List())) {
      if (ps_args->all || c.state == ContainerState::kRunning) shown.push_back(std::move(c));
    }
    if (ps_args->json) {
      std::printf("%s\n", ToJson(shown).c_str());
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

  auto commit_args = std::make_shared<std::pair<std::string, std::string>>();
  auto* commit = app.add_subcommand("commit", "make a container's writable layer an image layer");
  commit->add_option("CONTAINER", commit_args->first, "name or id")->required();
  commit->add_option("IMAGE", commit_args->second, "name[:tag] for the new image");
  commit->callback([&ctx, commit_args] {
    Image image = Check(ctx.OpenContainers().Commit(commit_args->first, commit_args->second));
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
  AddRunCommands(app, ctx);
  AddListCommands(app, ctx);
  AddLayerOfContainerCommands(app, ctx);
}

}  // namespace strata::cli
