#include "strata/union_view.h"

#include <errno.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "format/dir_layer.h"
#include "format/layer_merge.h"
#include "union/union_view_impl.h"
#include "util/mutex.h"
#include "util/status_macros.h"

namespace strata {

namespace {

struct Node {
  const Entry* entry = nullptr;  // the data entry (a hardlink's target, resolved)
  uint32_t nlink = 1;
  std::vector<DirEntry> children;  // directories only, sorted by name
};

}  // namespace

uint32_t TypeBits(EntryType type) {
  switch (type) {
    case EntryType::kRegular:
    case EntryType::kHardlink: return S_IFREG;
    case EntryType::kDirectory: return S_IFDIR;
    case EntryType::kSymlink: return S_IFLNK;
    case EntryType::kCharDevice: return S_IFCHR;
    case EntryType::kBlockDevice: return S_IFBLK;
    case EntryType::kFifo: return S_IFIFO;
    case EntryType::kSocket: return S_IFSOCK;
    case EntryType::kWhiteout: return S_IFCHR;  // never reaches a caller: whiteouts are merged away
  }
  return S_IFREG;
}

NodeAttr EntryAttr(NodeId id, const Entry& e, uint32_t nlink) {
  NodeAttr a;
  a.node = id;
  a.mode = TypeBits(e.type) | (e.mode & 07777);
  a.nlink = nlink;
  a.uid = e.uid;
  a.gid = e.gid;
  a.size = e.type == EntryType::kSymlink ? e.link_target.size() : e.size;
  a.mtime_sec = e.mtime_sec;
  a.mtime_nsec = e.mtime_nsec;
  a.rdev_major = e.dev_major;
  a.rdev_minor = e.dev_minor;
  return a;
}

Result<std::string> BlobPaths::ContentPath(const Entry& e) const {
  if (e.type == EntryType::kDirectory) return Status::Posix(EISDIR, "is a directory");
  if (e.type != EntryType::kRegular) return Status::Posix(EINVAL, "not a regular file");
  if (e.size == 0) return std::string();
  if (verify) {
    bool known;
    {
      MutexLock lock(verified_mu_);
      known = verified_.count(e.content) > 0;
    }
    if (!known) {
      Status st = verify(e.content);
      if (!st.ok()) return Status::Posix(EIO, st.message());
      MutexLock lock(verified_mu_);
      verified_.insert(e.content);
    }
  }
  return blob_path(e.content);
}

// The view of layer indexes merged in memory once, at open: a stack with
// redirected directories (an upper directory read for a commit or a diff).
class MergedView final : public IndexView {
 public:
  Result<NodeId> Lookup(NodeId parent, std::string_view name) const override;
  Result<NodeAttr> GetAttr(NodeId node) const override;
  Result<const std::vector<DirEntry>*> Children(NodeId dir) const override;
  Result<std::string> ReadLink(NodeId node) const override;
  Result<std::string> ContentPath(NodeId node) const override;
  Result<const std::vector<Xattr>*> Xattrs(NodeId node) const override;
  uint64_t node_count() const override { return nodes.size(); }

  std::vector<LayerIndex> layers;
  std::vector<Node> nodes;  // index = NodeId - 1

  Result<const Node*> Get(NodeId id) const {
    if (id < 1 || id > nodes.size()) return Status::Posix(ESTALE, "no such node");
    return &nodes[id - 1];
  }
  Status Build();
};

Status MergedView::Build() {
  MergedTree merged;
  for (size_t i = 0; i < layers.size(); ++i) merged.Apply(i, layers[i]);
  MergedTree::Map& tree = merged.entries();
  if (tree.find("") == tree.end()) {
    static const Entry kRoot = [] {
      Entry root;
      root.type = EntryType::kDirectory;
      root.mode = 0755;
      return root;
    }();
    tree[""] = {0, &kRoot};
  }
  // The nodes of names that hardlinks point to, per layer (0 until made): only
  // they are looked up again, so only they are kept (most trees have none).
  std::map<std::pair<size_t, std::string_view>, NodeId> link_groups;
  for (const auto& [path, ref] : tree) {
    if (ref.entry->type == EntryType::kHardlink) link_groups[{ref.layer, ref.entry->link_target}] = 0;
  }
  std::unordered_map<std::string_view, NodeId> dirs;  // path -> node
  nodes.reserve(tree.size());
  for (const auto& [path, ref] : tree) {
    const Entry* data = ref.entry;
    std::string_view data_path = path;
    if (data->type == EntryType::kHardlink) {
      data_path = data->link_target;
      data = layers[ref.layer].Find(data->link_target);
      if (!data) return Status::Corruption("hardlink /" + std::string(path) + " points to a missing entry");
    }
    auto group =
        data->type == EntryType::kDirectory ? link_groups.end() : link_groups.find({ref.layer, data_path});
    NodeId id;
    if (group != link_groups.end() && group->second != 0) {
      id = group->second;
      ++nodes[id - 1].nlink;
    } else {
      nodes.push_back(Node{data, 1, {}});
      id = nodes.size();
      if (data->type == EntryType::kDirectory) {
        nodes.back().nlink = 2;
        dirs[path] = id;
      } else if (group != link_groups.end()) {
        group->second = id;
      }
    }
    if (path.empty()) continue;
    auto slash = path.rfind('/');
    std::string_view parent = slash == std::string_view::npos ? "" : path.substr(0, slash);
    auto p = dirs.find(parent);
    if (p == dirs.end()) {
      return Status::Corruption("merged entry /" + std::string(path) + " has no parent directory");
    }
    Node& parent_node = nodes[p->second - 1];
    parent_node.children.push_back(
        {std::string(path.substr(slash == std::string_view::npos ? 0 : slash + 1)), id});
    if (data->type == EntryType::kDirectory) ++parent_node.nlink;
  }
  return Status::OK();
}

Result<std::unique_ptr<IndexView>> OpenMergedView(std::vector<LayerIndex> layers) {
  auto merged = std::make_unique<MergedView>();
  merged->layers = std::move(layers);
  RETURN_IF_ERROR(merged->Build());
  return std::unique_ptr<IndexView>(std::move(merged));
}

UnionView::UnionView(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UnionView::~UnionView() = default;

Result<std::unique_ptr<UnionView>> UnionView::FromLayers(
    std::vector<LayerIndex> layers, std::function<std::string(const Digest&)> blob_path) {
  const bool redirects = std::any_of(layers.begin(), layers.end(), [](const LayerIndex& layer) {
    return std::any_of(layer.entries.begin(), layer.entries.end(),
                       [](const Entry& e) { return !e.redirect.empty(); });
  });
  std::unique_ptr<IndexView> impl;
  if (redirects) {
    ASSIGN_OR_RETURN(impl, OpenMergedView(std::move(layers)));
  } else {  // read in place, as a store's layers are
    std::vector<EncodedIndex> encoded;
    for (const LayerIndex& layer : layers) {
      ASSIGN_OR_RETURN(EncodedIndex index, EncodedIndex::Parse(EncodeIndex(layer)));
      encoded.push_back(std::move(index));
    }
    ASSIGN_OR_RETURN(impl, OpenLazyIndexView(std::move(encoded)));
  }
  impl->blobs.blob_path = std::move(blob_path);
  return std::unique_ptr<UnionView>(new UnionView(std::move(impl)));
}

Result<std::unique_ptr<UnionView>> UnionView::OpenImage(Store& store, const std::string& ref) {
  ASSIGN_OR_RETURN(Image image, store.GetImage(ref));
  return OpenLayers(store, image.layers);
}

Result<std::unique_ptr<UnionView>> UnionView::OpenLayers(Store& store,
                                                         const std::vector<std::string>& layer_ids,
                                                         const UnionViewOptions& options) {
  // Read in place from the mapped files: a store layer never holds a redirect,
  // and a mount's start then costs one pass over each index's page-cache
  // pages rather than an Entry per entry.
  ASSIGN_OR_RETURN(auto bytes, store.ReadLayerIndexBytes(layer_ids));
  std::vector<EncodedIndex> layers;
  for (auto& b : bytes) {
    ASSIGN_OR_RETURN(EncodedIndex index, EncodedIndex::Parse(std::move(b)));
    layers.push_back(std::move(index));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<IndexView> impl, OpenLazyIndexView(std::move(layers)));
  impl->blobs.blob_path = [&store](const Digest& d) { return store.BlobPath(d); };
  if (options.verify_content) impl->blobs.verify = [&store](const Digest& d) { return store.VerifyBlob(d); };
  return std::unique_ptr<UnionView>(new UnionView(std::move(impl)));
}

Result<std::unique_ptr<UnionView>> UnionView::FromDirectories(const std::vector<std::string>& lower_dirs) {
  ASSIGN_OR_RETURN(std::unique_ptr<Impl> impl, OpenLazyDirectories(lower_dirs));
  return std::unique_ptr<UnionView>(new UnionView(std::move(impl)));
}

Result<NodeId> MergedView::Lookup(NodeId parent, std::string_view name) const {
  ASSIGN_OR_RETURN(const Node* dir, Get(parent));
  if (dir->entry->type != EntryType::kDirectory) return Status::Posix(ENOTDIR, "not a directory");
  auto it = std::lower_bound(dir->children.begin(), dir->children.end(), name,
                             [](const DirEntry& d, std::string_view n) { return d.name < n; });
  if (it == dir->children.end() || it->name != name) return Status::Posix(ENOENT, std::string(name));
  return it->node;
}

Result<NodeAttr> MergedView::GetAttr(NodeId id) const {
  ASSIGN_OR_RETURN(const Node* node, Get(id));
  return EntryAttr(id, *node->entry, node->nlink);
}

Result<const std::vector<DirEntry>*> MergedView::Children(NodeId id) const {
  ASSIGN_OR_RETURN(const Node* node, Get(id));
  if (node->entry->type != EntryType::kDirectory) return Status::Posix(ENOTDIR, "not a directory");
  return &node->children;
}

Result<std::string> MergedView::ReadLink(NodeId id) const {
  ASSIGN_OR_RETURN(const Node* node, Get(id));
  if (node->entry->type != EntryType::kSymlink) return Status::Posix(EINVAL, "not a symlink");
  return node->entry->link_target;
}

Result<std::string> MergedView::ContentPath(NodeId id) const {
  ASSIGN_OR_RETURN(const Node* node, Get(id));
  return blobs.ContentPath(*node->entry);
}

Result<const std::vector<Xattr>*> MergedView::Xattrs(NodeId id) const {
  ASSIGN_OR_RETURN(const Node* node, Get(id));
  return &node->entry->xattrs;
}

Result<NodeId> UnionView::Resolve(std::string_view path) const {
  NodeId id = kRootNode;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) {
      ASSIGN_OR_RETURN(id, Lookup(id, path.substr(i, j - i)));
    }
    i = j + 1;
  }
  return id;
}

Result<NodeId> UnionView::Lookup(NodeId parent, std::string_view name) const {
  return impl_->Lookup(parent, name);
}
Result<NodeAttr> UnionView::GetAttr(NodeId node) const {
  return impl_->GetAttr(node);
}
Result<const std::vector<DirEntry>*> UnionView::Children(NodeId dir) const {
  return impl_->Children(dir);
}
Result<std::string> UnionView::ReadLink(NodeId node) const {
  return impl_->ReadLink(node);
}
Result<std::string> UnionView::ContentPath(NodeId node) const {
  return impl_->ContentPath(node);
}
Result<const std::vector<Xattr>*> UnionView::Xattrs(NodeId node) const {
  return impl_->Xattrs(node);
}
uint64_t UnionView::node_count() const {
  return impl_->node_count();
}

}  // namespace strata
