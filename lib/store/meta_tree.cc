// Store::MetaTree: a layer chain's merged tree as kernel overlayfs's metadata
// layer over the store's blobs/ (a data-only lower layer, Linux 6.5+,
// `lowerdir=META::DATA`), as composefs lays one out. Each regular file with
// data is a sparse file of its size carrying trusted.overlay.metacopy and a
// trusted.overlay.redirect naming its blob ("/q83vEjRW..."): overlayfs shows
// the file's metadata from here and reads its bytes from the blob, so every
// image naming a blob shares one file and one page cache. docs/FORMAT.md
// (`meta/`) has the layout.
//
// A tree may have a data-only layer of its own: hardlinks of just its blobs,
// under the same names (see OwnDataDirPays).
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "format/layer_merge.h"
#include "store/blob_store.h"
#include "store/store_impl.h"
#include "util/file_lock.h"
#include "util/file_util.h"
#include "util/parallel.h"
#include "util/status_macros.h"

namespace strata {

namespace {

Status Failed(const char* what, const std::string& path) {
  return ErrnoStatus(what, path.empty() ? std::string("/") : path);
}

// An image's own trusted.overlay.* attribute would steer overlayfs: it is
// stored escaped (overlayfs 6.7+ shows trusted.overlay.overlay.X as
// trusted.overlay.X). Imports refuse them already; this keeps the tree safe
// whatever an index says.
std::string StoredXattrName(const std::string& name) {
  static const std::string kOverlay = "trusted.overlay.";
  return name.starts_with(kOverlay) ? kOverlay + "overlay." + name.substr(kOverlay.size()) : name;
}

class MetaWriter {
 public:
  MetaWriter(std::string root, int root_fd, std::string blobs_dir, const Store& store)
      : root_(std::move(root)),
        root_fd_(root_fd),
        blobs_dir_(std::move(blobs_dir)),
        store_(store),
        umask_(ProcessUmask()),
        uid_(::geteuid()),
        gid_(::getegid()) {}

  // Directories first, in order; then every other entry, made in order and
  // finished on all cores (the kernel's work per file is most of the time);
  // then the further names of hardlinked files; then directories' special
  // bits and times, deepest first (making their entries changed their times).
  Status Write(const MergedTree& tree, const std::vector<LayerIndex>& layers) {
    struct Item {
      std::string path;
      const Entry* entry;  // its metadata (a hardlink's: its data entry's)
    };
    std::vector<Item> files;
    std::vector<std::pair<std::string, std::string>> links;            // (path, the file's first name)
    std::map<std::pair<size_t, std::string>, std::string> first_name;  // (layer, data path) -> path
    for (const auto& [key, ref] : tree.entries()) {
      std::string path(key);
      const Entry* e = ref.entry;
      if (e->type == EntryType::kDirectory) {
        RETURN_IF_ERROR(Other(path, *e));
        continue;
      }
      if (e->type != EntryType::kRegular && e->type != EntryType::kHardlink) {
        files.push_back({std::move(path), e});
        continue;
      }
      std::pair<size_t, std::string> data_key{ref.layer,
                                              e->type == EntryType::kHardlink ? e->link_target : e->path};
      const Entry* data = e->type == EntryType::kHardlink ? layers[ref.layer].Find(e->link_target) : e;
      if (!data) return Status::Corruption("hardlink " + path + " names no entry");
      // Names of one file in one layer are one inode here too.
      auto [first, inserted] = first_name.try_emplace(std::move(data_key), path);
      if (inserted) {
        if (data->size > 0 && blob_seen_.insert(data->content).second) blobs_.push_back(data->content);
        files.push_back({std::move(path), data});
      } else {
        links.emplace_back(std::move(path), first->second);
      }
    }
    // Files are created in path order, a chunk at a time and each chunk after
    // the one before it: two threads creating at once interleave their inodes
    // in the inode table, and a cold walk of a directory then reads twice the
    // inode-table blocks (79 MiB against 36 for `ls -lR` of 100,000 files).
    // The rest of each file's metadata is set once its chunk is made, while
    // another thread makes the next one.
    std::mutex failed_mu;
    Status failed;
    constexpr size_t kChunk = 64;     // files held open per thread
    std::atomic<size_t> created = 0;  // chunks made so far
    ParallelFor((files.size() + kChunk - 1) / kChunk, [&](size_t chunk) {
      const size_t begin = chunk * kChunk;
      const size_t end = std::min(files.size(), begin + kChunk);
      for (size_t done; (done = created.load()) != chunk;) created.wait(done);
      std::vector<UniqueFd> fds(end - begin);
      Status st;
      for (size_t i = begin; i < end && st.ok(); ++i) {
        const Item& f = files[i];
        st = f.entry->type == EntryType::kRegular ? Create(f.path, *f.entry, &fds[i - begin])
                                                  : Other(f.path, *f.entry);
      }
      created.store(chunk + 1);  // even after a failure: the chunks after it must not wait forever
      created.notify_all();
      for (size_t i = begin; i < end && st.ok(); ++i) {
        if (fds[i - begin].valid()) st = Finish(files[i].path, *files[i].entry, fds[i - begin].get());
      }
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(failed_mu);
        if (failed.ok()) failed = st;
      }
    });
    RETURN_IF_ERROR(failed);
    for (const auto& [path, target] : links) {
      if (::linkat(root_fd_, target.c_str(), root_fd_, path.c_str(), 0) != 0) return Failed("link", path);
    }
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
      const Entry& e = *it->second;
      if ((e.mode & 07000) && ::fchmodat(root_fd_, At(it->first), e.mode & 07777, 0) != 0)
        return Failed("chmod", it->first);
      struct timespec times[2] = {{e.mtime_sec, e.mtime_nsec}, {e.mtime_sec, e.mtime_nsec}};
      if (::utimensat(root_fd_, At(it->first), times, 0) != 0) return Failed("set times of", it->first);
    }
    return Status::OK();
  }

  // The distinct blobs the tree's files redirect to, in path order.
  const std::vector<Digest>& blobs() const { return blobs_; }

 private:
  static const char* At(const std::string& path) { return path.empty() ? "." : path.c_str(); }
  // Made by this process with the mode asked for: the owner is ours, the
  // umask's bits are missing, and set-id and sticky bits need a chmod.
  bool NeedsChown(const Entry& e) const { return e.uid != uid_ || e.gid != gid_; }
  bool NeedsChmod(const Entry& e) const {
    return NeedsChown(e) || (e.mode & 07000) || (e.mode & 0777 & umask_);
  }

  Status Create(const std::string& path, const Entry& e, UniqueFd* fd) {
    *fd = UniqueFd(::openat(root_fd_, path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, e.mode & 0777));
    return fd->valid() ? Status::OK() : Failed("create", path);
  }

  // A created regular file's size, overlay xattrs, owner, mode, xattrs and times.
  Status Finish(const std::string& path, const Entry& e, int fd) {
    if (e.size > 0) {
      const std::string blob = store_.BlobPath(e.content);
      if (!blob.starts_with(blobs_dir_ + "/"))
        return Status::Corruption("blob path outside the store: " + blob);
      const std::string redirect = blob.substr(blobs_dir_.size());
      if (::ftruncate(fd, static_cast<off_t>(e.size)) != 0 ||
          ::fsetxattr(fd, "trusted.overlay.metacopy", "", 0, 0) != 0 ||
          ::fsetxattr(fd, "trusted.overlay.redirect", redirect.data(), redirect.size(), 0) != 0) {
        return Failed("write metadata of", path);
      }
    }
    // Owner first: chown clears the set-id bits. Most files need neither call.
    if (NeedsChown(e) && ::fchown(fd, e.uid, e.gid) != 0) return Failed("chown", path);
    if (NeedsChmod(e) && ::fchmod(fd, e.mode & 07777) != 0) return Failed("chmod", path);
    for (const Xattr& x : e.xattrs) {
      if (::fsetxattr(fd, StoredXattrName(x.name).c_str(), x.value.data(), x.value.size(), 0) != 0)
        return Failed(("set xattr " + x.name + " on").c_str(), path);
    }
    struct timespec times[2] = {{e.mtime_sec, e.mtime_nsec}, {e.mtime_sec, e.mtime_nsec}};
    if (::futimens(fd, times) != 0) return Failed("set times of", path);
    return Status::OK();
  }

  Status Other(const std::string& path, const Entry& e) {
    switch (e.type) {
      case EntryType::kDirectory:
        if (!path.empty() && ::mkdirat(root_fd_, path.c_str(), e.mode & 0777) != 0)
          return Failed("mkdir", path);
        dirs_.emplace_back(path, &e);
        break;
      case EntryType::kSymlink:
        if (::symlinkat(e.link_target.c_str(), root_fd_, path.c_str()) != 0) return Failed("symlink", path);
        break;
      case EntryType::kCharDevice:
      case EntryType::kBlockDevice:
      case EntryType::kFifo:
      case EntryType::kSocket: {
        const mode_t type = e.type == EntryType::kCharDevice    ? S_IFCHR
                            : e.type == EntryType::kBlockDevice ? S_IFBLK
                            : e.type == EntryType::kFifo        ? S_IFIFO
                                                                : S_IFSOCK;
        if (::mknodat(root_fd_, path.c_str(), type | (e.mode & 0777), makedev(e.dev_major, e.dev_minor)) != 0)
          return Failed("mknod", path);
        break;
      }
      default: return Status::Corruption("unexpected entry " + path + " in a merged tree");
    }
    if ((NeedsChown(e) || path.empty()) &&
        ::fchownat(root_fd_, At(path), e.uid, e.gid, AT_SYMLINK_NOFOLLOW) != 0)
      return Failed("chown", path);
    // A directory's set-id and sticky bits come last: a setgid directory
    // would give what is made in it its group.
    const bool later = e.type == EntryType::kDirectory && (e.mode & 07000);
    if (e.type != EntryType::kSymlink && !later && (NeedsChmod(e) || path.empty()) &&
        ::fchmodat(root_fd_, At(path), e.mode & 07777, 0) != 0)
      return Failed("chmod", path);
    for (const Xattr& x : e.xattrs) {
      const std::string abs = path.empty() ? root_ : root_ + "/" + path;
      if (::lsetxattr(abs.c_str(), StoredXattrName(x.name).c_str(), x.value.data(), x.value.size(), 0) != 0)
        return Failed(("set xattr " + x.name + " on").c_str(), path);
    }
    if (e.type == EntryType::kDirectory) return Status::OK();  // its times once its entries are made
    struct timespec times[2] = {{e.mtime_sec, e.mtime_nsec}, {e.mtime_sec, e.mtime_nsec}};
    if (::utimensat(root_fd_, At(path), times, AT_SYMLINK_NOFOLLOW) != 0) return Failed("set times of", path);
    return Status::OK();
  }

  const std::string root_;
  const int root_fd_;
  const std::string blobs_dir_;
  const Store& store_;
  const mode_t umask_;
  const uid_t uid_;
  const gid_t gid_;
  std::vector<std::pair<std::string, const Entry*>> dirs_;
  std::vector<Digest> blobs_;
  std::unordered_set<Digest> blob_seen_;
};

// Whether a tree's own data-only layer pays for its links. A cold read of a
// metacopy file looks its blob up by name, and in blobs/ the names of one
// image's blobs are hashed across every block of a directory that holds all
// the store's: the Debian tree beside 105,000 other blobs read 1,265 more
// directory blocks in a cold `tar -c` (17%) than the same files in plain
// layers, and none more over a directory of its own. The links cost ~15 us
// each, once: worth it when blobs/ is many times the size the tree's own
// directory would be (st_blocks: on tmpfs nothing is read cold, so never).
bool OwnDataDirPays(const std::string& blobs_dir, size_t blobs) {
  constexpr uint64_t kEntryBytes = 32;  // an ext4 entry of a 22-character name
  constexpr uint64_t kRatio = 8;
  struct stat st;
  if (::stat(blobs_dir.c_str(), &st) != 0) return false;
  const uint64_t shared_bytes = static_cast<uint64_t>(st.st_blocks) * 512;
  const uint64_t own_bytes = std::max<uint64_t>(4096, blobs * kEntryBytes);
  return blobs > 0 && shared_bytes > kRatio * own_bytes;
}

// `dir` gets a hardlink of each blob, under its name in blobs/.
Status LinkBlobs(const std::string& blobs_dir, const std::vector<Digest>& blobs, const std::string& dir) {
  UniqueFd from(::open(blobs_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  UniqueFd to(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!from.valid() || !to.valid()) return ErrnoStatus("open", from.valid() ? dir : blobs_dir);
  for (const Digest& d : blobs) {
    const std::string name = BlobFileName(d);
    if (::linkat(from.get(), name.c_str(), to.get(), name.c_str(), 0) != 0) {
      return errno == ENOENT ? Status::Corruption("blob " + d.Hex() + " is missing")
                             : ErrnoStatus("link", blobs_dir + "/" + name);
    }
  }
  return Status::OK();
}

// Trees and their data directories are named by their top layer; no layer at all is "empty".
std::string TreeName(const std::string& top_layer) {
  return top_layer.empty() ? "empty" : top_layer;
}

}  // namespace

std::string Store::MetaTreePath(const std::string& top_layer) const {
  return impl_->MetaDir(TreeName(top_layer));
}

std::string Store::MetaTreeDataDir(const std::string& top_layer) const {
  const std::string own = impl_->MetaDataDir(TreeName(top_layer));
  return ::access(own.c_str(), F_OK) == 0 ? own : BlobDir();
}

Result<std::string> Store::MetaTree(const std::string& top_layer) {
  const std::string final_dir = MetaTreePath(top_layer);
  struct stat st;
  if (::stat(final_dir.c_str(), &st) == 0) return final_dir;  // made once, never changed
  ASSIGN_OR_RETURN(FileLock lock, AcquireStoreLock(impl_->root));
  if (::stat(final_dir.c_str(), &st) == 0) return final_dir;  // another made it meanwhile
  ASSIGN_OR_RETURN(std::vector<LayerIndex> layers, ReadLayerChainIndexes(top_layer));
  MergedTree tree;
  for (size_t i = 0; i < layers.size(); ++i) tree.Apply(i, layers[i]);
  Entry root;
  root.type = EntryType::kDirectory;
  root.mode = 0755;
  if (tree.entries().find("") == tree.entries().end()) tree.entries().emplace("", MergedTree::Ref{0, &root});

  const std::string meta_dir = impl_->root + "/meta";
  RETURN_IF_ERROR(MakeDirs(meta_dir));
  const std::string tmp = meta_dir + "/.tmp-" + RandomHex(8);
  if (::mkdir(tmp.c_str(), 0700) != 0) return ErrnoStatus("mkdir", tmp);
  Undo undo;
  undo.Add(tmp);
  const std::string blobs_dir = BlobDir();
  std::string data_tmp;  // the tree's own data-only layer, if it pays
  {
    UniqueFd root_fd(::open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root_fd.valid()) return ErrnoStatus("open", tmp);
    MetaWriter writer(tmp, root_fd.get(), blobs_dir, *this);
    const std::string what = "the metadata tree of layer " + top_layer.substr(0, 12);
    RETURN_IF_ERROR(writer.Write(tree, layers).WithContext(what));
    if (OwnDataDirPays(blobs_dir, writer.blobs().size())) {
      data_tmp = meta_dir + "/.tmp-" + RandomHex(8) + ".data";  // fsck: links, frees nothing
      if (::mkdir(data_tmp.c_str(), 0700) != 0) return ErrnoStatus("mkdir", data_tmp);
      undo.Add(data_tmp);
      RETURN_IF_ERROR(LinkBlobs(blobs_dir, writer.blobs(), data_tmp).WithContext(what));
    }
    if (::syncfs(root_fd.get()) != 0) return ErrnoStatus("syncfs", tmp);
  }
  // The data directory first: a tree that exists has the one it was made with.
  const std::string final_data = impl_->MetaDataDir(TreeName(top_layer));
  (void)RemoveAll(final_data);  // left by a crash between the two renames
  if (!data_tmp.empty() && ::rename(data_tmp.c_str(), final_data.c_str()) != 0)
    return ErrnoStatus("rename", final_data);
  if (::rename(tmp.c_str(), final_dir.c_str()) != 0) return ErrnoStatus("rename", final_dir);
  undo.Dismiss();
  RETURN_IF_ERROR(FsyncDir(meta_dir));
  return final_dir;
}

}  // namespace strata
