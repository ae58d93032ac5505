// Reads a plain directory as a layer, the way overlayfs and fuse-overlayfs
// lay one out: a 0/0 character device or a `.wh.NAME` file is a whiteout; an
// opaque directory carries trusted.overlay.opaque, user.overlay.opaque or
// user.fuseoverlayfs.opaque = "y", or holds a `.wh..wh..opq` file.
#pragma once

#include <string>
#include <unordered_map>

#include "strata/digest.h"
#include "strata/entry.h"
#include "strata/status.h"

namespace strata {

// A host path's extended attributes, sorted, without the overlay's own
// (none when the file system has none or refuses to list them). `metacopy`,
// when given, is set if the overlay's metacopy mark was among them.
std::vector<Xattr> ReadXattrs(const std::string& path, bool* metacopy = nullptr);

// Regular files get placeholder digests (a counter, not a hash: the files are
// read where they are, never copied); `content_paths` maps each to its file.
Result<LayerIndex> ScanDirectoryLayer(const std::string& dir, uint64_t* next_content_id,
                                      std::unordered_map<Digest, std::string>* content_paths);

}  // namespace strata
