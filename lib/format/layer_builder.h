// LayerBuilder: turns tar entries, in archive order, into a canonical
// LayerIndex, refusing anything a hostile archive could use to escape the
// layer or to make its meaning ambiguous.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>

#include "strata/entry.h"
#include "strata/status.h"

namespace strata {

inline constexpr size_t kMaxPathLength = 4095;  // PATH_MAX less the NUL
inline constexpr size_t kMaxNameLength = 255;   // NAME_MAX
inline constexpr size_t kMaxEntries = 10'000'000;

// Tar name -> layer path: leading '/' and "./" dropped, "//" and "/./" folded,
// trailing '/' dropped; ".." anywhere, NUL, or over-long names are refused.
Result<std::string> NormalizeTarPath(std::string_view name);

class LayerBuilder {
 public:
  LayerBuilder();

  // Adds one tar entry. `e.path` is the name as the tar has it, and for a
  // hardlink `e.link_target` is the tar's link name. Returns the stored entry
  // (so the caller can attach content), or nullptr for an entry that carries
  // no data of its own (whiteouts, opaque markers, AUFS metadata).
  Result<Entry*> Add(Entry e);

  // Hardlink groups are rewritten so the first path in sort order holds the
  // data: the index does not depend on the order the tar listed them in.
  LayerIndex Finish() &&;

 private:
  Status EnsureParents(const std::string& path, std::string_view tar_name);
  Result<Entry*> Put(Entry e, std::string_view tar_name);
  bool HasChildren(const std::string& dir) const;

  std::map<std::string, Entry> entries_;
  std::set<std::string> hardlink_targets_;
};

}  // namespace strata
