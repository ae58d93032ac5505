// The two kinds of UnionView behind its interface: MergedView (union_view.cc:
// layer indexes merged in memory once) and LazyDirectories (lazy_directories.cc:
// plain directories read as they are first looked in).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "strata/union_view.h"

namespace strata {

// Thread safety: as UnionView's: every const method from any thread at once.
struct UnionView::Impl {
  virtual ~Impl() = default;
  virtual Result<NodeId> Lookup(NodeId parent, std::string_view name) const = 0;
  virtual Result<NodeAttr> GetAttr(NodeId node) const = 0;
  virtual Result<const std::vector<DirEntry>*> Children(NodeId dir) const = 0;
  virtual Result<std::string> ReadLink(NodeId node) const = 0;
  virtual Result<std::string> ContentPath(NodeId node) const = 0;
  virtual Result<const std::vector<Xattr>*> Xattrs(NodeId node) const = 0;
  virtual uint64_t node_count() const = 0;
};

// `lower_dirs` top first, as overlayfs's lowerdir= lists them.
Result<std::unique_ptr<UnionView::Impl>> OpenLazyDirectories(const std::vector<std::string>& lower_dirs);

}  // namespace strata
