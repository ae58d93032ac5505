// The kinds of UnionView behind its interface: LazyIndexView
// (lazy_index_view.cc: store layer indexes merged a directory at a time, as
// they are first looked in), MergedView (union_view.cc: layers merged in memory
// once, for stacks with redirected directories) and LazyDirectories
// (lazy_directories.cc: plain directories read as they are first looked in).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "format/index_codec.h"
#include "strata/union_view.h"
#include "util/mutex.h"

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

// What the views over layer indexes share: attributes from an entry, and a
// blob's path, checked against its digest once when `verify` is set.
uint32_t TypeBits(EntryType type);
NodeAttr EntryAttr(NodeId id, const Entry& e, uint32_t nlink);

class BlobPaths {
 public:
  std::function<std::string(const Digest&)> blob_path;
  std::function<Status(const Digest&)> verify;  // with UnionViewOptions::verify_content

  // A regular file's content path ("" when empty).
  Result<std::string> ContentPath(const Entry& data) const;

 private:
  mutable Mutex verified_mu_;
  mutable std::unordered_set<Digest> verified_ GUARDED_BY(verified_mu_);
};

class IndexView : public UnionView::Impl {
 public:
  BlobPaths blobs;
};

// `layers` bottom first, merged in memory at once (any stack).
Result<std::unique_ptr<IndexView>> OpenMergedView(std::vector<LayerIndex> layers);
// `layers` bottom first; none may hold a redirected directory (MergedView
// follows those).
Result<std::unique_ptr<IndexView>> OpenLazyIndexView(std::vector<EncodedIndex> layers);

// `lower_dirs` top first, as overlayfs's lowerdir= lists them.
Result<std::unique_ptr<UnionView::Impl>> OpenLazyDirectories(const std::vector<std::string>& lower_dirs);

}  // namespace strata
