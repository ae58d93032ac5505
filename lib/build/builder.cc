#include "build/builder.h"

#include <archive.h>
#include <archive_entry.h>

#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <set>

#include "build/build_copy.h"
#include "build/build_source.h"
#include "format/archive_files.h"
#include "runtime/passwd.h"
#include "strata/overlay_fs.h"
#include "strata/text.h"
#include "strata/union_view.h"
#include "util/file_util.h"
#include "util/progress_meter.h"
#include "util/status_macros.h"

namespace strata {

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string JoinWords(const std::vector<std::string>& words, const char* sep = " ") {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : sep) + w;
  return out;
}

void SetEnv(std::vector<std::string>& env, const std::string& key, const std::string& value) {
  std::string prefix = key + "=";
  for (auto& e : env) {
    if (e.compare(0, prefix.size(), prefix) == 0) {
      e = prefix + value;
      return;
    }
  }
  env.push_back(prefix + value);
}

// A command in shell form runs through the stage's SHELL; exec form as is.
std::vector<std::string> CommandArgs(const Instruction& ins, const ImageConfig& config) {
  if (ins.json_form) return ins.json_args;
  std::vector<std::string> args =
      config.shell.empty() ? std::vector<std::string>{"/bin/sh", "-c"} : config.shell;
  args.push_back(ins.rest);
  return args;
}

Result<uint32_t> ParseOctalMode(const std::string& text) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("01234567") != std::string::npos)
    return Status::InvalidArgument("--chmod wants an octal mode, not " + text);
  return static_cast<uint32_t>(*ParseUnsigned(text, 8));
}

bool IsUrl(const std::string& s) {
  return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0 || s.rfind("git@", 0) == 0;
}

// A local file libarchive reads as a (possibly compressed) tar: ADD unpacks it.
bool IsTarArchive(const std::string& path) {
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  archive_read_support_format_gnutar(a);
  bool ok = archive_read_open_filename(a, path.c_str(), 64 * 1024) == ARCHIVE_OK;
  archive_entry* entry = nullptr;
  ok = ok && archive_read_next_header(a, &entry) == ARCHIVE_OK;
  archive_read_free(a);
  return ok;
}

// An in-process writable union over the stage: COPY, ADD and WORKDIR write
// through it, so the upper directory gets overlayfs's copy-up semantics.
Result<std::unique_ptr<OverlayFs>> OpenUnion(Store& store, const StageState& stage, Scratch& scratch) {
  ASSIGN_OR_RETURN(auto view, UnionView::OpenLayers(store, stage.layers));
  return OverlayFs::Open(std::move(view), {scratch.upper(), scratch.work(), /*fsync=*/false});
}

}  // namespace

Builder::Builder(Store& store, const BuildOptions& options, BuildReport* report)
    : store_(store), options_(options), report_(report) {}

void Builder::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

std::map<std::string, std::string> Builder::Vars() const {
  std::map<std::string, std::string> vars = stage_ ? stage_->args : global_args_;
  if (stage_) {
    for (const auto& kv : stage_->config.env) {
      auto eq = kv.find('=');
      vars[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
    }
  }
  return vars;
}

Result<std::string> Builder::Expand(const std::string& text) const {
  return ExpandVariables(text, Vars(), escape_);
}

Result<std::vector<std::string>> Builder::ExpandedWords(const Instruction& ins) const {
  std::vector<std::string> words;
  if (ins.json_form) {
    words = ins.json_args;
  } else {
    ASSIGN_OR_RETURN(words, SplitWords(ins.rest, escape_));
  }
  for (auto& w : words) {
    ASSIGN_OR_RETURN(w, Expand(w));
  }
  return words;
}

std::vector<std::string> Builder::RunEnv() const {
  std::vector<std::string> env = stage_->config.env;
  for (const auto& [k, v] : stage_->args) {
    const std::string prefix = k + "=";
    bool in_env =
        std::any_of(env.begin(), env.end(), [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
    if (!in_env) env.push_back(prefix + v);
  }
  return env;
}

Result<const StageState*> Builder::FindStage(const std::string& ref) const {
  std::string name = Lower(ref);
  for (const auto& s : stages_) {
    if (&s != stage_ && !s.name.empty() && s.name == name) return &s;
  }
  if (auto index = ParseUnsigned(ref); index && *index < stages_.size() && &stages_[*index] != stage_) {
    return &stages_[*index];
  }
  return Status::NotFound("no stage " + ref);
}

void Builder::ConfigOnly(const std::string& created_by) {
  stage_->history.push_back({stage_->created, created_by, "", true});
}

Status Builder::LayerStep(const std::string& key_text, const std::string& created_by,
                          const std::function<Status(Scratch&)>& make) {
  const std::string parent = stage_->top();
  const std::string key = store_.Hash("strata-build-v1\n" + key_text).Hex();
  std::optional<LayerInfo> layer;
  if (!options_.no_cache) {
    ASSIGN_OR_RETURN(layer, store_.FindCachedLayer(parent, key));
    if (layer) {
      Log(" ---> Using cache");
      if (report_) ++report_->cached_steps;
    }
  }
  if (!layer) {
    ASSIGN_OR_RETURN(Scratch scratch, Scratch::Make(store_.root()));
    RETURN_IF_ERROR(make(scratch));
    // A step the caller interrupted is not a result, whatever its command said.
    if (options_.cancelled && options_.cancelled()) return Status::IOError("the build was interrupted");
    ASSIGN_OR_RETURN(layer, store_.CommitLayer(parent, scratch.upper(), key));
    if (report_) ++report_->built_steps;
  }
  stage_->layers.push_back(layer->id);
  stage_->created = std::max(stage_->created, layer->created);
  stage_->history.push_back({layer->created, created_by, "", false});
  Log(" ---> " + layer->id.substr(0, 12) + " (" + HumanSize(layer->size) + ", " +
      std::to_string(layer->entry_count) + " entries)");
  return Status::OK();
}

Status Builder::From(const Instruction& ins) {
  ASSIGN_OR_RETURN(auto words, SplitWords(ins.rest, escape_));
  if (words.size() != 1 && !(words.size() == 3 && Lower(words[1]) == "as")) {
    return Status::InvalidArgument("FROM wants IMAGE [AS NAME]");
  }
  ASSIGN_OR_RETURN(std::string base, ExpandVariables(words[0], global_args_, escape_));
  StageState next;
  if (words.size() == 3) next.name = Lower(words[2]);
  if (Lower(base) == "scratch") {
    // nothing below
  } else if (auto from_stage = FindStage(base); from_stage.ok() && !(*from_stage)->name.empty()) {
    const StageState& s = **from_stage;
    next.layers = s.layers;
    next.config = s.config;
    next.history = s.history;
    next.platform = s.platform;
    next.created = s.created;
  } else {
    auto image = store_.GetImage(base);
    if (!image.ok()) {
      return Status::NotFound("base image " + base +
                              " is not in the store (builds are offline: import or load it first)");
    }
    next.layers = image->layers;
    next.config = image->config;
    next.history = image->history;
    next.platform = image->platform;
    next.created = image->created;
  }
  stages_.push_back(std::move(next));
  stage_ = &stages_.back();
  return Status::OK();
}

Status Builder::Arg(const Instruction& ins, bool global) {
  ASSIGN_OR_RETURN(auto words, SplitWords(ins.rest, escape_));
  for (const std::string& word : words) {
    auto eq = word.find('=');
    std::string name = word.substr(0, eq);
    if (name.empty()) return Status::InvalidArgument("ARG needs a name");
    std::optional<std::string> value;
    if (eq != std::string::npos) {
      ASSIGN_OR_RETURN(value, Expand(word.substr(eq + 1)));
    } else if (!global && global_args_.count(name)) {
      value = global_args_.at(name);  // a global ARG redeclared in a stage keeps its default
    }
    if (auto given = options_.build_args.find(name); given != options_.build_args.end()) {
      value = given->second;
      consumed_args_.push_back(name);
    }
    (global ? global_args_ : stage_->args)[name] = value.value_or("");
  }
  if (!global) ConfigOnly(ins.original);
  return Status::OK();
}

Status Builder::Workdir(const Instruction& ins) {
  ASSIGN_OR_RETURN(std::string dir, Expand(ins.rest));
  if (dir.empty()) return Status::InvalidArgument("WORKDIR needs a path");
  if (dir[0] != '/')
    dir = (stage_->config.working_dir.empty() ? "/" : stage_->config.working_dir) + "/" + dir;
  dir = "/" + (CleanPath(dir.substr(1)) == "." ? "" : CleanPath(dir.substr(1)));
  stage_->config.working_dir = dir;
  // A directory the tree lacks is made, as a layer of its own (as BuildKit does).
  ASSIGN_OR_RETURN(auto view, UnionView::OpenLayers(store_, stage_->layers));
  if (dir == "/" || view->Resolve(dir.substr(1)).ok()) {
    ConfigOnly("WORKDIR " + dir);
    return Status::OK();
  }
  return LayerStep("WORKDIR\n" + dir, "WORKDIR " + dir, [&](Scratch& scratch) -> Status {
    ASSIGN_OR_RETURN(auto fs, OpenUnion(store_, *stage_, scratch));
    return MakeDirsInUnion(*fs, dir);
  });
}

// COPY/ADD's destination: absolute, cleaned, relative ones under WORKDIR.
std::string Builder::CopyDestination(std::string dest) const {
  if (dest.empty() || dest[0] != '/') {
    std::string wd = stage_->config.working_dir.empty() ? "/" : stage_->config.working_dir;
    dest = wd + (wd.back() == '/' ? "" : "/") + dest;
  }
  dest = "/" + CleanPath(dest.substr(1));
  return dest == "/." ? "/" : dest;
}

Result<Builder::CopySources> Builder::CollectCopySources(const Instruction& ins,
                                                         const std::vector<std::string>& words) {
  CopySources out;
  auto from = ins.flags.find("from");
  if (from == ins.flags.end()) {
    ASSIGN_OR_RETURN(out.trees, CollectContextSources(options_.context_dir, ignore_, words));
    return out;
  }
  ASSIGN_OR_RETURN(std::string ref, Expand(from->second));
  std::vector<std::string> layers;
  if (auto stage = FindStage(ref); stage.ok()) {
    layers = (*stage)->layers;
  } else {
    auto image = store_.GetImage(ref);
    if (!image.ok()) return Status::NotFound("--from=" + ref + ": no such stage or image");
    layers = image->layers;
  }
  ASSIGN_OR_RETURN(out.view, UnionView::OpenLayers(store_, layers));
  ASSIGN_OR_RETURN(out.trees, CollectViewSources(*out.view, words));
  out.from_key = "from " + (layers.empty() ? std::string("scratch") : layers.back()) + "\n";
  return out;
}

// --chown and --chmod into `copy`; returns them as the history and key show them.
Result<std::string> Builder::CopyOwnership(const Instruction& ins, CopyOptions* copy) {
  std::string user_flags;
  if (auto chown = ins.flags.find("chown"); chown != ins.flags.end()) {
    ASSIGN_OR_RETURN(std::string spec, Expand(chown->second));
    ASSIGN_OR_RETURN(auto view, UnionView::OpenLayers(store_, stage_->layers));
    ASSIGN_OR_RETURN(UserIds ids, ResolveUser(spec, ReadTreeFile(*view, "etc/passwd"),
                                              ReadTreeFile(*view, "etc/group"), MissingGroup::kSameAsUid));
    copy->uid = ids.uid;
    copy->gid = ids.gid;
    user_flags += " --chown=" + std::to_string(ids.uid) + ":" + std::to_string(ids.gid);
  }
  if (auto chmod = ins.flags.find("chmod"); chmod != ins.flags.end()) {
    ASSIGN_OR_RETURN(copy->mode, ParseOctalMode(chmod->second));
    user_flags += " --chmod=" + chmod->second;
  }
  return user_flags;
}

// Copies each source into the stage's union; an ADD'ed local archive is unpacked first.
Status Builder::ApplyCopy(Scratch& scratch, const CopySources& sources, const std::vector<bool>& unpack,
                          const std::string& dest, bool dest_is_dir, const CopyOptions& options) {
  ASSIGN_OR_RETURN(auto fs, OpenUnion(store_, *stage_, scratch));
  uint64_t total = 0;
  for (size_t i = 0; i < sources.trees.size(); ++i)
    total += unpack[i] ? 0 : TreeContentBytes(sources.trees[i]);
  ProgressMeter progress(store_.progress(), "Copying", dest, total);
  CopyOptions copy = options;
  copy.progress = &progress;
  for (size_t i = 0; i < sources.trees.size(); ++i) {
    if (!unpack[i]) {
      RETURN_IF_ERROR(CopyIntoUnion(*fs, dest, dest_is_dir, {sources.trees[i]}, copy));
      continue;
    }
    std::string unpacked = scratch.dir() + "/unpacked-" + std::to_string(i);
    RETURN_IF_ERROR(MakeDirs(unpacked));
    char real[PATH_MAX];
    if (!::realpath(unpacked.c_str(), real)) return ErrnoStatus("realpath", unpacked);
    unpacked = real;
    RETURN_IF_ERROR(ExtractTar(sources.trees[i].entries[0].content_path, unpacked));
    ASSIGN_OR_RETURN(SourceTree tree, CollectHostTree(unpacked));
    total += TreeContentBytes(tree);
    progress.SetTotal(total);
    RETURN_IF_ERROR(CopyIntoUnion(*fs, dest, /*dest_is_dir=*/true, {tree}, copy));
  }
  progress.Finish();
  return Status::OK();
}

Status Builder::Copy(const Instruction& ins, bool is_add) {
  const char* what = is_add ? "ADD" : "COPY";
  for (const auto& [flag, value] : ins.flags) {
    if (flag != "chown" && flag != "chmod" && flag != "from" && flag != "link") {
      return Status::InvalidArgument(std::string(what) + " has no flag --" + flag);
    }
    if (flag == "from" && is_add) return Status::InvalidArgument("ADD has no flag --from");
  }
  ASSIGN_OR_RETURN(auto words, ExpandedWords(ins));
  if (words.size() < 2) return Status::InvalidArgument(std::string(what) + " wants SOURCE... DEST");
  const bool trailing_slash = words.back().size() > 1 && words.back().back() == '/';
  const std::string dest = CopyDestination(words.back());
  words.pop_back();
  for (const auto& src : words) {
    if (IsUrl(src)) {
      return Status::Unsupported(std::string(what) + " " + src +
                                 ": builds are offline; put the file in the build context and COPY it");
    }
  }
  ASSIGN_OR_RETURN(CopySources sources, CollectCopySources(ins, words));
  const bool dest_is_dir = trailing_slash || sources.trees.size() > 1;
  if (sources.trees.size() > 1 && !trailing_slash) {
    return Status::InvalidArgument(
        std::string("when using ") + what +
        " with more than one source, the destination must be a directory and end with a /");
  }
  CopyOptions copy;
  ASSIGN_OR_RETURN(std::string user_flags, CopyOwnership(ins, &copy));

  // ADD unpacks local tar archives (their content decides the key, as files do).
  std::vector<bool> unpack(sources.trees.size(), false);
  if (is_add) {
    for (size_t i = 0; i < sources.trees.size(); ++i) {
      const auto& e = sources.trees[i].entries;
      unpack[i] = e.size() == 1 && S_ISREG(e[0].mode) && !e[0].content_path.empty() &&
                  IsTarArchive(e[0].content_path);
    }
  }
  ASSIGN_OR_RETURN(std::string described, DescribeSources(sources.trees, store_));
  std::string created_by = std::string(what) + user_flags + " " + JoinWords(words) + " " + dest +
                           (trailing_slash && dest != "/" ? "/" : "");
  std::string key = std::string(what) + user_flags + "\n" + sources.from_key + "dest " + dest +
                    (dest_is_dir ? "/" : "") + "\n" + described;
  for (bool u : unpack) key += u ? "1" : "0";
  return LayerStep(key, created_by, [&](Scratch& scratch) {
    return ApplyCopy(scratch, sources, unpack, dest, dest_is_dir, copy);
  });
}

Status Builder::RunCommand(const Instruction& ins) {
  if (!ins.flags.empty())
    return Status::Unsupported("RUN --" + ins.flags.begin()->first + " is not supported");
  std::vector<std::string> args = CommandArgs(ins, stage_->config);
  std::vector<std::string> env = RunEnv();
  std::string created_by = "RUN " + JoinWords(args);
  std::string key = "RUN\n" + JoinWords(args, std::string(1, '\0').c_str()) + "\nenv\n" +
                    JoinWords(env, std::string(1, '\0').c_str()) + "\nworkdir " + stage_->config.working_dir +
                    "\nuser " + stage_->config.user + "\n";
  return LayerStep(key, created_by, [&](Scratch& scratch) -> Status {
    if (!stage_->platform.empty())
      RETURN_IF_ERROR(CheckHostCanRun(stage_->platform, "the stage's base image"));
    int status = 0;
    Status st = RunInUnion(store_, *stage_, args, env, options_, scratch, &status);
    if (!st.ok() && report_) report_->failed_run_status = status;
    return st;
  });
}

Status Builder::ConfigStep(const Instruction& ins) {
  ImageConfig& c = stage_->config;
  const std::string& k = ins.keyword;
  std::string created_by = ins.original;
  if (k == "ENV" || k == "LABEL") {
    ASSIGN_OR_RETURN(auto pairs, ParseKeyValues(ins.rest, /*allow_legacy=*/k == "ENV", escape_));
    std::string shown;
    for (auto& [key, value] : pairs) {
      ASSIGN_OR_RETURN(value, Expand(value));
      ASSIGN_OR_RETURN(std::string name, Expand(key));
      if (k == "ENV") {
        SetEnv(c.env, name, value);
      } else {
        c.labels[name] = value;
      }
      shown += " " + name + "=" + value;
    }
    created_by = k + shown;
  } else if (k == "USER") {
    ASSIGN_OR_RETURN(c.user, Expand(ins.rest));
    created_by = "USER " + c.user;
  } else if (k == "CMD" || k == "ENTRYPOINT") {
    std::vector<std::string> args = CommandArgs(ins, c);
    if (k == "CMD") {
      c.cmd = args;
    } else {
      c.entrypoint = args;
      c.cmd.clear();  // docker: a new ENTRYPOINT drops the base image's CMD
    }
    created_by = k + " [\"" + JoinWords(args, "\", \"") + "\"]";
  } else if (k == "EXPOSE") {
    ASSIGN_OR_RETURN(auto ports, ExpandedWords(ins));
    for (std::string p : ports) {
      if (p.find('/') == std::string::npos) p += "/tcp";
      if (std::find(c.exposed_ports.begin(), c.exposed_ports.end(), p) == c.exposed_ports.end())
        c.exposed_ports.push_back(p);
    }
  } else if (k == "VOLUME") {
    ASSIGN_OR_RETURN(auto paths, ExpandedWords(ins));
    for (const auto& p : paths) {
      if (std::find(c.volumes.begin(), c.volumes.end(), p) == c.volumes.end()) c.volumes.push_back(p);
    }
  } else if (k == "SHELL") {
    if (ins.json_args.empty()) return Status::InvalidArgument("SHELL needs at least one element");
    c.shell = ins.json_args;
  } else if (k == "MAINTAINER") {
    c.labels["maintainer"] = ins.rest;
  } else if (k == "STOPSIGNAL" || k == "HEALTHCHECK" || k == "ONBUILD") {
    Log(" ---> note: " + k + " is recorded in the history only; strata does not act on it");
  } else {
    return Status::InvalidArgument("unknown instruction " + k);
  }
  ConfigOnly(created_by);
  return Status::OK();
}

Status Builder::Step(const Instruction& ins) {
  const std::string& k = ins.keyword;
  if (k == "FROM") return From(ins);
  if (!stage_) {
    if (k == "ARG") return Arg(ins, /*global=*/true);
    return Status::InvalidArgument(k + " before the first FROM (only ARG may come first)");
  }
  if (k == "ARG") return Arg(ins, false);
  if (k == "RUN") return RunCommand(ins);
  if (k == "COPY") return Copy(ins, false);
  if (k == "ADD") return Copy(ins, true);
  if (k == "WORKDIR") return Workdir(ins);
  return ConfigStep(ins);
}

Result<Image> Builder::Run(const Dockerfile& file, const std::string& file_name) {
  escape_ = file.escape;
  ASSIGN_OR_RETURN(ignore_, DockerIgnore::Load(options_.context_dir));
  stages_.reserve(file.instructions.size());  // stage_ points into it
  // Up to the end of the target stage.
  size_t end = file.instructions.size();
  if (!options_.target.empty()) {
    bool found = false;
    for (size_t i = 0; i < file.instructions.size() && !found; ++i) {
      const Instruction& ins = file.instructions[i];
      if (ins.keyword != "FROM") continue;
      auto words = SplitWords(ins.rest, escape_);
      if (words.ok() && words->size() == 3 && Lower((*words)[2]) == Lower(options_.target)) {
        found = true;
        end = i + 1;
        while (end < file.instructions.size() && file.instructions[end].keyword != "FROM") ++end;
      }
    }
    if (!found) return Status::NotFound("no stage named " + options_.target + " in " + file_name);
  }
  const size_t total = end;
  for (size_t i = 0; i < end; ++i) {
    const Instruction& ins = file.instructions[i];
    Log("Step " + std::to_string(i + 1) + "/" + std::to_string(total) + " : " + ins.original);
    if (report_) ++report_->steps;
    if (options_.cancelled && options_.cancelled()) {
      return Status::IOError(file_name + ":" + std::to_string(ins.line) + ": the build was interrupted");
    }
    Status st = Step(ins);
    if (!st.ok()) {
      return st.WithContext(file_name + ":" + std::to_string(ins.line));
    }
  }
  if (!stage_) return Status::InvalidArgument(file_name + ": no FROM instruction");
  std::vector<std::string> unused;
  for (const auto& [name, value] : options_.build_args) {
    if (std::find(consumed_args_.begin(), consumed_args_.end(), name) == consumed_args_.end())
      unused.push_back(name);
  }
  if (!unused.empty()) Log("[Warning] One or more build-args [" + JoinWords(unused) + "] were not consumed");

  Image image;
  image.layers = stage_->layers;
  image.config = stage_->config;
  image.history = stage_->history;
  image.platform = stage_->platform;
  image.created = stage_->created;
  ASSIGN_OR_RETURN(image, store_.CreateImage(image, options_.tags.empty() ? "" : options_.tags[0]));
  for (size_t i = 1; i < options_.tags.size(); ++i) RETURN_IF_ERROR(store_.Tag(image.id, options_.tags[i]));
  return store_.GetImage(image.id);
}

Result<Image> Build(Store& store, const BuildOptions& options, BuildReport* report) {
  if (options.context_dir.empty()) return Status::InvalidArgument("no build context");
  std::string file = options.dockerfile.empty() ? options.context_dir + "/Dockerfile" : options.dockerfile;
  auto text = ReadFile(file);
  if (!text.ok()) return Status::NotFound("cannot read the instruction file: " + text.status().message());
  ASSIGN_OR_RETURN(Dockerfile parsed, ParseDockerfile(*text, file));
  Builder builder(store, options, report);
  return builder.Run(parsed, file);
}

}  // namespace strata
