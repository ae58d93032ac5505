// Building images from Dockerfile-like instruction files: one layer per
// instruction that changes files (RUN, COPY, ADD, a WORKDIR that must be
// made), config-only steps for the rest, and a layer cache keyed by
// (parent layer, everything that decides the step's result).
//
//   strata::BuildOptions options;
//   options.dockerfile = "app/Dockerfile";
//   options.context_dir = "app";
//   options.tags = {"app:1"};
//   auto image = strata::Build(*store, options);
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "strata/image.h"
#include "strata/status.h"
#include "strata/store.h"
#include "strata/union_mount.h"

namespace strata {

struct BuildOptions {
  std::string dockerfile{};   // path of the instruction file; "" for CONTEXT/Dockerfile
  std::string context_dir{};  // COPY and ADD sources are relative to it; .dockerignore applies
  std::vector<std::string> tags{};
  std::map<std::string, std::string> build_args{};
  std::string target{};   // stop after this stage; "" for the last
  bool no_cache = false;  // rebuild every step (the results still become cache)
  std::string runtime = "runc";
  std::string mount_program{};              // "" for DefaultMountProgram()
  MountDriver driver = MountDriver::kAuto;  // who mounts a RUN step's tree
  // Step lines ("Step 2/5 : COPY . /app", " ---> Using cache") go here.
  std::function<void(const std::string& line)> log{};
  int output_fd = 1;  // where RUN commands' stdout and stderr go
  // Asked before every step: true ends the build there ("interrupted"),
  // cleaned up as a failing step is. A caller that catches SIGINT/SIGTERM
  // sets it, and passes the signal on with SignalRuntimeProcesses
  // (strata/runtime.h) so that a RUN going on ends too.
  std::function<bool()> cancelled{};
};

struct BuildReport {
  int steps = 0;
  int cached_steps = 0;       // layer steps served from the cache
  int built_steps = 0;        // layer steps that ran
  int failed_run_status = 0;  // the exit status of a RUN that failed, else 0
};

// Builds the image and tags it. On failure the store keeps only complete
// layers of the steps that finished (they are cache), never a partial one.
Result<Image> Build(Store& store, const BuildOptions& options, BuildReport* report = nullptr);

// One row of `strata history`: newest first, as docker history shows it.
struct HistoryRow {
  std::string layer;  // "" for a config-only step
  int64_t created = 0;
  uint32_t created_nanos = 0;
  std::string created_by;
  uint64_t size = 0;
  std::string comment;
};
Result<std::vector<HistoryRow>> ImageHistory(Store& store, const std::string& ref);

}  // namespace strata
