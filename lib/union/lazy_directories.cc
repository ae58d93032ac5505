// LazyDirectories: plain directories laid out as overlayfs lower layers,
// merged as they are looked in, as kernel overlayfs and fuse-overlayfs merge
// them. Opening reads nothing below the roots: a directory's merged entries
// are made at its first lookup or listing (one readdir of each layer that has
// it, file types from d_type), an entry's attributes at its first GetAttr, its
// xattrs at its first Xattrs. The rules are MergedTree's and
// ScanDirectoryLayer's (format/): a 0/0 character device or a `.wh.NAME` file
// is a whiteout and wins over its name in the same layer; an opaque directory
// hides the layers below it; a redirect (redirect_dir) takes the lower
// layers' part of a directory from its origin. Names of one inode in one layer
// are one node (hardlinks), and a file's link count is its own, as
// fuse-overlayfs shows it.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>

#include "format/dir_layer.h"
#include "format/upper_dir.h"
#include "union/union_view_impl.h"
#include "util/file_util.h"
#include "util/mutex.h"
#include "util/status_macros.h"

namespace strata {

namespace {

// Node ids stay below this; upper inode numbers start above it (OverlayFs).
constexpr uint64_t kNodeIdLimit = uint64_t{1} << 40;

std::string JoinRel(const std::string& dir, std::string_view name) {
  return dir.empty() ? std::string(name) : dir + "/" + std::string(name);
}

struct Source {  // a directory's part in one layer
  size_t layer;
  std::string path;  // in that layer; "" is its root
};

struct LazyNode {
  NodeId id = 0;
  const LazyNode* parent = nullptr;
  std::string name;
  size_t layer = 0;   // the layer whose entry shows
  std::string path;   // its path there
  uint32_t type = 0;  // S_IFMT bits

  // Each filled once under `fill`, then only read; the flags say when.
  std::mutex fill;
  std::atomic<bool> has_sources = false, listed = false, has_attr = false, has_xattrs = false;
  std::vector<Source> sources;     // a directory's parts, top first
  std::vector<DirEntry> children;  // a directory's merged entries, by name
  struct stat st {};
  std::vector<Xattr> xattrs;
};

uint32_t TypeFromDirent(unsigned char d_type) {
  switch (d_type) {
    case DT_REG: return S_IFREG;
    case DT_DIR: return S_IFDIR;
    case DT_LNK: return S_IFLNK;
    case DT_FIFO: return S_IFIFO;
    case DT_SOCK: return S_IFSOCK;
    case DT_BLK: return S_IFBLK;
    case DT_CHR: return S_IFCHR;
    default: return 0;  // unknown: lstat says
  }
}

class LazyDirectories final : public UnionView::Impl {
 public:
  explicit LazyDirectories(std::vector<std::string> roots) : roots_(std::move(roots)) {}
  Status Open();

  Result<NodeId> Lookup(NodeId parent, std::string_view name) const override;
  Result<NodeAttr> GetAttr(NodeId node) const override;
  Result<const std::vector<DirEntry>*> Children(NodeId dir) const override;
  Result<std::string> ReadLink(NodeId node) const override;
  Result<std::string> ContentPath(NodeId node) const override;
  Result<const std::vector<Xattr>*> Xattrs(NodeId node) const override;
  uint64_t node_count() const override { return kNodeIdLimit; }

 private:
  struct Found {
    size_t layer;
    std::string path;
    uint32_t type;
    ino_t ino;
  };
  std::string Abs(size_t layer, const std::string& path) const {
    return path.empty() ? roots_[layer] : roots_[layer] + "/" + path;
  }
  Result<LazyNode*> Get(NodeId id) const;
  Status EnsureSources(LazyNode* n) const;
  Status EnsureListed(LazyNode* n) const;
  Status EnsureStat(LazyNode* n) const;
  std::vector<Source> SourcesOf(const LazyNode& n) const;
  // One layer's part of a directory: its entries, and the names it whites out.
  Status ReadPart(const Source& s, std::map<std::string, Found>& merged, const std::set<std::string>& hidden,
                  std::vector<std::string>& whiteouts) const;
  NodeId AddNode(const LazyNode* parent, const std::string& name, const Found& f) const;

  const std::vector<std::string> roots_;  // top first
  mutable SharedMutex mu_;
  mutable std::vector<std::unique_ptr<LazyNode>> nodes_ GUARDED_BY(mu_);  // index = id - 1
  // The node of each multiply linked inode seen, by layer: its names share it.
  mutable std::map<std::pair<size_t, ino_t>, NodeId> inodes_ GUARDED_BY(mu_);
};

Status LazyDirectories::Open() {
  if (roots_.empty()) return Status::InvalidArgument("no lower directory");
  for (const auto& root : roots_) {
    struct stat st;
    if (::stat(root.c_str(), &st) != 0) return ErrnoStatus("lower directory", root);
    if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument("lower " + root + " is not a directory");
  }
  auto root = std::make_unique<LazyNode>();
  root->id = kRootNode;
  root->type = S_IFDIR;
  WriterLock lock(mu_);
  nodes_.push_back(std::move(root));
  return Status::OK();
}

Result<LazyNode*> LazyDirectories::Get(NodeId id) const {
  ReaderLock lock(mu_);
  if (id < 1 || id > nodes_.size()) return Status::Posix(ESTALE, "no such node");
  return nodes_[id - 1].get();
}

NodeId LazyDirectories::AddNode(const LazyNode* parent, const std::string& name, const Found& f) const {
  WriterLock lock(mu_);
  if (f.type == S_IFREG) {  // another name of an inode met before: the same node
    if (auto it = inodes_.find({f.layer, f.ino}); it != inodes_.end()) return it->second;
  }
  auto n = std::make_unique<LazyNode>();
  n->id = nodes_.size() + 1;
  n->parent = parent;
  n->name = name;
  n->layer = f.layer;
  n->path = f.path;
  n->type = f.type;
  if (f.type == S_IFREG) inodes_[{f.layer, f.ino}] = n->id;
  nodes_.push_back(std::move(n));
  return nodes_.back()->id;
}

// Where a directory's parts are: its own entry's layer, then each layer below
// at the same name in its parent's part there (or at its redirect's origin),
// until a whiteout, a non-directory or an opaque one.
std::vector<Source> LazyDirectories::SourcesOf(const LazyNode& n) const {
  std::vector<Source> out;
  if (!n.parent) {  // the root: every layer's, down to an opaque one
    for (size_t l = 0; l < roots_.size(); ++l) {
      out.push_back({l, ""});
      if (upper::IsOpaque(roots_[l])) break;
    }
    return out;
  }
  out.push_back({n.layer, n.path});
  std::string abs = Abs(n.layer, n.path);
  if (upper::IsOpaque(abs)) return out;
  std::string redirect = upper::ReadRedirect(abs);
  for (size_t l = n.layer + 1; l < roots_.size(); ++l) {
    std::string path;
    if (!redirect.empty() && redirect[0] == '/') {
      path = redirect.substr(1);
    } else {
      auto part = std::find_if(n.parent->sources.begin(), n.parent->sources.end(),
                               [&](const Source& s) { return s.layer == l; });
      if (part == n.parent->sources.end()) continue;  // its parent is not in this layer
      path = JoinRel(part->path, redirect.empty() ? n.name : redirect);
      // A `.wh.NAME` beside it ends the directory here.
      struct stat wh;
      if (::lstat(Abs(l, JoinRel(part->path, ".wh." + (redirect.empty() ? n.name : redirect))).c_str(),
                  &wh) == 0)
        break;
    }
    struct stat st;
    if (::lstat(Abs(l, path).c_str(), &st) != 0) continue;  // not in this layer: maybe in one below
    if (!S_ISDIR(st.st_mode)) break;                        // a whiteout, or a file it hides
    out.push_back({l, path});
    abs = Abs(l, path);
    if (upper::IsOpaque(abs)) break;
    if (std::string r = upper::ReadRedirect(abs); !r.empty()) redirect = r;
  }
  return out;
}

Status LazyDirectories::EnsureSources(LazyNode* n) const {
  if (n->has_sources.load(std::memory_order_acquire)) return Status::OK();
  if (n->parent) RETURN_IF_ERROR(EnsureSources(const_cast<LazyNode*>(n->parent)));
  std::lock_guard<std::mutex> lock(n->fill);
  if (!n->has_sources) {
    n->sources = SourcesOf(*n);
    n->has_sources.store(true, std::memory_order_release);
  }
  return Status::OK();
}

Status LazyDirectories::ReadPart(const Source& s, std::map<std::string, Found>& merged,
                                 const std::set<std::string>& hidden,
                                 std::vector<std::string>& whiteouts) const {
  const std::string dir = Abs(s.layer, s.path);
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) return ErrnoStatus("read lower directory", dir);
  std::vector<Found> entries;
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d.get())) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    if (name.starts_with(upper::kWhiteoutPrefix)) {
      if (name != upper::kOpaqueMarker) whiteouts.emplace_back(name.substr(upper::kWhiteoutPrefix.size()));
      continue;
    }
    uint32_t type = TypeFromDirent(e->d_type);
    if (type == 0 || type == S_IFCHR) {  // a character device may be a whiteout
      struct stat st;
      if (::fstatat(::dirfd(d.get()), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (upper::IsWhiteout(st)) {
        whiteouts.emplace_back(name);
        continue;
      }
      type = st.st_mode & S_IFMT;
    }
    names.emplace_back(name);
    entries.push_back({s.layer, JoinRel(s.path, name), type, e->d_ino});
  }
  // A whiteout wins over its name in the same layer.
  std::set<std::string_view> layer_whiteouts(whiteouts.begin(), whiteouts.end());
  for (size_t i = 0; i < entries.size(); ++i) {
    if (layer_whiteouts.count(names[i]) || hidden.count(names[i]) || merged.count(names[i])) continue;
    merged.emplace(std::move(names[i]), std::move(entries[i]));
  }
  return Status::OK();
}

Status LazyDirectories::EnsureListed(LazyNode* n) const {
  if (n->listed.load(std::memory_order_acquire)) return Status::OK();
  RETURN_IF_ERROR(EnsureSources(n));
  std::lock_guard<std::mutex> lock(n->fill);
  if (n->listed) return Status::OK();
  std::map<std::string, Found> merged;
  std::set<std::string> hidden;  // whited out by a layer above the one being read
  for (const Source& s : n->sources) {
    std::vector<std::string> whiteouts;
    RETURN_IF_ERROR(ReadPart(s, merged, hidden, whiteouts));
    hidden.insert(whiteouts.begin(), whiteouts.end());
  }
  n->children.reserve(merged.size());
  for (const auto& [name, found] : merged) n->children.push_back({name, AddNode(n, name, found)});
  n->listed.store(true, std::memory_order_release);
  return Status::OK();
}

Status LazyDirectories::EnsureStat(LazyNode* n) const {
  if (n->has_attr.load(std::memory_order_acquire)) return Status::OK();
  if (n->type == S_IFDIR) RETURN_IF_ERROR(EnsureSources(n));
  std::lock_guard<std::mutex> lock(n->fill);
  if (n->has_attr) return Status::OK();
  const std::string abs = n->parent ? Abs(n->layer, n->path) : roots_[0];
  if (::lstat(abs.c_str(), &n->st) != 0) return ErrnoStatus("stat", abs);
  // A directory merged from several layers: its link count is unknown, and 1
  // says so (as overlayfs says it).
  if (n->type == S_IFDIR && n->sources.size() > 1) n->st.st_nlink = 1;
  n->has_attr.store(true, std::memory_order_release);
  return Status::OK();
}

Result<NodeId> LazyDirectories::Lookup(NodeId parent, std::string_view name) const {
  ASSIGN_OR_RETURN(LazyNode * dir, Get(parent));
  if (dir->type != S_IFDIR) return Status::Posix(ENOTDIR, "not a directory");
  RETURN_IF_ERROR(EnsureListed(dir));
  auto it = std::lower_bound(dir->children.begin(), dir->children.end(), name,
                             [](const DirEntry& d, std::string_view n) { return d.name < n; });
  if (it == dir->children.end() || it->name != name) return Status::Posix(ENOENT, std::string(name));
  return it->node;
}

Result<NodeAttr> LazyDirectories::GetAttr(NodeId id) const {
  ASSIGN_OR_RETURN(LazyNode * n, Get(id));
  RETURN_IF_ERROR(EnsureStat(n));
  const struct stat& st = n->st;
  NodeAttr a;
  a.node = id;
  a.mode = st.st_mode;
  a.nlink = static_cast<uint32_t>(st.st_nlink);
  a.uid = st.st_uid;
  a.gid = st.st_gid;
  a.size = static_cast<uint64_t>(st.st_size);
  a.mtime_sec = st.st_mtim.tv_sec;
  a.mtime_nsec = static_cast<uint32_t>(st.st_mtim.tv_nsec);
  a.rdev_major = major(st.st_rdev);
  a.rdev_minor = minor(st.st_rdev);
  return a;
}

Result<const std::vector<DirEntry>*> LazyDirectories::Children(NodeId id) const {
  ASSIGN_OR_RETURN(LazyNode * n, Get(id));
  if (n->type != S_IFDIR) return Status::Posix(ENOTDIR, "not a directory");
  RETURN_IF_ERROR(EnsureListed(n));
  return &n->children;
}

Result<std::string> LazyDirectories::ReadLink(NodeId id) const {
  ASSIGN_OR_RETURN(LazyNode * n, Get(id));
  if (n->type != S_IFLNK) return Status::Posix(EINVAL, "not a symlink");
  const std::string abs = Abs(n->layer, n->path);
  char buf[4096];
  ssize_t len = ::readlink(abs.c_str(), buf, sizeof buf);
  if (len < 0) return ErrnoStatus("readlink", abs);
  return std::string(buf, static_cast<size_t>(len));
}

Result<std::string> LazyDirectories::ContentPath(NodeId id) const {
  ASSIGN_OR_RETURN(LazyNode * n, Get(id));
  if (n->type == S_IFDIR) return Status::Posix(EISDIR, "is a directory");
  if (n->type != S_IFREG) return Status::Posix(EINVAL, "not a regular file");
  RETURN_IF_ERROR(EnsureStat(n));
  return n->st.st_size == 0 ? std::string() : Abs(n->layer, n->path);
}

Result<const std::vector<Xattr>*> LazyDirectories::Xattrs(NodeId id) const {
  ASSIGN_OR_RETURN(LazyNode * n, Get(id));
  if (!n->has_xattrs.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(n->fill);
    if (!n->has_xattrs) {
      n->xattrs = ReadXattrs(n->parent ? Abs(n->layer, n->path) : roots_[0]);
      n->has_xattrs.store(true, std::memory_order_release);
    }
  }
  return &n->xattrs;
}

}  // namespace

Result<std::unique_ptr<UnionView::Impl>> OpenLazyDirectories(const std::vector<std::string>& lower_dirs) {
  auto view = std::make_unique<LazyDirectories>(lower_dirs);
  RETURN_IF_ERROR(view->Open());
  return std::unique_ptr<UnionView::Impl>(std::move(view));
}

}  // namespace strata
