// Whole archives to and from directories (libarchive): ADD's unpacking of a
// local tar, `load`'s unpacking of an image archive, `save`'s packing of an
// OCI layout.
#pragma once

#include <string>

#include "strata/status.h"

namespace strata {

// Unpacks a (possibly compressed) tar into `dir` (a path without symlinks):
// absolute names land inside it; ".." and paths through symlinks are refused.
Status ExtractTar(const std::string& path, const std::string& dir);

// Packs `dir`'s tree into a plain pax tar at `out_path` (names relative to
// `dir`, sorted; owner 0, mtime 0: the same tree gives the same bytes), atomically.
Status TarDirectory(const std::string& dir, const std::string& out_path);

}  // namespace strata
