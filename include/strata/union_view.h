// UnionView: an image's layers merged into one read-only tree with overlayfs
// semantics: upper entries hide lower ones, whiteouts delete, opaque
// directories hide everything below them, hardlinks share one node.
//
// The merge is computed once when the view opens (layers never change), so
// every lookup afterwards is an in-memory search with no host system call.
// The FUSE daemon is a thin translation of these calls.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "strata/entry.h"
#include "strata/status.h"
#include "strata/store.h"

namespace strata {

using NodeId = uint64_t;
inline constexpr NodeId kRootNode = 1;  // FUSE_ROOT_ID

struct NodeAttr {
  NodeId node = 0;
  uint32_t mode = 0;  // st_mode: file type and permission bits
  uint32_t nlink = 1;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  int64_t mtime_sec = 0;
  uint32_t mtime_nsec = 0;
  uint32_t rdev_major = 0;
  uint32_t rdev_minor = 0;
};

struct DirEntry {
  std::string name;
  NodeId node = 0;
};

struct UnionViewOptions {
  // Each blob is read whole and checked against its digest the first time
  // ContentPath names it; a mismatch answers EIO (strata mount --verify).
  bool verify_content = false;
};

// Thread safety: immutable once opened; every const method may be called
// from any number of threads at once.
class UnionView {
 public:
  // Merges `ref`'s layers. `store` must outlive the view.
  static Result<std::unique_ptr<UnionView>> OpenImage(Store& store, const std::string& ref);
  // Merges store layers given bottom first (none: an empty root directory).
  static Result<std::unique_ptr<UnionView>> OpenLayers(Store& store,
                                                       const std::vector<std::string>& layer_ids,
                                                       const UnionViewOptions& options = {});
  // Merges a stack of layer indexes, bottom first; `blob_path` maps content to files.
  static Result<std::unique_ptr<UnionView>> FromLayers(std::vector<LayerIndex> layers,
                                                       std::function<std::string(const Digest&)> blob_path);
  // Merges plain directories laid out as overlayfs lower layers, top first
  // (the order of overlayfs's lowerdir=). Their files are read in place, and
  // lazily: a directory is read when it is first looked in, so opening costs
  // the same for any size of tree.
  static Result<std::unique_ptr<UnionView>> FromDirectories(const std::vector<std::string>& lower_dirs);
  ~UnionView();

  // ENOENT when absent, ENOTDIR when `parent` is not a directory.
  Result<NodeId> Lookup(NodeId parent, std::string_view name) const;
  Result<NodeAttr> GetAttr(NodeId node) const;
  // A directory's children in name order ("." and ".." not included).
  Result<const std::vector<DirEntry>*> Children(NodeId dir) const;
  // EINVAL when the node is not a symlink.
  Result<std::string> ReadLink(NodeId node) const;
  // The file holding a regular file's bytes, or "" for an empty file.
  Result<std::string> ContentPath(NodeId node) const;
  Result<const std::vector<Xattr>*> Xattrs(NodeId node) const;
  // Walks a '/'-separated path from the root.
  Result<NodeId> Resolve(std::string_view path) const;
  // More than the largest node id the view gives (an upper bound for a lazy one).
  uint64_t node_count() const;

  struct Impl;  // the two kinds of view: merged in memory, or read lazily (lib/union)

 private:
  explicit UnionView(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata
