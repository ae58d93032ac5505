// COPY and ADD applied to a writable union (an OverlayFs over the stage's
// layers with a fresh upper directory): the upper directory then holds
// exactly the step's changes, parents copied up with their metadata, as
// overlayfs would have them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "build/build_source.h"
#include "strata/overlay_fs.h"
#include "strata/status.h"

namespace strata {

class ProgressMeter;

struct CopyOptions {
  std::optional<uint32_t> uid, gid;   // --chown
  std::optional<uint32_t> mode;       // --chmod
  ProgressMeter* progress = nullptr;  // told the bytes copied
};

// Bytes of the regular files a tree holds: what copying it writes.
uint64_t TreeContentBytes(const SourceTree& tree);

// Copies `sources` to `dest` (absolute) with Docker's rules: a directory
// source copies its contents; `dest_is_dir` (a trailing '/', or several
// sources) puts files under dest by their names; an existing directory at
// dest does too; missing directories are made (0755, root).
Status CopyIntoUnion(OverlayFs& fs, const std::string& dest, bool dest_is_dir,
                     const std::vector<SourceTree>& sources, const CopyOptions& options);

// mkdir -p (WORKDIR); symlinks on the way are followed inside the union.
Status MakeDirsInUnion(OverlayFs& fs, const std::string& path);

// True when `path` is a directory in the union (symlinks followed).
bool DirExistsInUnion(OverlayFs& fs, const std::string& path);

}  // namespace strata
