// Snapshots with containerd's semantics over the store: what the
// strata-snapshotter daemon serves to containerd as a proxy snapshotter.
//
// A committed snapshot is a strata layer (its files deduplicated into the
// store's blobs like every other layer's), held while the snapshot lives.
// An active snapshot is a writable upper directory over its parent's layers;
// a view is the same, read-only. Mounts are what containerd performs itself:
// a kernel overlay mount of the parent chain's metadata tree over the blob
// directory (the kernel path) with the snapshot's upper; without the kernel
// path, a bind mount of the snapshot's own strata-fuse mount (made when the
// snapshot is, or when its mounts are asked for after a restart, and
// unmounted before a commit or a removal); a bind mount of the snapshot's
// directory for a snapshot with no parent.
//
//   auto snapshots = strata::Snapshotter::Open(*store);
//   auto mounts = (*snapshots)->Prepare("extract-1", "", {});
//   ... apply a layer tar into the mount ...
//   (*snapshots)->Commit("sha256:...", "extract-1", {});
//
// Thread safety: one thread at a time (a server serializes its calls). One
// process at a time may open a store's snapshots.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "strata/status.h"
#include "strata/store.h"
#include "strata/union_mount.h"

namespace strata {

enum class SnapshotKind { kView, kActive, kCommitted };
const char* SnapshotKindName(SnapshotKind kind);  // "view", "active", "committed"

struct SnapshotInfo {
  std::string name;    // the key (active, view) or the name it was committed as
  std::string parent;  // a committed snapshot's name, or ""
  SnapshotKind kind = SnapshotKind::kActive;
  int64_t created_ns = 0, updated_ns = 0;  // since the epoch
  std::map<std::string, std::string> labels;
};

// A mount as containerd's mount.Mount has it (performed by containerd, or
// by the `mount` command: type, source, options).
struct SnapshotMount {
  std::string type;  // "overlay" or "bind"
  std::string source;
  std::vector<std::string> options;
};

struct SnapshotUsage {
  int64_t size = 0;    // bytes on disk
  int64_t inodes = 0;  // files, directories and links
};

struct SnapshotterOptions {
  // Which mounts containerd is given: kAuto is the kernel path where
  // KernelDriverUsable() says so, FUSE otherwise.
  MountDriver driver = MountDriver::kAuto;
};

class Snapshotter {
 public:
  // The snapshots of `store` (under <root>/snapshots); refused with kInUse
  // while another process has them open.
  static Result<std::unique_ptr<Snapshotter>> Open(Store& store, const SnapshotterOptions& options = {});
  MountDriver driver() const;  // kKernel or kFuse, as chosen at Open
  ~Snapshotter();
  Snapshotter(const Snapshotter&) = delete;
  Snapshotter& operator=(const Snapshotter&) = delete;

  // A new active snapshot `key` on `parent` ("" or a committed snapshot).
  // kAlreadyExists when `key` exists, or when the label
  // containerd.io/snapshot.ref names a committed snapshot that exists (the
  // layer need not be unpacked again).
  Result<std::vector<SnapshotMount>> Prepare(const std::string& key, const std::string& parent,
                                             const std::map<std::string, std::string>& labels);
  // A new read-only view `key` of `parent`.
  Result<std::vector<SnapshotMount>> View(const std::string& key, const std::string& parent,
                                          const std::map<std::string, std::string>& labels);
  // The mounts of an active snapshot or a view.
  Result<std::vector<SnapshotMount>> Mounts(const std::string& key);
  // Makes active snapshot `key` the committed snapshot `name` (a strata layer);
  // `key` is gone afterwards. A view cannot be committed.
  Status Commit(const std::string& name, const std::string& key,
                const std::map<std::string, std::string>& labels);
  // Refused (kInUse) while another snapshot has it as its parent.
  Status Remove(const std::string& key);
  Result<SnapshotInfo> Stat(const std::string& key);
  // Changes labels only: `fields` empty or "labels" replaces them all;
  // "labels.KEY" sets (or, absent from info, removes) one.
  Result<SnapshotInfo> Update(const SnapshotInfo& info, const std::vector<std::string>& fields);
  Result<SnapshotUsage> Usage(const std::string& key);
  // Every snapshot matching any of `filters` (containerd's filter syntax:
  // "kind==committed", "parent==x", "name!=y", `labels."a.b"==v`, "labels.k"
  // for presence; commas join conditions that must all hold). None: all.
  Result<std::vector<SnapshotInfo>> List(const std::vector<std::string>& filters);
  // Removes directories no snapshot owns (what a crash left).
  Status Cleanup();

 private:
  struct Impl;
  explicit Snapshotter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata
