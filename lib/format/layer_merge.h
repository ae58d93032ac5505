// MergedTree: layer indexes stacked by overlayfs's rules, as one sorted map
// of paths. Upper entries hide lower ones, whiteouts delete, opaque
// directories hide what was below them, and a directory an upper layer moved
// (redirect_dir: Entry::redirect) shows its origin's contents under its new
// name, chained through the layers as the kernel follows redirects.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "strata/entry.h"
#include "strata/status.h"

namespace strata {

class MergedTree {
 public:
  struct Ref {
    size_t layer;        // which layer's entry defines the path
    const Entry* entry;  // that entry (its own path may differ: a redirect moved it)
  };
  using Map = std::map<std::string_view, Ref, std::less<>>;

  // Puts layer number `layer` on top. The index must outlive the tree: the
  // map's keys and refs point into it.
  void Apply(size_t layer, const LayerIndex& index);
  const Map& entries() const { return tree_; }
  Map& entries() { return tree_; }

 private:
  void ApplyRedirects(size_t layer, const LayerIndex& index);
  Map tree_;
  std::deque<std::string> moved_paths_;  // keys of entries a redirect moved (the layers do not hold them)
};

// An upper layer read from a directory made standalone, as a layer the store
// can keep: each redirected directory written out whole (its merged contents
// over `lower` under its new name, opaque, no redirect). Other entries pass
// as they are. `lower` is bottom first.
LayerIndex FlattenRedirects(const std::vector<LayerIndex>& lower, const LayerIndex& upper);

// Where an upper layer's entry at `path` came from in the layers below: its
// own redirect (absolute), else its parent's origin and its name, following
// the redirects of the directories above it.
std::string OriginInLower(const LayerIndex& upper, std::string_view path);

// Gives each metacopy file of `upper` (read from a directory) the data of
// the lower file it came from: its content digest, as a store layer names it.
// Corruption when that file is not below. `lower` is bottom first.
Status ResolveMetacopies(const std::vector<LayerIndex>& lower, LayerIndex& upper);

}  // namespace strata
