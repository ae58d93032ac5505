// The layer index on disk: a canonical little-endian binary form (hashed to
// give the layer's diff digest), stored zstd-compressed. docs/FORMAT.md has
// the byte layout.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "strata/entry.h"
#include "strata/status.h"

namespace strata {

// Entries must be sorted by path with no duplicates.
std::string EncodeIndex(const LayerIndex& index);
Result<LayerIndex> DecodeIndex(std::string_view bytes);

// An encoded index read in place: its bytes (a store's index file, mapped),
// checked whole once (as
// DecodeIndex checks them), and where each entry starts. Entries decode one at
// a time, so opening a big index costs one pass and 4 bytes per entry rather
// than an Entry each (what a mount's start pays). Copies share the bytes.
class EncodedIndex {
 public:
  // `bytes` stay alive, unchanged, as long as the index (a mapped file's, say).
  static Result<EncodedIndex> Parse(std::shared_ptr<const std::string_view> bytes);
  static Result<EncodedIndex> Parse(std::string bytes);

  size_t size() const { return offsets_.size(); }
  // Views into the bytes, valid while any copy of this index lives.
  std::string_view Path(size_t i) const;
  EntryType Type(size_t i) const;
  std::string_view LinkTarget(size_t i) const;
  Entry Decode(size_t i) const;
  // The first entry at or after `from` whose path is not less than `path`.
  size_t LowerBound(std::string_view path, size_t from = 0) const;
  std::optional<size_t> Find(std::string_view path) const;

 private:
  std::shared_ptr<const std::string_view> bytes_;
  std::vector<uint32_t> offsets_;
};

std::string Compress(std::string_view raw, int level = 3);
Result<std::string> Decompress(std::string_view compressed);

}  // namespace strata
