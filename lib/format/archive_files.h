// Whole archives to and from directories (libarchive): ADD's unpacking of a
// local tar, `load`'s unpacking of an image archive, `save`'s packing of an
// OCI layout.
#pragma once

#include <set>
#include <string>

#include "strata/status.h"

namespace strata {

class ProgressMeter;

struct ExtractOptions {
  // Regular files and directories only, what `load` reads: never a link
  // that could point it elsewhere. A symlink is not made but named in
  // `symlinks` (docker-archives carry unused legacy ones; a reader refuses
  // the archive when it needs one); a hardlink or a device refuses the
  // archive. Modes keep no setuid, setgid or sticky bit, owners are not
  // restored.
  bool files_only = false;
  std::set<std::string>* symlinks = nullptr;  // with files_only: their names, as the archive has them
  ProgressMeter* progress = nullptr;          // told the archive's bytes read so far
};

// Unpacks a (possibly compressed) tar into `dir` (a path without symlinks):
// absolute names land inside it; ".." and paths through symlinks are refused.
Status ExtractTar(const std::string& path, const std::string& dir, const ExtractOptions& options = {});

// Packs `dir`'s tree into a plain pax tar at `out_path` (names relative to
// `dir`, sorted; owner 0, mtime 0: the same tree gives the same bytes), atomically.
// `progress`, when given, gets the total and the bytes written.
Status TarDirectory(const std::string& dir, const std::string& out_path, ProgressMeter* progress = nullptr);

}  // namespace strata
