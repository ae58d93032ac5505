// OverlayImpl: the OverlayFs behind the public interface. overlay_fs.cc holds
// the node table, lookups, attributes, directories and opens;
// overlay_mutate.cc holds copy-up and every change to the upper directory.
//
// Locking: one reader-writer lock guards the node table and the upper
// directory's namespace. A request that makes host calls on a node's upper
// path holds it shared across them, so no rename or removal can move the path
// meanwhile; lookups of known entries, attributes, xattrs, opens, attribute
// changes and the start of a copy-up all share it. Changes to a directory's
// entries are made one at a time per directory, as the kernel makes them (a
// striped lock, DirGuard, always taken before the table lock). Adding a name
// (create, mkdir, mknod, symlink, link) makes its host calls under the shared
// lock and takes it alone only to record the node; moving or removing one
// (rename, unlink, rmdir) takes it alone, since readers rely on their paths.
// A lookup of an unknown entry and a directory listing read the disk without
// it, and take it alone (after the directory's stripe) only to record what
// they found, which they trust only if no change came in between (see
// generation_). Nothing holds it while file data is copied up, read or written.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>
#include <vector>

#include "strata/overlay_fs.h"
#include "union/overlay_fd_cache.h"
#include "util/file_util.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace strata {

// The per-directory locks: 64 stripes, a directory's chosen by its node id.
// To the thread-safety analysis they are one capability, taken before the
// table lock (OverlayImpl::mu_).
class CAPABILITY("directory stripes") DirStripes {
 public:
  static constexpr size_t kStripes = 64;
  // Takes the stripes of one or two directories (a rename's), in one order.
  void Lock(uint64_t a, uint64_t b) ACQUIRE() NO_THREAD_SAFETY_ANALYSIS {
    size_t i = a % kStripes, j = b % kStripes;
    if (i > j) std::swap(i, j);
    stripes_[i].lock();
    if (j != i) stripes_[j].lock();
  }
  void Unlock(uint64_t a, uint64_t b) RELEASE() NO_THREAD_SAFETY_ANALYSIS {
    size_t i = a % kStripes, j = b % kStripes;
    if (j != i) stripes_[std::max(i, j)].unlock();
    stripes_[std::min(i, j)].unlock();
  }

 private:
  std::array<std::mutex, kStripes> stripes_;
};

// Holds the stripes of one or two directories for its scope.
class SCOPED_CAPABILITY DirGuard {
 public:
  DirGuard(DirStripes& stripes, uint64_t dir) ACQUIRE(stripes) : DirGuard(stripes, dir, dir) {}
  DirGuard(DirStripes& stripes, uint64_t a, uint64_t b) ACQUIRE(stripes) : stripes_(stripes), a_(a), b_(b) {
    stripes_.Lock(a, b);
  }
  ~DirGuard() RELEASE() { stripes_.Unlock(a_, b_); }
  DirGuard(const DirGuard&) = delete;
  DirGuard& operator=(const DirGuard&) = delete;

 private:
  DirStripes& stripes_;
  uint64_t a_, b_;
};

struct OverlayNode {
  uint64_t id = 0;  // FUSE node id
  OverlayNode* parent = nullptr;
  std::string name;
  // The other names of an upper file linked through this union: one node (and
  // so one kernel inode, one page cache) for all of them. Each counts as a
  // kid of its directory.
  std::vector<std::pair<OverlayNode*, std::string>> aliases;
  // Its upper file, when it has more than one link (a key of OverlayImpl::linked_).
  std::optional<std::pair<dev_t, ino_t>> linked;
  uint64_t ino = 0;                 // st_ino: stable for the life of the mount, across copy-up
  NodeId lower = 0;                 // the lower entry at this path, 0 when none shows
  std::atomic<bool> upper = false;  // present in the upper directory
  bool opaque = false;              // an upper directory hiding what is below it
  bool removed = false;
  uint32_t type = 0;  // S_IFMT bits
  std::atomic<uint64_t> lookups = 0;
  uint64_t kids = 0;  // live nodes whose `parent` is this one: it must outlive them
  std::map<std::string, OverlayNode*, std::less<>> children;  // looked-up children only
  // A removed file the kernel still refers to (it may be open): its data,
  // linked into the work directory under this name until the node goes.
  std::string orphan;
  // A directory's merged listing, kept until the directory changes.
  OverlayFs::Listing listing;
  // What creating an entry in this (upper) directory needs to know of it,
  // read once and kept until its attributes or xattrs change through us:
  // kDirInfoKnown | [kDirInfoDefaultAcl] | [kDirInfoSetgid] | gid (low 32 bits); 0 unknown.
  std::atomic<uint64_t> create_info = 0;
};
inline constexpr uint64_t kDirInfoKnown = uint64_t{1} << 63;
inline constexpr uint64_t kDirInfoDefaultAcl = uint64_t{1} << 62;
inline constexpr uint64_t kDirInfoSetgid = uint64_t{1} << 61;

// An open upper file: the descriptor is the file.
class UpperOpenFile final : public OpenFile {
 public:
  explicit UpperOpenFile(int fd) : fd_(fd) {}
  int CurrentFd() override { return fd_.get(); }
  bool from_lower() const override { return false; }

 private:
  UniqueFd fd_;
};

class OverlayImpl final : public OverlayFs {
 public:
  OverlayImpl(std::unique_ptr<UnionView> lower, OverlayOptions options, UniqueFd upper_fd, UniqueFd work_fd);
  ~OverlayImpl() override;

  Result<NodeEntry> Lookup(uint64_t parent, std::string_view name) override;
  void Forget(uint64_t node, uint64_t count) override;
  Result<struct stat> GetAttr(uint64_t node) override;
  Result<struct stat> SetAttr(uint64_t node, const AttrChange& change, int fd) override;
  Result<std::string> ReadLink(uint64_t node) override;
  Result<NodeEntry> Mknod(uint64_t parent, std::string_view name, uint32_t mode, dev_t rdev,
                          const Caller& caller) override;
  Result<NodeEntry> Mkdir(uint64_t parent, std::string_view name, uint32_t mode,
                          const Caller& caller) override;
  Result<NodeEntry> Symlink(uint64_t parent, std::string_view name, std::string_view target,
                            const Caller& caller) override;
  Result<NodeEntry> Link(uint64_t node, uint64_t new_parent, std::string_view new_name) override;
  Status Unlink(uint64_t parent, std::string_view name) override;
  Status Rmdir(uint64_t parent, std::string_view name) override;
  Status Rename(uint64_t parent, std::string_view name, uint64_t new_parent, std::string_view new_name,
                unsigned flags) override;
  Result<std::unique_ptr<OpenFile>> OpenNode(uint64_t node, int flags) override;
  Result<std::shared_ptr<const DataFd>> OpenData(uint64_t node, bool write) override;
  Result<std::pair<NodeEntry, std::unique_ptr<OpenFile>>> Create(uint64_t parent, std::string_view name,
                                                                 uint32_t mode, int flags,
                                                                 const Caller& caller) override;
  Result<NodeEntry> CreateUnnamed(uint64_t parent, uint32_t mode, const Caller& caller) override;
  Status Fsync(uint64_t node, bool datasync) override;
  Status FsyncDir(uint64_t node) override;
  Result<Listing> ReadDir(uint64_t node) override;
  Result<std::string> GetXattr(uint64_t node, const std::string& name) override;
  Result<std::vector<std::string>> ListXattr(uint64_t node) override;
  Status SetXattr(uint64_t node, const std::string& name, std::string_view value, int flags) override;
  Status RemoveXattr(uint64_t node, const std::string& name) override;
  Result<struct statvfs> StatFs() override;

  // For OpenFile: opens the upper copy of a node (after a copy-up).
  Result<int> OpenUpperFd(OverlayNode* n, int flags);

 private:
  // --- overlay_fs.cc (all *Locked take mu_ held) ---
  Result<OverlayNode*> GetLocked(uint64_t id) REQUIRES_SHARED(mu_);
  Result<OverlayNode*> DirLocked(uint64_t id) REQUIRES_SHARED(mu_);
  std::string Rel(const OverlayNode* n) const;  // "." for the root
  std::string ChildRel(const OverlayNode* dir, std::string_view name) const;
  std::string Abs(const std::string& rel) const { return options_.upper_dir + "/" + rel; }
  // The child at `name`, from the cache or from the upper directory and the
  // lower tree; kNotFound when nothing shows there.
  Result<OverlayNode*> ChildLocked(OverlayNode* dir, std::string_view name) REQUIRES(mu_);
  // ChildLocked in three steps, so that the host calls can run without the
  // lock: what to look for (under it), looking (without), adding the node.
  struct ChildQuery {
    bool dir_upper = false;
    std::string rel;  // the child's path in the upper directory
    NodeId dir_lower = 0;
    bool dir_opaque = false;
    std::string name;
  };
  struct ChildFound {
    bool in_upper = false;
    struct stat st {};      // when in_upper
    NodeId lower = 0;       // the lower entry that shows (merged, for a directory)
    NodeAttr lower_attr{};  // when lower (read once: the lookup's reply needs it too)
    bool opaque = false;
  };
  ChildQuery QueryLocked(const OverlayNode* dir, std::string_view name) const REQUIRES_SHARED(mu_);
  Result<ChildFound> FindChild(const ChildQuery& query) const;  // ENOENT when nothing shows
  // The lower directory an upper directory at `abs` (an absolute host path)
  // was moved from, when it has a redirect: 0 when its origin is gone;
  // nullopt when it has none.
  std::optional<NodeId> RedirectOrigin(const std::string& abs, NodeId dir_lower, bool dir_opaque) const;
  OverlayNode* AddFoundLocked(OverlayNode* dir, std::string_view name, const ChildFound& found) REQUIRES(mu_);
  static struct stat FoundStat(const ChildFound& found, uint64_t ino);
  // True when a lower entry exists at dir/name behind whatever hides it.
  bool LowerHasLocked(const OverlayNode* dir, std::string_view name) const REQUIRES_SHARED(mu_);
  OverlayNode* AddChildLocked(OverlayNode* dir, std::string_view name) REQUIRES(mu_);
  void DetachLocked(OverlayNode* n) REQUIRES(mu_);
  // Moves n under a new parent, keeping both parents' `kids` counts right.
  void ReparentLocked(OverlayNode* n, OverlayNode* new_parent) REQUIRES(mu_);
  // The table side of renaming and removing one name of n (its own or an alias):
  // dir/name becomes new_dir/new_name; or dir/name goes, and n with its last name.
  void MoveNameLocked(OverlayNode* n, OverlayNode* dir, std::string_view name, OverlayNode* new_dir,
                      std::string_view new_name) REQUIRES(mu_);
  void RemoveNameLocked(OverlayNode* n, OverlayNode* dir, std::string_view name) REQUIRES(mu_);
  // Names n as dir/name too (an alias), counted as a kid of dir.
  void AddAliasLocked(OverlayNode* n, OverlayNode* dir, std::string_view name) REQUIRES(mu_);
  // Records n as the node of upper file `host` (one with several links).
  void NoteLinkedLocked(OverlayNode* n, std::pair<dev_t, ino_t> host) REQUIRES(mu_);
  // Frees n, and then any ancestor left removed, forgotten and childless.
  void MaybeFreeLocked(OverlayNode* n) REQUIRES(mu_);
  // Records a change to a directory's entries: its cached listing goes.
  void ChangedLocked(OverlayNode* dir) REQUIRES(mu_);
  // Before a regular file at rel leaves the tree: when the kernel still
  // refers to it, link its data into the work directory (see `orphan`).
  Status KeepIfReferencedLocked(OverlayNode* n, const std::string& rel) REQUIRES(mu_);
  Result<struct stat> StatLocked(const OverlayNode* n) REQUIRES_SHARED(mu_);
  // Where a node lives.
  struct Where {
    bool upper = false;
    std::string rel;  // in the upper directory, when `upper`
    NodeId lower = 0;
  };
  Where WhereLocked(const OverlayNode* n) const REQUIRES_SHARED(mu_);
  // A node's place; the caller keeps the lock while it makes its host calls
  // there. ENOENT for a removed node.
  Result<Where> LocateLocked(uint64_t id) REQUIRES_SHARED(mu_);
  Result<struct stat> RemovedStatLocked(const OverlayNode* n) REQUIRES_SHARED(mu_);
  Result<OverlayNode*> RegularFileLocked(uint64_t id) REQUIRES_SHARED(mu_);  // EISDIR, EINVAL for other types
  // The node's data is its own above: an upper file in the tree, or an orphan.
  static bool HasUpperDataLocked(const OverlayNode* n);
  // The directory and name holding an upper (or orphaned) node's data.
  struct HostPath {
    int dirfd;
    std::string rel;
  };
  HostPath UpperPathLocked(const OverlayNode* n) const REQUIRES_SHARED(mu_);
  std::string AbsPathLocked(const OverlayNode* n) const
      REQUIRES_SHARED(mu_);  // the same, as a path (for xattr calls)
  uint64_t InoForHost(const struct stat& st) REQUIRES(mu_);
  // A directory's upper entries, read without the lock.
  struct UpperScan {
    struct Item {
      std::string name;
      struct stat st;
    };
    std::vector<Item> items;
    std::vector<std::string> hidden;  // names whited out
  };
  Result<UpperScan> ScanUpper(const std::string& rel) const;
  Result<std::vector<Child>> MergeLocked(OverlayNode* dir, const UpperScan& scan) REQUIRES(mu_);
  Result<std::vector<Child>> MergedChildrenLocked(OverlayNode* dir) REQUIRES(mu_);
  Status RequireWritable() const;

  // --- overlay_mutate.cc ---
  // Makes `n` exist in the upper directory (parents first). Directories and
  // empty copies are made under the lock; file data is copied without it.
  Status CopyUp(OverlayNode* n, bool with_data = true);
  // The preamble of every change to an existing node: refuses a read-only
  // union, finds the node and copies it up. Takes the lock itself.
  Result<OverlayNode*> CopiedUp(uint64_t id, bool with_data = true);
  // SetAttr's changes, on a node already copied up.
  Status ApplyAttrChange(OverlayNode* n, const AttrChange& change, int fd);
  Status CopyUpDirsLocked(OverlayNode* dir) REQUIRES_SHARED(mu_);
  // Owner, mode, xattrs and times of lower entry `lower`, onto dirfd/rel (`abs` for xattrs).
  Status CopyMetadata(int dirfd, const std::string& rel, const std::string& abs, NodeId lower);
  // Checks that dir/name is free for a new entry (copying dir up); returns its upper path.
  Result<std::string> PrepareNewLocked(OverlayNode* dir, std::string_view name) REQUIRES_SHARED(mu_);
  // Replaces a non-directory (or nothing) at rel with a whiteout, atomically when possible.
  Status WhiteoutLocked(const std::string& rel) REQUIRES(mu_);
  // Makes a new entry dir/name, owned by `caller`: `make` is the host call
  // that creates it at its path in the upper directory. The host calls run
  // under the directory's stripe and the shared lock, so lookups, reads and
  // changes elsewhere go on; only recording the node takes the lock alone.
  // Where `make` is to make a new entry: dirfd/rel, or `abs` for path calls.
  struct Place {
    int dirfd;
    std::string rel;
    std::string abs;
  };
  // Puts a new entry at rel (an upper path). In place of a whiteout it is made
  // in the work directory and swapped with the whiteout in one rename, as
  // overlayfs does: no moment, even after a crash, shows the lower entry the
  // whiteout hides.
  Status PlaceNewLocked(const std::string& rel, const std::function<Status(const Place&)>& make)
      REQUIRES_SHARED(mu_);
  // A new entry of `type` (S_IFREG, S_IFDIR, ...) made by `make` with the
  // mode it is given, owned by the caller, with the mode asked for exactly
  // (the caller's umask off unless a default ACL of its directory decides;
  // never this process's umask; setuid and setgid kept through the chown),
  // group and setgid from a setgid parent as the kernel's inode_init_owner.
  // Symlinks have no mode to set.
  Result<NodeEntry> MakeNew(
      uint64_t parent, std::string_view name, const Caller& caller, uint32_t type, uint32_t mode,
      const std::function<Status(OverlayNode* dir, const Place& at, uint32_t mode)>& make);
  // Owner, group and exact mode of a new upper entry `at` (see MakeNew); with
  // `acl`, the mode the default ACL gave stays, setuid and setgid put back.
  // The upper directory's default-ACL and setgid facts (OverlayNode::create_info).
  uint64_t CreateInfo(OverlayNode* dir, const std::string& dir_rel) REQUIRES_SHARED(mu_);
  Status SetNewOwnerAndMode(const Place& at, const Caller& caller, uint32_t type, uint32_t mode,
                            uint64_t dir_info);
  Status ClearWhiteoutsLocked(const std::string& dir_rel) REQUIRES(mu_);
  // Rename's parts: what it refuses, and a move (not an exchange) on disk and in the table.
  Status CheckRenameLocked(OverlayNode* dir, OverlayNode* src, OverlayNode* ndir, OverlayNode* dst,
                           unsigned flags) REQUIRES(mu_);
  Status MoveLocked(OverlayNode* dir, std::string_view name, OverlayNode* src, OverlayNode* ndir,
                    std::string_view new_name, OverlayNode* dst) REQUIRES(mu_);
  // Before directory `n`, merged with a lower one, moves from `dir` to `ndir`:
  // copies it up and records where its lower contents are (redirect_dir), as
  // the kernel does: its old name when it stays in its directory, else the
  // absolute path of its origin; a redirect it has already is kept when it
  // still holds. EXDEV when the upper file system cannot keep the xattr.
  Status RedirectForMoveLocked(OverlayNode* n, OverlayNode* dir, OverlayNode* ndir) REQUIRES(mu_);
  // The path of a directory's lower contents ("a/b"), following the
  // redirects of it and its parents.
  std::string OriginLocked(const OverlayNode* n) const REQUIRES_SHARED(mu_);
  // A directory of the upper layer alone, moved onto a name a lower layer has.
  bool NeedsOpaqueForMoveLocked(const OverlayNode* n, const OverlayNode* ndir,
                                std::string_view new_name) const REQUIRES_SHARED(mu_);

  std::unique_ptr<UnionView> lower_;
  OverlayOptions options_;
  UniqueFd upper_fd_, work_fd_;
  // Lock order: a directory's stripes, then mu_, then dir_copy_up_mu_ or the
  // descriptor cache's own lock. OverlayNode's fields are guarded by mu_ too
  // (the analysis sees only the table's own members).
  DirStripes dir_stripes_ ACQUIRED_BEFORE(mu_);
  mutable SharedMutex mu_;
  std::unordered_map<uint64_t, std::unique_ptr<OverlayNode>> nodes_ GUARDED_BY(mu_);
  uint64_t next_id_ GUARDED_BY(mu_) = 2;
  // Bumped by every change to the namespace: an entry added,
  // removed or moved, a directory copied up. A lookup that looked on disk
  // without the lock trusts what it found only when this did not move.
  std::atomic<uint64_t> generation_ = 0;
  // Directory copy-ups may run under the shared lock (MakeNew): one at a time.
  Mutex dir_copy_up_mu_ ACQUIRED_AFTER(mu_);
  std::map<std::pair<dev_t, ino_t>, uint64_t> host_inos_ GUARDED_BY(mu_);
  // Live nodes of upper files with several links, by upper file: a lookup that
  // finds another name of one joins it (see OverlayNode::aliases).
  std::map<std::pair<dev_t, ino_t>, OverlayNode*> linked_ GUARDED_BY(mu_);
  uint64_t next_ino_ GUARDED_BY(mu_);
  std::atomic<uint64_t> copy_counter_ = 0;
  const mode_t process_umask_;
  const uid_t euid_;       // who owns what the daemon makes, before any chown
  const gid_t egid_;       // what mkdirat/openat take off: put back with fchmod when it matters
  FdCache fd_cache_{256};  // lock order: mu_ before the cache's own

  friend class LowerOpenFile;
};

}  // namespace strata
