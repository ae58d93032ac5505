#include <errno.h>
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <xxhash.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "format/upper_dir.h"
#include "strata/text.h"
#include "union/kernel_upper.h"
#include "union/overlay_impl.h"
#include "util/status_macros.h"

namespace strata {

namespace {

Status Errno(std::string_view what) {
  return Status::Posix(errno, std::string(what) + ": " + strerror(errno));
}

struct stat FromLower(const NodeAttr& a, uint64_t ino) {
  struct stat st {};
  st.st_ino = ino;
  st.st_mode = a.mode;
  st.st_nlink = a.nlink;
  st.st_uid = a.uid;
  st.st_gid = a.gid;
  st.st_size = static_cast<off_t>(a.size);
  st.st_blksize = 4096;
  st.st_blocks = static_cast<blkcnt_t>((a.size + 511) / 512);
  st.st_mtim = {a.mtime_sec, static_cast<long>(a.mtime_nsec)};
  st.st_atim = st.st_mtim;
  st.st_ctim = st.st_mtim;
  st.st_rdev = makedev(a.rdev_major, a.rdev_minor);
  if (S_ISDIR(a.mode)) {  // no index keeps a directory's size: one block, as ext4 and xfs show
    st.st_size = 4096;
    st.st_blocks = 8;
  }
  return st;
}

// A listing entry's cookie: a hash of its name, above the three offsets
// readdir keeps for the start, "." and "..", and positive as an off_t.
uint64_t CookieOf(std::string_view name) {
  return std::max<uint64_t>(XXH3_64bits(name.data(), name.size()) >> 1, 3);
}

// Names strata gives its own files in the work directory: copy-ups and
// whiteouts in flight, and the data of removed files still referenced.
bool IsWorkLeftover(std::string_view name) {
  return name.starts_with("copyup-") || name.starts_with("whiteout-") || name.starts_with("orphan-") ||
         name.starts_with("new-");
}

// A crash leaves them behind; no one else writes there (one mount per upper).
void RemoveWorkLeftovers(int work_fd) {
  auto names = ListDir(work_fd);
  if (!names.ok()) return;
  for (const auto& name : *names) {
    if (IsWorkLeftover(name)) RemoveEntryAt(work_fd, name);  // a new directory is empty
  }
}

// Drops dir's entry `name` if it still names n (a rename may have put another there).
void EraseChild(OverlayNode* dir, std::string_view name, const OverlayNode* n) {
  if (auto it = dir->children.find(name); it != dir->children.end() && it->second == n) {
    dir->children.erase(it);
  }
}

auto FindAlias(OverlayNode* n, const OverlayNode* dir, std::string_view name) {
  return std::find_if(n->aliases.begin(), n->aliases.end(),
                      [&](const auto& alias) { return alias.first == dir && alias.second == name; });
}

}  // namespace

// A file opened read-only below: once another descriptor copies it up, reads
// switch to the upper copy, so readers see writes made through other fds.
class LowerOpenFile final : public OpenFile {
 public:
  LowerOpenFile(OverlayImpl* fs, OverlayNode* node, int fd) : fs_(fs), node_(node), fd_(fd) {}
  int CurrentFd() override {
    if (switched_ || !node_->upper.load(std::memory_order_acquire)) return fd_.get();
    MutexLock lock(mu_);
    if (!switched_) {
      if (auto fd = fs_->OpenUpperFd(node_, O_RDONLY); fd.ok()) fd_ = UniqueFd(*fd);
      switched_ = true;
    }
    return fd_.get();
  }
  bool from_lower() const override { return !switched_; }

 private:
  OverlayImpl* fs_;
  OverlayNode* node_;
  UniqueFd fd_;
  Mutex mu_;
  std::atomic<bool> switched_ = false;
};

Result<std::unique_ptr<OverlayFs>> OverlayFs::Open(std::unique_ptr<UnionView> lower, OverlayOptions options) {
  UniqueFd upper_fd, work_fd;
  if (!options.upper_dir.empty()) {
    if (options.work_dir.empty()) return Status::InvalidArgument("an upper directory needs a work directory");
    upper_fd = UniqueFd(::open(options.upper_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!upper_fd.valid()) return ErrnoStatus("open upper directory", options.upper_dir);
    work_fd = UniqueFd(::open(options.work_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!work_fd.valid()) return ErrnoStatus("open work directory", options.work_dir);
    struct stat su, sw;
    if (::fstat(upper_fd.get(), &su) != 0 || ::fstat(work_fd.get(), &sw) != 0 || su.st_dev != sw.st_dev) {
      return Status::InvalidArgument("upper and work directories must be on the same file system");
    }
    RemoveWorkLeftovers(work_fd.get());
    RETURN_IF_ERROR(CompleteKernelCopyUps(options.upper_dir, options.work_dir, *lower));
  }
  return std::unique_ptr<OverlayFs>(
      new OverlayImpl(std::move(lower), std::move(options), std::move(upper_fd), std::move(work_fd)));
}

OverlayImpl::OverlayImpl(std::unique_ptr<UnionView> lower, OverlayOptions options, UniqueFd upper_fd,
                         UniqueFd work_fd)
    : lower_(std::move(lower)),
      options_(std::move(options)),
      upper_fd_(std::move(upper_fd)),
      work_fd_(std::move(work_fd)),
      next_ino_(lower_->node_count() + 1),
      process_umask_(ProcessUmask()),
      euid_(::geteuid()),
      egid_(::getegid()) {
  writable_ = upper_fd_.valid();
  auto root = std::make_unique<OverlayNode>();
  root->id = kRootNode;
  root->ino = kRootNode;
  root->lower = kRootNode;
  root->type = S_IFDIR;
  root->upper = writable_;
  root->opaque = writable_ && upper::IsOpaque(options_.upper_dir);
  root->lookups = 1;
  nodes_.emplace(kRootNode, std::move(root));
}

OverlayImpl::~OverlayImpl() {
  for (const auto& [id, n] : nodes_) {
    if (!n->orphan.empty()) ::unlinkat(work_fd_.get(), n->orphan.c_str(), 0);
  }
}

Status OverlayImpl::RequireWritable() const {
  return writable_ ? Status::OK() : Status::Posix(EROFS, "read-only file system");
}

Result<OverlayNode*> OverlayImpl::GetLocked(uint64_t id) {
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return Status::Posix(ESTALE, "stale node");
  return it->second.get();
}

Result<OverlayNode*> OverlayImpl::DirLocked(uint64_t id) {
  ASSIGN_OR_RETURN(OverlayNode * n, GetLocked(id));
  if (n->type != S_IFDIR) return Status::Posix(ENOTDIR, "not a directory");
  if (n->removed) return Status::Posix(ENOENT, "directory was removed");
  return n;
}

std::string OverlayImpl::Rel(const OverlayNode* n) const {
  if (!n->parent) return ".";
  std::string rel = n->name;
  for (const OverlayNode* p = n->parent; p->parent; p = p->parent) rel = p->name + "/" + rel;
  return rel;
}

std::string OverlayImpl::ChildRel(const OverlayNode* dir, std::string_view name) const {
  return dir->parent ? Rel(dir) + "/" + std::string(name) : std::string(name);
}

uint64_t OverlayImpl::InoForHost(const struct stat& st) {
  auto [it, inserted] = host_inos_.try_emplace({st.st_dev, st.st_ino}, next_ino_);
  if (inserted) ++next_ino_;
  return it->second;
}

bool OverlayImpl::LowerHasLocked(const OverlayNode* dir, std::string_view name) const {
  return dir->lower != 0 && !dir->opaque && lower_->Lookup(dir->lower, name).ok();
}

OverlayNode* OverlayImpl::AddChildLocked(OverlayNode* dir, std::string_view name) {
  auto node = std::make_unique<OverlayNode>();
  node->id = next_id_++;
  node->parent = dir;
  node->name = std::string(name);
  OverlayNode* raw = node.get();
  nodes_.emplace(raw->id, std::move(node));
  dir->children[raw->name] = raw;
  ++dir->kids;
  return raw;
}

void OverlayImpl::ReparentLocked(OverlayNode* n, OverlayNode* new_parent) {
  --n->parent->kids;
  ++new_parent->kids;
  n->parent = new_parent;
}

void OverlayImpl::AddAliasLocked(OverlayNode* n, OverlayNode* dir, std::string_view name) {
  dir->children[std::string(name)] = n;
  n->aliases.emplace_back(dir, std::string(name));
  ++dir->kids;
}

void OverlayImpl::MoveNameLocked(OverlayNode* n, OverlayNode* dir, std::string_view name,
                                 OverlayNode* new_dir, std::string_view new_name) {
  EraseChild(dir, name, n);
  new_dir->children[std::string(new_name)] = n;
  if (n->parent == dir && n->name == name) {
    ReparentLocked(n, new_dir);
    n->name = std::string(new_name);
  } else if (auto alias = FindAlias(n, dir, name); alias != n->aliases.end()) {
    --dir->kids;
    ++new_dir->kids;
    *alias = {new_dir, std::string(new_name)};
  }
}

void OverlayImpl::RemoveNameLocked(OverlayNode* n, OverlayNode* dir, std::string_view name) {
  if (n->aliases.empty()) return DetachLocked(n);
  ChangedLocked(dir);
  EraseChild(dir, name, n);
  if (n->parent == dir && n->name == name) {  // another name becomes the node's own
    --n->parent->kids;                        // the alias was counted in its directory already
    std::tie(n->parent, n->name) = std::move(n->aliases.back());
    n->aliases.pop_back();
  } else if (auto alias = FindAlias(n, dir, name); alias != n->aliases.end()) {
    --dir->kids;
    n->aliases.erase(alias);
  }
}

void OverlayImpl::MaybeFreeLocked(OverlayNode* n) {
  // A node goes only when the kernel has forgotten it, it is gone from the
  // tree, and no other node still names it as parent (Rel() walks parents).
  while (n && n->id != kRootNode && n->removed && n->lookups == 0 && n->kids == 0) {
    OverlayNode* parent = n->parent;
    --parent->kids;
    if (!n->orphan.empty()) ::unlinkat(work_fd_.get(), n->orphan.c_str(), 0);
    fd_cache_.Erase(n->id);
    nodes_.erase(n->id);
    n = parent;
  }
}

void OverlayImpl::ChangedLocked(OverlayNode* dir) {
  ++generation_;
  dir->listing.reset();
}

Status OverlayImpl::KeepIfReferencedLocked(OverlayNode* n, const std::string& rel) {
  if (n->type != S_IFREG || !n->upper || n->lookups == 0 || !n->orphan.empty()) return Status::OK();
  std::string name = "orphan-" + std::to_string(n->id);
  if (::linkat(upper_fd_.get(), rel.c_str(), work_fd_.get(), name.c_str(), 0) != 0) return Errno("unlink");
  n->orphan = std::move(name);
  return Status::OK();
}

OverlayImpl::HostPath OverlayImpl::UpperPathLocked(const OverlayNode* n) const {
  if (!n->orphan.empty()) return {work_fd_.get(), n->orphan};
  return {upper_fd_.get(), Rel(n)};
}

std::string OverlayImpl::AbsPathLocked(const OverlayNode* n) const {
  if (!n->orphan.empty()) return options_.work_dir + "/" + n->orphan;
  return Abs(Rel(n));
}

void OverlayImpl::DetachLocked(OverlayNode* n) {
  n->removed = true;
  if (n->linked) {  // its upper file may go, and its inode number come back for another
    if (auto it = linked_.find(*n->linked); it != linked_.end() && it->second == n) linked_.erase(it);
    n->linked.reset();
  }
  if (n->parent) {
    ChangedLocked(n->parent);
    EraseChild(n->parent, n->name, n);
  }
  MaybeFreeLocked(n);  // n may be gone after this
}

Result<OverlayNode*> OverlayImpl::ChildLocked(OverlayNode* dir, std::string_view name) {
  if (dir->type != S_IFDIR) return Status::Posix(ENOTDIR, "not a directory");
  if (name.size() > 255) return Status::Posix(ENAMETOOLONG, "name too long");
  if (auto it = dir->children.find(name); it != dir->children.end()) return it->second;
  ASSIGN_OR_RETURN(ChildFound found, FindChild(QueryLocked(dir, name)));
  return AddFoundLocked(dir, name, found);
}

OverlayImpl::ChildQuery OverlayImpl::QueryLocked(const OverlayNode* dir, std::string_view name) const {
  return ChildQuery{dir->upper, ChildRel(dir, name), dir->lower, dir->opaque, std::string(name)};
}

std::optional<NodeId> OverlayImpl::RedirectOrigin(const std::string& abs, NodeId dir_lower,
                                                  bool dir_opaque) const {
  const std::string redirect = upper::ReadRedirect(abs);
  if (redirect.empty()) return std::nullopt;
  auto origin = redirect[0] == '/'              ? lower_->Resolve(redirect)
                : dir_lower != 0 && !dir_opaque ? lower_->Lookup(dir_lower, redirect)
                                                : Result<NodeId>(Status::Posix(ENOENT, redirect));
  if (!origin.ok()) return NodeId{0};  // its origin is gone: nothing below it shows
  auto attr = lower_->GetAttr(*origin);
  return attr.ok() && S_ISDIR(attr->mode) ? *origin : NodeId{0};
}

Result<OverlayImpl::ChildFound> OverlayImpl::FindChild(const ChildQuery& q) const {
  ChildFound found;
  if (q.dir_upper) {  // a directory never copied up has nothing in the upper directory below it
    if (::fstatat(upper_fd_.get(), q.rel.c_str(), &found.st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (upper::IsWhiteout(found.st)) return Status::Posix(ENOENT, "whited out");
      found.in_upper = true;
    } else if (upper::HasWhiteoutFile(upper_fd_.get(), q.rel)) {
      return Status::Posix(ENOENT, "whited out");
    }
  }
  if (q.dir_lower != 0 && !q.dir_opaque) {
    if (auto below = lower_->Lookup(q.dir_lower, q.name); below.ok()) found.lower = *below;
  }
  if (!found.in_upper && found.lower == 0) return Status::Posix(ENOENT, q.name);
  if (found.lower != 0) {
    ASSIGN_OR_RETURN(found.lower_attr, lower_->GetAttr(found.lower));
  }
  if (found.in_upper) {
    const uint32_t type = found.st.st_mode & S_IFMT;
    if (type == S_IFDIR) found.opaque = upper::IsOpaque(Abs(q.rel));
    // A moved directory (redirect_dir) merges with its origin, not with what
    // is below its new name.
    if (auto origin = type == S_IFDIR && !found.opaque ? RedirectOrigin(Abs(q.rel), q.dir_lower, q.dir_opaque)
                                                       : std::nullopt) {
      found.lower = *origin;
      if (found.lower != 0) {
        ASSIGN_OR_RETURN(found.lower_attr, lower_->GetAttr(found.lower));
      }
    }
    // Only a directory merges with what is below it, and an opaque one with
    // nothing: it is a new directory, with an inode number of its own (the
    // lower one's may be a moved directory's now).
    if (type != S_IFDIR || !S_ISDIR(found.lower_attr.mode) || found.opaque) found.lower = 0;
  }
  return found;
}

void OverlayImpl::NoteLinkedLocked(OverlayNode* n, std::pair<dev_t, ino_t> host) {
  n->linked = host;
  linked_[host] = n;
}

OverlayNode* OverlayImpl::AddFoundLocked(OverlayNode* dir, std::string_view name, const ChildFound& found) {
  const bool linked = found.in_upper && S_ISREG(found.st.st_mode) && found.st.st_nlink > 1;
  if (linked) {  // another name of a file some node has: the name joins that node
    auto it = linked_.find({found.st.st_dev, found.st.st_ino});
    if (it != linked_.end()) {
      AddAliasLocked(it->second, dir, name);
      return it->second;
    }
  }
  OverlayNode* n = AddChildLocked(dir, name);
  if (linked) NoteLinkedLocked(n, {found.st.st_dev, found.st.st_ino});
  if (found.in_upper) {
    n->upper = true;
    n->type = found.st.st_mode & S_IFMT;
    n->opaque = found.opaque;
    n->ino = found.lower != 0 ? found.lower : InoForHost(found.st);
  } else {
    n->type = found.lower_attr.mode & S_IFMT;
    n->ino = found.lower;
  }
  n->lower = found.lower;
  return n;
}

struct stat OverlayImpl::FoundStat(const ChildFound& found, uint64_t ino) {
  if (!found.in_upper) return FromLower(found.lower_attr, ino);
  struct stat st = found.st;
  st.st_ino = ino;
  return st;
}

OverlayImpl::Where OverlayImpl::WhereLocked(const OverlayNode* n) const {
  bool upper = n->upper;
  return Where{upper, upper ? Rel(n) : std::string(), n->lower};
}

Result<OverlayImpl::Where> OverlayImpl::LocateLocked(uint64_t id) {
  ASSIGN_OR_RETURN(OverlayNode * n, GetLocked(id));
  if (n->removed) return Status::Posix(ENOENT, "removed");
  return WhereLocked(n);
}

// The lock may be shared, but must be held: an upper path holds only while no
// rename or removal can run.
Result<struct stat> OverlayImpl::StatLocked(const OverlayNode* n) {
  if (n->upper) {
    struct stat st;
    if (::fstatat(upper_fd_.get(), Rel(n).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Errno("stat");
    st.st_ino = n->ino;
    // A merged directory's subdirectories are not all in the upper one: its
    // link count is unknown, and 1 says so to tree walkers (as overlayfs does).
    if (S_ISDIR(st.st_mode) && n->lower != 0 && !n->opaque) st.st_nlink = 1;
    return st;
  }
  ASSIGN_OR_RETURN(NodeAttr a, lower_->GetAttr(n->lower));
  return FromLower(a, n->ino);
}

// An unlinked file that is still open: nlink 0 (overlayfs shows 0 for an upper
// file, and the lower file's own count for a lower one, which still has its name below).
Result<struct stat> OverlayImpl::RemovedStatLocked(const OverlayNode* n) {
  if (!n->orphan.empty()) {
    struct stat st;
    if (::fstatat(work_fd_.get(), n->orphan.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Errno("stat");
    st.st_ino = n->ino;
    st.st_nlink -= 1;  // the orphan's own link
    return st;
  }
  if (n->upper || n->lower == 0) return Status::Posix(ENOENT, "removed");
  ASSIGN_OR_RETURN(NodeAttr a, lower_->GetAttr(n->lower));
  struct stat st = FromLower(a, n->ino);
  st.st_nlink = 0;
  return st;
}

Result<NodeEntry> OverlayImpl::Lookup(uint64_t parent, std::string_view name) {
  ChildQuery query;
  uint64_t generation;
  {
    ReaderLock lock(mu_);  // a known child needs no change to the table
    ASSIGN_OR_RETURN(OverlayNode * dir, DirLocked(parent));
    if (auto it = dir->children.find(name); it != dir->children.end()) {
      OverlayNode* n = it->second;
      ASSIGN_OR_RETURN(struct stat st, StatLocked(n));
      ++n->lookups;
      return NodeEntry{n->id, st};
    }
    if (name.size() > 255) return Status::Posix(ENAMETOOLONG, "name too long");
    query = QueryLocked(dir, name);
    generation = generation_;
  }
  // Looked for on disk without the lock: a slow disk holds up no other request.
  Result<ChildFound> found = FindChild(query);
  if (!found.ok()) {
    // Not there (or the path failed): true unless a change came in between,
    // such as a rename of an ancestor (the kernel keeps a negative entry).
    ReaderLock lock(mu_);
    if (generation == generation_) return found.status();
  }
  // A create in this directory runs its host calls under its stripe before it
  // counts as a change: waiting for the stripe means seeing its count.
  DirGuard guard(dir_stripes_, parent);
  WriterLock lock(mu_);
  ASSIGN_OR_RETURN(OverlayNode * dir, DirLocked(parent));
  OverlayNode* n;
  struct stat st;
  if (auto it = dir->children.find(name); it != dir->children.end()) {  // another lookup added it
    n = it->second;
    ASSIGN_OR_RETURN(st, StatLocked(n));
  } else if (found.ok() && generation == generation_) {  // nothing changed meanwhile: what was found holds
    n = AddFoundLocked(dir, name, *found);
    st = FoundStat(*found, n->ino);
  } else {  // the namespace changed meanwhile: look again, under the lock
    ASSIGN_OR_RETURN(n, ChildLocked(dir, name));
    ASSIGN_OR_RETURN(st, StatLocked(n));
  }
  ++n->lookups;
  return NodeEntry{n->id, st};
}

void OverlayImpl::Forget(uint64_t id, uint64_t count) {
  WriterLock lock(mu_);
  auto it = nodes_.find(id);
  if (it == nodes_.end() || id == kRootNode) return;
  OverlayNode* n = it->second.get();
  n->lookups -= std::min<uint64_t>(n->lookups, count);
  // Live nodes stay (their st_ino must not change); removed ones go once
  // nothing refers to them.
  MaybeFreeLocked(n);
}

Result<struct stat> OverlayImpl::GetAttr(uint64_t id) {
  ReaderLock lock(mu_);
  ASSIGN_OR_RETURN(OverlayNode * n, GetLocked(id));
  if (n->removed) return RemovedStatLocked(n);
  return StatLocked(n);
}

Result<std::string> OverlayImpl::ReadLink(uint64_t id) {
  ReaderLock lock(mu_);  // keeps the path until the host calls are made
  ASSIGN_OR_RETURN(const Where w, LocateLocked(id));
  if (!w.upper) return lower_->ReadLink(w.lower);
  char buf[4096];
  ssize_t len = ::readlinkat(upper_fd_.get(), w.rel.c_str(), buf, sizeof buf);
  if (len < 0) return Errno("readlink");
  return std::string(buf, static_cast<size_t>(len));
}

Result<OverlayImpl::UpperScan> OverlayImpl::ScanUpper(const std::string& rel) const {
  UpperScan scan;
  UniqueFd dir(::openat(upper_fd_.get(), rel.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return Errno("opendir");
  ASSIGN_OR_RETURN(auto names, ListDir(dir.get()));
  for (auto& name : names) {
    if (name.starts_with(upper::kWhiteoutPrefix)) {
      if (name != upper::kOpaqueMarker) scan.hidden.push_back(name.substr(upper::kWhiteoutPrefix.size()));
      continue;
    }
    struct stat st;
    if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (upper::IsWhiteout(st)) {
      scan.hidden.push_back(std::move(name));
      continue;
    }
    scan.items.push_back({std::move(name), st});
  }
  return scan;
}

Result<std::vector<OverlayFs::Child>> OverlayImpl::MergeLocked(OverlayNode* dir, const UpperScan& scan) {
  std::map<std::string, Child> out;
  std::set<std::string_view> hidden(scan.hidden.begin(), scan.hidden.end());
  for (const auto& [name, st] : scan.items) {
    auto known = dir->children.find(name);
    uint64_t ino = known != dir->children.end() ? known->second->ino : 0;
    if (ino == 0) {  // what a lookup would give it (FindChild)
      NodeId below = 0;
      if (S_ISDIR(st.st_mode) && !upper::IsOpaque(Abs(ChildRel(dir, name)))) {
        auto origin = RedirectOrigin(Abs(ChildRel(dir, name)), dir->lower, dir->opaque);
        below = origin ? *origin : LowerHasLocked(dir, name) ? *lower_->Lookup(dir->lower, name) : 0;
      }
      ino = below != 0 ? below : InoForHost(st);
    }
    out.emplace(name, Child{name, ino, st.st_mode & S_IFMT, 0});
  }
  if (dir->lower != 0 && !dir->opaque) {
    ASSIGN_OR_RETURN(auto children, lower_->Children(dir->lower));
    for (const DirEntry& c : *children) {
      if (hidden.count(c.name) || out.count(c.name)) continue;
      ASSIGN_OR_RETURN(NodeAttr a, lower_->GetAttr(c.node));
      out.emplace(c.name, Child{c.name, c.node, a.mode & S_IFMT, 0});
    }
  }
  std::vector<Child> result;
  result.reserve(out.size());
  for (auto& [name, child] : out) {
    child.cookie = CookieOf(name);
    result.push_back(std::move(child));
  }
  std::sort(result.begin(), result.end(), [](const Child& a, const Child& b) {
    return a.cookie < b.cookie || (a.cookie == b.cookie && a.name < b.name);
  });
  // Two names with one hash (about never): the later one takes the next free number.
  for (size_t i = 1; i < result.size(); ++i) {
    if (result[i].cookie <= result[i - 1].cookie) result[i].cookie = result[i - 1].cookie + 1;
  }
  return result;
}

Result<std::vector<OverlayFs::Child>> OverlayImpl::MergedChildrenLocked(OverlayNode* dir) {
  UpperScan scan;
  if (dir->upper) {
    ASSIGN_OR_RETURN(scan, ScanUpper(Rel(dir)));
  }
  return MergeLocked(dir, scan);
}

Result<OverlayFs::Listing> OverlayImpl::ReadDir(uint64_t id) {
  std::string rel;
  bool upper;
  uint64_t generation;
  {
    ReaderLock lock(mu_);
    ASSIGN_OR_RETURN(OverlayNode * dir, DirLocked(id));
    if (dir->listing) return dir->listing;
    upper = dir->upper;
    rel = Rel(dir);
    generation = generation_;
  }
  Result<UpperScan> scan = UpperScan{};  // the disk is read without the lock
  if (upper) scan = ScanUpper(rel);
  DirGuard guard(dir_stripes_, id);  // a create in progress here finishes first (see Lookup)
  WriterLock lock(mu_);
  ASSIGN_OR_RETURN(OverlayNode * dir, DirLocked(id));
  if (dir->listing) return dir->listing;
  // Any change meanwhile (an entry here, or a rename of an ancestor): read again.
  if (generation != generation_ || dir->upper != upper) {
    scan = UpperScan{};
    if (dir->upper) scan = ScanUpper(Rel(dir));
  }
  if (!scan.ok()) return scan.status();
  ASSIGN_OR_RETURN(auto children, MergeLocked(dir, *scan));
  dir->listing = std::make_shared<const std::vector<Child>>(std::move(children));
  return dir->listing;
}

Result<int> OverlayImpl::OpenUpperFd(OverlayNode* n, int flags) {
  ReaderLock lock(mu_);
  if (n->removed) return Status::Posix(ENOENT, "removed");
  int fd = ::openat(upper_fd_.get(), Rel(n).c_str(), (flags & ~(O_CREAT | O_EXCL | O_NOCTTY)) | O_CLOEXEC);
  if (fd < 0) return Errno("open");
  return fd;
}

Result<std::unique_ptr<OpenFile>> OverlayImpl::OpenNode(uint64_t id, int flags) {
  OverlayNode* n;
  {
    ReaderLock lock(mu_);
    ASSIGN_OR_RETURN(n, GetLocked(id));
    if (n->removed) return Status::Posix(ENOENT, "removed");
  }
  bool write = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
  if (write) {
    RETURN_IF_ERROR(RequireWritable());
    RETURN_IF_ERROR(CopyUp(n, /*with_data=*/!(flags & O_TRUNC)));
  }
  if (n->upper) {
    ASSIGN_OR_RETURN(int fd, OpenUpperFd(n, flags));
    return std::unique_ptr<OpenFile>(new UpperOpenFile(fd));
  }
  ASSIGN_OR_RETURN(std::string path, lower_->ContentPath(n->lower));  // the lower tree never changes
  int fd = -1;
  if (!path.empty() && (fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC)) < 0) return Errno("open");
  return std::unique_ptr<OpenFile>(new LowerOpenFile(this, n, fd));
}

Result<OverlayNode*> OverlayImpl::RegularFileLocked(uint64_t id) {
  ASSIGN_OR_RETURN(OverlayNode * n, GetLocked(id));
  if (n->type == S_IFDIR) return Status::Posix(EISDIR, "is a directory");
  if (n->type != S_IFREG) return Status::Posix(EINVAL, "not a regular file");
  return n;
}

bool OverlayImpl::HasUpperDataLocked(const OverlayNode* n) {
  return !n->orphan.empty() || (n->upper && !n->removed);
}

Result<std::shared_ptr<const DataFd>> OverlayImpl::OpenData(uint64_t id, bool write) {
  if (write) {
    RETURN_IF_ERROR(RequireWritable());
    OverlayNode* n;
    {
      ReaderLock lock(mu_);
      ASSIGN_OR_RETURN(n, RegularFileLocked(id));
    }
    RETURN_IF_ERROR(CopyUp(n));  // without the lock
  }
  NodeId lower;
  {
    ReaderLock lock(mu_);
    ASSIGN_OR_RETURN(OverlayNode * n, RegularFileLocked(id));
    const bool above = n->upper || !n->orphan.empty();
    if (auto kept = fd_cache_.Find(id, above, write)) return kept;
    if (HasUpperDataLocked(n)) {
      HostPath where = UpperPathLocked(n);
      int fd = ::openat(where.dirfd, where.rel.c_str(), (write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
      if (fd < 0) return Errno("open");
      auto data = std::make_shared<const DataFd>(fd);
      fd_cache_.Put(id, true, write, data);
      return data;
    }
    if (n->upper || n->lower == 0) return Status::Posix(ENOENT, "removed");
    lower = n->lower;
  }
  ASSIGN_OR_RETURN(std::string path, lower_->ContentPath(lower));
  int fd = -1;
  if (!path.empty() && (fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC)) < 0) return Errno("open");
  auto data = std::make_shared<const DataFd>(fd);
  fd_cache_.Put(id, false, false, data);
  return data;
}

Status OverlayImpl::Fsync(uint64_t id, bool datasync) {
  if (!options_.fsync) return Status::OK();
  UniqueFd fd;
  {
    ReaderLock lock(mu_);
    ASSIGN_OR_RETURN(OverlayNode * n, GetLocked(id));
    if (!HasUpperDataLocked(n)) return Status::OK();  // nothing of it above yet
    HostPath where = UpperPathLocked(n);
    fd = UniqueFd(::openat(where.dirfd, where.rel.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  }
  if (!fd.valid()) return errno == ELOOP ? Status::OK() : Errno("fsync");
  if ((datasync ? ::fdatasync(fd.get()) : ::fsync(fd.get())) != 0) return Errno("fsync");
  return Status::OK();
}

Status OverlayImpl::FsyncDir(uint64_t id) {
  if (!writable_ || !options_.fsync) return Status::OK();
  UniqueFd fd;
  {
    ReaderLock lock(mu_);
    ASSIGN_OR_RETURN(OverlayNode * n, DirLocked(id));
    if (!n->upper) return Status::OK();  // nothing of it in the upper directory yet
    fd = UniqueFd(::openat(upper_fd_.get(), Rel(n).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  if (!fd.valid()) return Errno("fsyncdir");
  if (::fsync(fd.get()) != 0) return Errno("fsyncdir");
  return Status::OK();
}

Result<std::string> OverlayImpl::GetXattr(uint64_t id, const std::string& name) {
  if (upper::IsPrivateXattr(name)) return Status::Posix(ENODATA, "no such attribute");
  ReaderLock lock(mu_);  // keeps the path until the host calls are made
  ASSIGN_OR_RETURN(const Where w, LocateLocked(id));
  if (!w.upper) {
    ASSIGN_OR_RETURN(auto xattrs, lower_->Xattrs(w.lower));
    for (const auto& x : *xattrs) {
      if (x.name == name) return x.value;
    }
    return Status::Posix(ENODATA, "no such attribute");
  }
  std::string path = Abs(w.rel);
  std::string value(256, '\0');
  for (;;) {
    ssize_t len = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (len >= 0) {
      value.resize(static_cast<size_t>(len));
      return value;
    }
    if (errno != ERANGE) return Errno("getxattr");
    ssize_t need = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (need < 0) return Errno("getxattr");
    value.resize(static_cast<size_t>(need));
  }
}

Result<std::vector<std::string>> OverlayImpl::ListXattr(uint64_t id) {
  ReaderLock lock(mu_);  // keeps the path until the host calls are made
  ASSIGN_OR_RETURN(const Where w, LocateLocked(id));
  std::vector<std::string> names;
  if (!w.upper) {
    ASSIGN_OR_RETURN(auto xattrs, lower_->Xattrs(w.lower));
    for (const auto& x : *xattrs) names.push_back(x.name);
    return names;
  }
  std::string path = Abs(w.rel);
  ssize_t len = ::llistxattr(path.c_str(), nullptr, 0);
  if (len < 0) return Errno("listxattr");
  std::string buf(static_cast<size_t>(len), '\0');
  len = ::llistxattr(path.c_str(), buf.data(), buf.size());
  if (len < 0) return Errno("listxattr");
  for (size_t i = 0; i < static_cast<size_t>(len);) {
    std::string name(buf.data() + i);
    i += name.size() + 1;
    if (!upper::IsPrivateXattr(name)) names.push_back(std::move(name));
  }
  return names;
}

Result<struct statvfs> OverlayImpl::StatFs() {
  struct statvfs st {};
  const std::string& path = writable_ ? options_.upper_dir : std::string("/");
  if (::statvfs(path.c_str(), &st) != 0) return Errno("statfs");
  st.f_namemax = 255;
  return st;
}

}  // namespace strata
