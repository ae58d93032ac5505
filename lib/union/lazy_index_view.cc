// LazyIndexView: store layer indexes merged a directory at a time. Opening
// makes the root only; a directory's merged entries are made when it is
// first looked in (for each layer that holds it, a binary search to its
// entries in that layer's sorted index and one pass over its direct
// children), so a mount costs the same for any size of image. Indexes are
// read in place (EncodedIndex): an entry is decoded when a node needs it. The rules are
// MergedTree's (format/layer_merge.h) for stacks without redirects: a
// whiteout deletes what is below it, an opaque directory hides the layers
// below, a directory a tar only implied keeps a lower directory's metadata,
// and the names of one file in one layer (hardlinks) are one node whose link
// count is the number of them that show.
#include <errno.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <unordered_map>

#include "union/union_view_impl.h"
#include "util/mutex.h"
#include "util/status_macros.h"

namespace strata {

namespace {

// Node ids stay below this; upper inode numbers start above it (OverlayFs).
constexpr uint64_t kNodeIdLimit = uint64_t{1} << 40;

bool IsDir(const Entry& e) {
  return e.type == EntryType::kDirectory;
}

std::string JoinRel(std::string_view dir, std::string_view name) {
  return dir.empty() ? std::string(name) : std::string(dir) + "/" + std::string(name);
}

// Calls child(name, i) for each direct child of `dir` in a sorted index (i its
// position), and orphan(name, path) for each name the layer has entries below
// but no entry for, with the first of them that is not a whiteout (a layer may
// hold a directory's contents while a lower layer holds the directory).
template <typename Child, typename Orphan>
void ForEachChild(const EncodedIndex& index, std::string_view dir, Child child, Orphan orphan) {
  const std::string prefix = dir.empty() ? std::string() : std::string(dir) + "/";
  size_t i = index.LowerBound(prefix);
  std::string_view last_child;
  while (i < index.size() && index.Path(i).starts_with(prefix)) {
    std::string_view rest = index.Path(i).substr(prefix.size());
    if (rest.empty()) {  // the root's own entry
      ++i;
      continue;
    }
    auto slash = rest.find('/');
    if (slash == std::string_view::npos) {
      child(rest, i);
      last_child = rest;
      ++i;
      continue;
    }
    // Below a child: skip its subtree, which sorts in [child/, child0).
    std::string_view name = rest.substr(0, slash);
    size_t end = index.LowerBound(prefix + std::string(name) + "0", i);
    if (name != last_child) {
      for (size_t j = i; j < end; ++j) {
        if (index.Type(j) != EntryType::kWhiteout) {
          orphan(name, index.Path(j));
          break;
        }
      }
    }
    i = end;
  }
}

// One layer of the view: its index, read in place, and what was decoded of it.
struct IndexLayer {
  explicit IndexLayer(EncodedIndex i) : index(std::move(i)) {}
  EncodedIndex index;
  // Each hardlink target's other names.
  std::unordered_map<std::string_view, std::vector<std::string_view>> links;
  Mutex mu;
  std::unordered_map<size_t, std::unique_ptr<const Entry>> decoded GUARDED_BY(mu);
};

struct IndexNode {
  NodeId id = 0;
  std::string path;              // in the merged tree ("" is the root)
  const Entry* entry = nullptr;  // the entry whose data shows (a hardlink's target)
  size_t layer = 0;              // top-first number of the layer that entry is in
  std::vector<size_t> sources;   // a directory's layers, top first
  std::string_view linked_path;  // a multiply linked file's data path in `layer`

  std::mutex fill;
  std::atomic<bool> listed = false, counted = false;
  std::vector<DirEntry> children;  // a directory's merged entries, by name
  uint32_t nlink = 1;              // once `counted` (directories: once listed)
};

class LazyIndexView final : public IndexView {
 public:
  explicit LazyIndexView(std::vector<EncodedIndex> layers);
  void Open();

  Result<NodeId> Lookup(NodeId parent, std::string_view name) const override;
  Result<NodeAttr> GetAttr(NodeId node) const override;
  Result<const std::vector<DirEntry>*> Children(NodeId dir) const override;
  Result<std::string> ReadLink(NodeId node) const override;
  Result<std::string> ContentPath(NodeId node) const override;
  Result<const std::vector<Xattr>*> Xattrs(NodeId node) const override;
  uint64_t node_count() const override { return kNodeIdLimit; }

 private:
  IndexLayer& Top(size_t t) const { return *layers_[layers_.size() - 1 - t]; }
  // Layer t's entry i, or at `path` (null if none), decoded once: the pointer stays valid.
  const Entry& EntryAt(size_t t, size_t i) const;
  const Entry* Find(size_t t, std::string_view path) const;
  Result<IndexNode*> Get(NodeId id) const;
  Status EnsureListed(IndexNode* n) const;
  // A directory's layers and the entry that shows for it, from the layer of its
  // top entry down through its parent's layers.
  void FillDirectory(IndexNode& n, const IndexNode& parent) const;
  Result<NodeId> AddNode(const IndexNode& parent, std::string_view name, size_t layer, const Entry& e) const;
  // Whether `path` of layer `t` shows: no layer above holds it or hides a
  // directory it is under.
  bool Shows(size_t t, std::string_view path) const;

  std::vector<std::unique_ptr<IndexLayer>> layers_;  // bottom first
  mutable SharedMutex mu_;
  mutable std::vector<std::unique_ptr<IndexNode>> nodes_ GUARDED_BY(mu_);  // index = id - 1
  mutable std::map<std::pair<size_t, std::string_view>, NodeId> linked_ GUARDED_BY(mu_);
};

LazyIndexView::LazyIndexView(std::vector<EncodedIndex> layers) {
  for (EncodedIndex& index : layers) {
    auto layer = std::make_unique<IndexLayer>(std::move(index));
    const EncodedIndex& in = layer->index;
    for (size_t i = 0; i < in.size(); ++i) {
      if (in.Type(i) == EntryType::kHardlink) layer->links[in.LinkTarget(i)].push_back(in.Path(i));
    }
    layers_.push_back(std::move(layer));
  }
}

const Entry& LazyIndexView::EntryAt(size_t t, size_t i) const {
  IndexLayer& layer = Top(t);
  MutexLock lock(layer.mu);
  auto& slot = layer.decoded[i];
  if (!slot) slot = std::make_unique<const Entry>(layer.index.Decode(i));
  return *slot;
}

const Entry* LazyIndexView::Find(size_t t, std::string_view path) const {
  auto i = Top(t).index.Find(path);
  return i ? &EntryAt(t, *i) : nullptr;
}

void LazyIndexView::Open() {
  static const Entry kRoot = [] {
    Entry root;
    root.type = EntryType::kDirectory;
    root.mode = 0755;
    return root;
  }();
  auto root = std::make_unique<IndexNode>();
  root->id = kRootNode;
  root->entry = &kRoot;
  // Every layer holds the root (with or without an entry for it), down to an
  // opaque one; its metadata is the top non-implicit entry's.
  const Entry* implicit = nullptr;
  bool chosen = false;
  for (size_t t = 0; t < layers_.size(); ++t) {
    const Entry* e = Find(t, "");
    if (e && IsDir(*e) && !chosen) {
      if (!e->implicit) {
        root->entry = e;
        root->layer = t;
        chosen = true;
      } else {
        implicit = e;
        root->layer = t;
      }
    }
    root->sources.push_back(t);
    if (e && IsDir(*e) && e->opaque) break;
  }
  if (!chosen && implicit) root->entry = implicit;
  WriterLock lock(mu_);
  nodes_.push_back(std::move(root));
}

Result<IndexNode*> LazyIndexView::Get(NodeId id) const {
  ReaderLock lock(mu_);
  if (id < 1 || id > nodes_.size()) return Status::Posix(ESTALE, "no such node");
  return nodes_[id - 1].get();
}

void LazyIndexView::FillDirectory(IndexNode& n, const IndexNode& parent) const {
  const Entry* shown = n.entry;
  size_t shown_layer = n.layer;
  bool contents_end = false;  // an opaque layer ends the contents, not the metadata
  bool metadata_found = !n.entry->implicit;
  for (size_t t : parent.sources) {
    // A layer without an entry for the directory may still hold entries in
    // it, as MergedTree merges them (above the shown entry: only so).
    const Entry* e = t == n.layer ? n.entry : t < n.layer ? nullptr : Find(t, n.path);
    if (e && !IsDir(*e)) break;  // a whiteout, or a file it hides
    if (!contents_end) n.sources.push_back(t);
    if (!e) continue;
    if (!metadata_found && t > n.layer) {  // the top entry a tar wrote itself, else the lowest implied one
      shown = e;
      shown_layer = t;
      metadata_found = !e->implicit;
    }
    if (e->opaque) contents_end = true;
    if (contents_end && metadata_found) break;
  }
  n.entry = shown;
  n.layer = shown_layer;
}

Result<NodeId> LazyIndexView::AddNode(const IndexNode& parent, std::string_view name, size_t layer,
                                      const Entry& e) const {
  const Entry* data = &e;
  std::string_view data_path = e.path;
  if (e.type == EntryType::kHardlink) {
    data_path = e.link_target;
    data = Find(layer, data_path);
    if (!data) return Status::Corruption("hardlink /" + e.path + " points to a missing entry");
  }
  const bool linked = !IsDir(*data) && Top(layer).links.count(data_path) > 0;
  auto n = std::make_unique<IndexNode>();
  n->path = JoinRel(parent.path, name);
  n->entry = data;
  n->layer = layer;
  if (linked) n->linked_path = data_path;
  if (IsDir(*data)) FillDirectory(*n, parent);
  WriterLock lock(mu_);
  if (linked) {  // another name of a file met before: the same node
    auto [it, first] = linked_.try_emplace({layer, data_path}, nodes_.size() + 1);
    if (!first) return it->second;
  }
  n->id = nodes_.size() + 1;
  nodes_.push_back(std::move(n));
  return nodes_.back()->id;
}

bool LazyIndexView::Shows(size_t t, std::string_view path) const {
  for (size_t above = 0; above < t; ++above) {
    if (Top(above).index.Find(path)) return false;
    for (size_t end = 0;; ++end) {  // each directory the path is under (the root last)
      end = path.find('/', end);
      const Entry* e = Find(above, end == std::string_view::npos ? std::string_view() : path.substr(0, end));
      if (e && (!IsDir(*e) || e->opaque)) return false;
      if (end == std::string_view::npos) break;
    }
  }
  return true;
}

Status LazyIndexView::EnsureListed(IndexNode* n) const {
  if (n->listed.load(std::memory_order_acquire)) return Status::OK();
  std::lock_guard<std::mutex> lock(n->fill);
  if (n->listed) return Status::OK();
  struct Shown {
    size_t layer;
    size_t entry;  // its position in that layer's index
  };
  std::map<std::string_view, Shown> merged;
  std::map<std::string_view, bool> whited;               // names a layer above the one read deleted
  std::map<std::string_view, std::string_view> orphans;  // name -> a path below it
  for (size_t t : n->sources) {
    std::vector<std::string_view> whiteouts;
    const EncodedIndex& index = Top(t).index;
    ForEachChild(
        index, n->path,
        [&](std::string_view name, size_t i) {
          if (merged.count(name) || whited.count(name)) return;
          if (index.Type(i) == EntryType::kWhiteout) {
            whiteouts.push_back(name);
          } else {
            merged.emplace(name, Shown{t, i});
          }
        },
        [&](std::string_view name, std::string_view path) {
          if (!merged.count(name) && !whited.count(name)) orphans.emplace(name, path);
        });
    for (auto name : whiteouts) whited.emplace(name, true);
  }
  for (const auto& [name, path] : orphans) {
    auto it = merged.find(name);
    if (it == merged.end() || Top(it->second.layer).index.Type(it->second.entry) != EntryType::kDirectory) {
      return Status::Corruption("merged entry /" + std::string(path) + " has no parent directory");
    }
  }
  std::vector<DirEntry> children;
  children.reserve(merged.size());
  uint32_t subdirs = 0;
  for (const auto& [name, shown] : merged) {
    const Entry& e = EntryAt(shown.layer, shown.entry);
    ASSIGN_OR_RETURN(NodeId id, AddNode(*n, name, shown.layer, e));
    children.push_back({std::string(name), id});
    if (IsDir(e)) ++subdirs;
  }
  n->children = std::move(children);
  n->nlink = 2 + subdirs;
  n->listed.store(true, std::memory_order_release);
  return Status::OK();
}

Result<NodeId> LazyIndexView::Lookup(NodeId parent, std::string_view name) const {
  ASSIGN_OR_RETURN(IndexNode * dir, Get(parent));
  if (!IsDir(*dir->entry)) return Status::Posix(ENOTDIR, "not a directory");
  RETURN_IF_ERROR(EnsureListed(dir));
  auto it = std::lower_bound(dir->children.begin(), dir->children.end(), name,
                             [](const DirEntry& d, std::string_view n) { return d.name < n; });
  if (it == dir->children.end() || it->name != name) return Status::Posix(ENOENT, std::string(name));
  return it->node;
}

Result<NodeAttr> LazyIndexView::GetAttr(NodeId id) const {
  ASSIGN_OR_RETURN(IndexNode * n, Get(id));
  if (IsDir(*n->entry)) {
    RETURN_IF_ERROR(EnsureListed(n));  // a directory's link count counts its subdirectories
  } else if (!n->linked_path.empty() && !n->counted.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(n->fill);
    if (!n->counted) {
      uint32_t names = Shows(n->layer, n->linked_path) ? 1 : 0;
      for (std::string_view name : Top(n->layer).links.at(n->linked_path)) names += Shows(n->layer, name);
      n->nlink = std::max<uint32_t>(names, 1);
      n->counted.store(true, std::memory_order_release);
    }
  }
  return EntryAttr(id, *n->entry, n->nlink);
}

Result<const std::vector<DirEntry>*> LazyIndexView::Children(NodeId id) const {
  ASSIGN_OR_RETURN(IndexNode * n, Get(id));
  if (!IsDir(*n->entry)) return Status::Posix(ENOTDIR, "not a directory");
  RETURN_IF_ERROR(EnsureListed(n));
  return &n->children;
}

Result<std::string> LazyIndexView::ReadLink(NodeId id) const {
  ASSIGN_OR_RETURN(IndexNode * n, Get(id));
  if (n->entry->type != EntryType::kSymlink) return Status::Posix(EINVAL, "not a symlink");
  return n->entry->link_target;
}

Result<std::string> LazyIndexView::ContentPath(NodeId id) const {
  ASSIGN_OR_RETURN(IndexNode * n, Get(id));
  return blobs.ContentPath(*n->entry);
}

Result<const std::vector<Xattr>*> LazyIndexView::Xattrs(NodeId id) const {
  ASSIGN_OR_RETURN(IndexNode * n, Get(id));
  return &n->entry->xattrs;
}

}  // namespace

Result<std::unique_ptr<IndexView>> OpenLazyIndexView(std::vector<EncodedIndex> layers) {
  auto view = std::make_unique<LazyIndexView>(std::move(layers));
  view->Open();
  return std::unique_ptr<IndexView>(std::move(view));
}

}  // namespace strata
