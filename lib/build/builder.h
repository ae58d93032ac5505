// The build engine behind strata::Build: walks the instruction file stage by
// stage, keeps each stage's layers, config and history, and turns each
// instruction into a config change or a cached layer step.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "build/build_copy.h"
#include "build/dockerignore.h"
#include "store/scratch.h"
#include "strata/build.h"
#include "strata/dockerfile.h"
#include "strata/image.h"
#include "strata/store.h"
#include "strata/union_view.h"

namespace strata {

struct StageState {
  std::string name;  // "AS name", lower case; "" when unnamed
  std::vector<std::string> layers;
  ImageConfig config;
  std::vector<HistoryEntry> history;
  Platform platform;                        // the base image's; "" from scratch (the host's)
  std::map<std::string, std::string> args;  // ARGs declared in this stage, with their values
  int64_t created = 0;                      // time of its newest layer

  std::string top() const { return layers.empty() ? "" : layers.back(); }
};

class Builder {
 public:
  Builder(Store& store, const BuildOptions& options, BuildReport* report);
  Result<Image> Run(const Dockerfile& file, const std::string& file_name);

 private:
  Status Step(const Instruction& ins);
  Status From(const Instruction& ins);
  Status Arg(const Instruction& ins, bool global);
  Status Copy(const Instruction& ins, bool is_add);
  // Copy's parts: where to, from where (the --from part of the key too), as whom, and the copy itself.
  struct CopySources {
    std::vector<SourceTree> trees;
    std::string from_key;
    std::unique_ptr<UnionView> view;  // --from's tree, which `trees` read from
  };
  std::string CopyDestination(std::string dest) const;
  Result<CopySources> CollectCopySources(const Instruction& ins, const std::vector<std::string>& words);
  Result<std::string> CopyOwnership(const Instruction& ins, CopyOptions* copy);
  Status ApplyCopy(Scratch& scratch, const CopySources& sources, const std::vector<bool>& unpack,
                   const std::string& dest, bool dest_is_dir, const CopyOptions& copy);
  Status RunCommand(const Instruction& ins);
  Status Workdir(const Instruction& ins);
  Status ConfigStep(const Instruction& ins);

  // A layer step through the cache: on a miss `make` fills the scratch's
  // upper directory, which then becomes the layer.
  Status LayerStep(const std::string& key_text, const std::string& created_by,
                   const std::function<Status(Scratch&)>& make);
  void ConfigOnly(const std::string& created_by);
  void Log(const std::string& line) const;

  std::map<std::string, std::string> Vars() const;  // ARGs, then ENV over them
  Result<std::string> Expand(const std::string& text) const;
  Result<std::vector<std::string>> ExpandedWords(const Instruction& ins) const;
  std::vector<std::string> RunEnv() const;  // the config's env plus ARGs
  Result<const StageState*> FindStage(const std::string& ref) const;

  Store& store_;
  const BuildOptions& options_;
  BuildReport* report_;
  DockerIgnore ignore_;
  char escape_ = '\\';
  std::map<std::string, std::string> global_args_;  // ARGs before the first FROM
  std::vector<std::string> consumed_args_;
  std::vector<StageState> stages_;
  StageState* stage_ = nullptr;
};

// RUN (build_run.cc): `args` run in the stage's layers with `scratch`'s upper
// directory on top, which then holds the command's changes only. A non-zero
// exit is an error whose message names the status; `*exit_status` gets it.
Status RunInUnion(Store& store, const StageState& stage, const std::vector<std::string>& args,
                  const std::vector<std::string>& env, const BuildOptions& options, Scratch& scratch,
                  int* exit_status);

}  // namespace strata
