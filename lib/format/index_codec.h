// The layer index on disk: a canonical little-endian binary form (hashed to
// give the layer's diff digest), stored zstd-compressed. docs/FORMAT.md has
// the byte layout.
#pragma once

#include <string>
#include <string_view>

#include "strata/entry.h"
#include "strata/status.h"

namespace strata {

// Entries must be sorted by path with no duplicates.
std::string EncodeIndex(const LayerIndex& index);
Result<LayerIndex> DecodeIndex(std::string_view bytes);

std::string Compress(std::string_view raw, int level = 3);
Result<std::string> Decompress(std::string_view compressed);

}  // namespace strata
