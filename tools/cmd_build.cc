// strata build / history / builder prune.
#include <signal.h>
#include <unistd.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "output_format.h"
#include "progress_display.h"

namespace strata::cli {

namespace {

// A build's interruption: SIGINT, SIGTERM or SIGHUP ends the RUN going on
// and the build with it, as docker's does: the runtime is killed (its
// container goes with the runtime's delete that follows), the build cleans
// up as after a failing step, and strata exits 130. (A container's PID 1
// ignores signals it has no handler for: passing SIGTERM on would not end it.)
volatile sig_atomic_t g_interrupted = 0;

void OnInterrupt(int) {
  g_interrupted = 1;
  SignalRuntimeProcesses(SIGKILL);
}

void CatchInterrupts() {
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

std::string Shorten(const std::string& text, size_t width) {
  if (text.size() <= width) return text;
  return text.substr(0, width - 3) + "...";
}

void AddBuildCommand(CLI::App& app, Context& ctx) {
  struct BuildArgs {
    std::string file, context, target, runtime = "runc", driver;
    std::vector<std::string> tags, build_args;
    bool no_cache = false, quiet = false;
  };
  auto args = std::make_shared<BuildArgs>();
  auto* build = app.add_subcommand("build", "build an image from an instruction file (Dockerfile syntax)");
  build->add_option("-f,--file", args->file, "instruction file (default CONTEXT/Dockerfile)");
  build->add_option("-t,--tag", args->tags, "name[:tag] for the image (repeatable)");
  build->add_option("--build-arg", args->build_args, "KEY=VALUE for an ARG (repeatable)");
  build->add_option("--target", args->target, "build up to this stage");
  build->add_flag("--no-cache", args->no_cache, "run every step, using no cached layer");
  build->add_option("--runtime", args->runtime, "OCI runtime for RUN (default runc)");
  build->add_flag("-q,--quiet", args->quiet, "print only the image id");
  AddDriverOption(build, args->driver);
  build->add_option("CONTEXT", args->context, "build context directory")->required();
  build->callback([&ctx, args] {
    BuildOptions options;
    options.dockerfile = args->file;
    options.context_dir = args->context;
    options.tags = args->tags;
    options.target = args->target;
    options.no_cache = args->no_cache;
    options.runtime = args->runtime;
    options.driver = ChosenDriver(args->driver);
    for (const auto& kv : args->build_args) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) Fail("--build-arg wants KEY=VALUE, not " + kv);
      options.build_args[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    if (!args->quiet) {
      options.log = [](const std::string& line) {
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
      };
    } else {
      options.output_fd = STDERR_FILENO;
    }
    options.cancelled = [] { return g_interrupted != 0; };
    CatchInterrupts();
    BuildReport report;
    Store& store = ctx.OpenStore();
    auto image = [&] {
      StoreProgress progress(store, args->quiet);
      return Build(store, options, &report);
    }();
    if (g_interrupted) Fail(image.ok() ? "interrupted" : image.status().message() + " (interrupted)", 130);
    if (!image.ok()) Fail(image.status().message(), report.failed_run_status ? report.failed_run_status : 1);
    if (!args->quiet) {
      for (const auto& name : image->names) std::printf("Successfully tagged %s\n", name.c_str());
      std::printf("Successfully built %s\n", image->id.c_str());
    } else {
      std::printf("%s\n", image->id.c_str());
    }
  });
}

void AddHistoryCommand(CLI::App& app, Context& ctx) {
  auto ref = std::make_shared<std::string>();
  auto json_out = std::make_shared<bool>(false);
  auto no_trunc = std::make_shared<bool>(false);
  auto format = std::make_shared<std::string>();
  auto* history = app.add_subcommand("history", "show the steps that made an image, newest first");
  history->add_option("IMAGE", *ref, "name[:tag], id or id prefix")->required();
  history->add_flag("--json", *json_out, "print JSON");
  history->add_flag("--no-trunc", *no_trunc, "do not shorten ids and commands");
  history->add_option("-f,--format", *format, "per step: a JSON pointer or {{.Field}} (JSON's field names)");
  history->callback([&ctx, ref, json_out, no_trunc, format] {
    auto rows = Check(ImageHistory(ctx.OpenStore(), *ref));
    if (*json_out || !format->empty()) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& r : rows) {
        // As docker's history API names them; a config-only step has no layer.
        out.push_back({{"Id", r.layer.empty() ? "<missing>" : r.layer},
                       {"Created", FormatRfc3339(r.created, r.created_nanos)},
                       {"CreatedBy", r.created_by},
                       {"Size", r.size},
                       {"Comment", r.comment}});
      }
      PrintItems(out, *format);
      return;
    }
    std::printf("%-14s %-21s %-46s %-10s %s\n", "LAYER", "CREATED", "CREATED BY", "SIZE", "COMMENT");
    for (const auto& r : rows) {
      std::string layer = r.layer.empty() ? "<missing>" : (*no_trunc ? r.layer : ShortId(r.layer));
      std::string by = *no_trunc ? r.created_by : Shorten(r.created_by, 45);
      std::printf("%-14s %-21s %-46s %-10s %s\n", layer.c_str(), FormatTime(r.created).c_str(), by.c_str(),
                  HumanSize(r.size).c_str(), r.comment.c_str());
    }
  });
}

}  // namespace

void AddBuildCommands(CLI::App& app, Context& ctx) {
  AddBuildCommand(app, ctx);
  AddHistoryCommand(app, ctx);
  auto* builder = app.add_subcommand("builder", "manage the build cache");
  builder->require_subcommand(1);
  auto* prune = builder->add_subcommand("prune", "empty the build cache and remove the layers only it kept");
  prune->callback([&ctx] {
    auto removed = Check(ctx.OpenStore().PruneBuildCache());
    for (const auto& layer : removed) std::printf("Deleted: layer %s\n", layer.c_str());
    std::printf("Removed %zu layers\n", removed.size());
  });
}

}  // namespace strata::cli
