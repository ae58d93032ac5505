// strata system df / system prune / fsck.
#include <unistd.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli.h"

namespace strata::cli {

namespace {

nlohmann::json RowJson(const DiskUsage::Row& r) {
  return {{"count", r.count}, {"active", r.active}, {"size", r.size}, {"reclaimable", r.reclaimable}};
}

void AddDiskUsageCommand(CLI::App* system, Context& ctx) {
  auto df_json = std::make_shared<bool>(false);
  auto* df = system->add_subcommand("df", "space used by images, containers, volumes and the build cache");
  df->add_flag("--json", *df_json, "print JSON");
  df->callback([&ctx, df_json] {
    DiskUsage du = Check(ComputeDiskUsage(ctx.OpenContainers()));
    uint64_t saved = du.logical_image_bytes > du.stored_bytes ? du.logical_image_bytes - du.stored_bytes : 0;
    if (*df_json) {
      nlohmann::json out = {{"images", RowJson(du.images)},
                            {"containers", RowJson(du.containers)},
                            {"volumes", RowJson(du.volumes)},
                            {"build_cache", RowJson(du.build_cache)},
                            {"unused_layers", RowJson(du.unused_layers)},
                            {"leftovers", RowJson(du.leftovers)},
                            {"logical_image_bytes", du.logical_image_bytes},
                            {"stored_bytes", du.stored_bytes},
                            {"saved_by_sharing", saved}};
      PrintJson(out);
      return;
    }
    std::printf("%-16s %-8s %-8s %-12s %s\n", "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE");
    auto row = [](const char* name, const DiskUsage::Row& r) {
      std::printf("%-16s %-8llu %-8llu %-12s %s\n", name, static_cast<unsigned long long>(r.count),
                  static_cast<unsigned long long>(r.active), HumanSize(r.size).c_str(),
                  HumanSize(r.reclaimable).c_str());
    };
    row("Images", du.images);
    row("Containers", du.containers);
    row("Local Volumes", du.volumes);
    row("Build Cache", du.build_cache);
    if (du.unused_layers.count) row("Unused Layers", du.unused_layers);
    if (du.leftovers.count) row("Crash Leftovers", du.leftovers);
    std::printf(
        "\nSharing: the images' layers hold %s of files; %s is stored (%s saved by shared layers "
        "and deduplicated content)\n",
        HumanSize(du.logical_image_bytes).c_str(), HumanSize(du.stored_bytes).c_str(),
        HumanSize(saved).c_str());
  });
}

void AddPruneCommand(CLI::App* system, Context& ctx) {
  auto prune_volumes = std::make_shared<bool>(false);
  auto* prune = system->add_subcommand(
      "prune",
      "remove stopped containers, unnamed unused images and the build cache (--volumes: unused volumes)");
  prune->add_flag("--volumes", *prune_volumes, "also remove volumes no container uses");
  auto force = std::make_shared<bool>(false);  // strata never asks; accepted as docker takes it
  prune->add_flag("-f,--force", *force, "do not ask for confirmation");
  prune->callback([&ctx, prune_volumes, force] {
    PruneReport r = Check(SystemPrune(ctx.OpenContainers(), {.volumes = *prune_volumes}));
    for (const auto& c : r.containers) std::printf("Deleted container: %s\n", c.c_str());
    for (const auto& i : r.images) std::printf("Deleted image: %s\n", i.c_str());
    for (const auto& l : r.layers) std::printf("Deleted layer: %s\n", l.c_str());
    for (const auto& v : r.volumes) std::printf("Deleted volume: %s\n", v.c_str());
    for (const auto& f : r.leftovers) std::printf("Deleted leftover: %s\n", f.c_str());
    std::printf("Removed %zu containers, %zu images, %zu layers, %zu volumes\n", r.containers.size(),
                r.images.size(), r.layers.size(), r.volumes.size());
  });
}

// The store's fsck and the containers' check as one report.
Result<FsckReport> CheckEverything(Context& ctx, bool repair) {
  auto store = ctx.OpenStore().Fsck({.repair = repair});
  if (!store.ok()) return store;
  auto containers = ctx.OpenContainers().Check({.repair = repair});
  if (!containers.ok()) return containers;
  FsckReport r = std::move(store).value();
  r.containers = containers->containers;
  r.problems.insert(r.problems.end(), containers->problems.begin(), containers->problems.end());
  r.repaired.insert(r.repaired.end(), containers->repaired.begin(), containers->repaired.end());
  return r;
}

void AddFsckCommand(CLI::App& app, Context& ctx) {
  struct FsckArgs {
    bool repair = false, json = false;
  };
  auto fsck_args = std::make_shared<FsckArgs>();
  auto* fsck = app.add_subcommand("fsck", "check every blob, index and config against its digest");
  fsck->add_flag("--repair", fsck_args->repair, "remove what is broken or unreachable, and say what");
  fsck->add_flag("--json", fsck_args->json, "print JSON");
  fsck->callback([&ctx, fsck_args] {
    if (::isatty(STDERR_FILENO)) std::fprintf(stderr, "checking the store...");
    FsckReport r = Check(CheckEverything(ctx, fsck_args->repair));
    // What a repair could not mend (a broken image a container holds) is still a problem.
    std::vector<std::string> remaining;
    if (fsck_args->repair && !r.problems.empty()) remaining = Check(CheckEverything(ctx, false)).problems;
    if (::isatty(STDERR_FILENO)) std::fprintf(stderr, "\r\033[K");
    if (fsck_args->json) {
      PrintJson({{"blobs", r.blobs},
                 {"layers", r.layers},
                 {"images", r.images},
                 {"containers", r.containers},
                 {"problems", r.problems},
                 {"repaired", r.repaired},
                 {"remaining", remaining}});
    } else {
      for (const auto& p : r.problems) std::printf("problem: %s\n", p.c_str());
      for (const auto& p : r.repaired) std::printf("repaired: %s\n", p.c_str());
      for (const auto& p : remaining) std::printf("remains: %s\n", p.c_str());
      std::printf("checked %llu blobs, %llu layers, %llu images, %llu containers: %zu problems\n",
                  static_cast<unsigned long long>(r.blobs), static_cast<unsigned long long>(r.layers),
                  static_cast<unsigned long long>(r.images), static_cast<unsigned long long>(r.containers),
                  r.problems.size());
    }
    if (fsck_args->repair ? !remaining.empty() : !r.problems.empty()) throw CLI::RuntimeError(1);
  });
}

}  // namespace

void AddSystemCommands(CLI::App& app, Context& ctx) {
  auto* system = app.add_subcommand("system", "store-wide housekeeping");
  system->require_subcommand(1);
  AddDiskUsageCommand(system, ctx);
  AddPruneCommand(system, ctx);
  AddFsckCommand(app, ctx);
}

}  // namespace strata::cli
