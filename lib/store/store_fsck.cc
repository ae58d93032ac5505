// strata fsck: every blob, layer index and image config checked against its
// digest; files nothing names found; with --repair, both removed, together
// with what depends on broken content.

#include <map>
#include <set>

#include <algorithm>
#include "store/store_impl.h"
#include "util/file_lock.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace strata {

namespace {

std::vector<std::string> Names(const std::string& dir) {
  auto names = ListDir(dir);
  if (!names.ok()) return {};
  std::erase(*names, "lost+found");
  return std::move(names).value();
}

}  // namespace

// What a check found, for the repair to act on.
struct FsckFindings {
  std::set<std::string> bad_layers, bad_images;
  std::vector<std::string> unused_layers;  // nothing uses them
  std::vector<std::string> garbage;        // paths under the root that nothing names
};

// Blobs, each against its digest; the layers that use a bad one are bad.
Status Store::Impl::FsckBlobs(FsckReport& report, FsckFindings& found, std::set<std::string>& known) {
  Impl& impl = *this;
  ASSIGN_OR_RETURN(auto blob_users, impl.catalog->BlobUsers());
  for (auto it = blob_users.begin(); it != blob_users.end(); it = blob_users.upper_bound(it->first)) {
    known.insert(it->first);
    ++report.blobs;
    auto digest = Digest::FromHex(it->first);
    Status st = digest ? impl.blobs->Verify(*digest) : Status::Corruption("bad digest");
    if (st.ok()) continue;
    report.problems.push_back("blob " + it->first + ": " + st.message());
    auto [first, last] = blob_users.equal_range(it->first);
    for (auto u = first; u != last; ++u) found.bad_layers.insert(u->second);
  }
  return Status::OK();
}

// Layer indexes and sources; a layer on a broken or missing parent is broken too.
Status Store::Impl::FsckLayers(Store& store, FsckReport& report, FsckFindings& found,
                               std::set<std::string>& known) {
  Impl& impl = *this;
  ASSIGN_OR_RETURN(auto layers, impl.catalog->Layers());
  for (const auto& l : layers) known.insert(l.id);
  for (const auto& l : layers) {
    ++report.layers;
    if (auto index = impl.LoadIndex(l); !index.ok()) {
      report.problems.push_back("layer " + l.id + ": " + index.status().message());
      found.bad_layers.insert(l.id);
    }
    if (auto source = store.GetLayerSource(l.id); !source.ok()) {
      report.problems.push_back("layer " + l.id + ": " + source.status().message());
      found.bad_layers.insert(l.id);
    }
    if (!l.parent.empty() && !known.count(l.parent)) {
      report.problems.push_back("layer " + l.id + ": its parent " + l.parent + " is missing");
      found.bad_layers.insert(l.id);
    }
  }
  for (bool grew = true; grew;) {  // children of broken layers
    grew = false;
    for (const auto& l : layers) {
      if (!found.bad_layers.count(l.id) && found.bad_layers.count(l.parent))
        grew = found.bad_layers.insert(l.id).second;
    }
  }
  return Status::OK();
}

// Image configs, and images on broken or missing layers.
Status Store::Impl::FsckImages(const std::set<std::string>& known_layers, FsckReport& report,
                               FsckFindings& found, std::set<std::string>& known) {
  Impl& impl = *this;
  ASSIGN_OR_RETURN(auto images, impl.catalog->Images());
  for (const auto& row : images) {
    ++report.images;
    known.insert(row.id);
    if (auto image = impl.LoadImage(row.id); !image.ok()) {
      report.problems.push_back("image " + row.id + ": " + image.status().message());
      found.bad_images.insert(row.id);
    }
    for (const auto& l : row.layers) {
      if (found.bad_layers.count(l) || !known_layers.count(l)) {
        report.problems.push_back("image " + row.id + ": layer " + l + " is broken or missing");
        found.bad_images.insert(row.id);
        break;
      }
    }
  }
  return Status::OK();
}

Status Store::Impl::FsckCheck(Store& store, FsckReport& report, FsckFindings& found) {
  std::set<std::string> known_blobs, known_layers, known_images;  // verified along the way
  RETURN_IF_ERROR(FsckBlobs(report, found, known_blobs));
  RETURN_IF_ERROR(FsckLayers(store, report, found, known_layers));
  RETURN_IF_ERROR(FsckImages(known_layers, report, found, known_images));
  ASSIGN_OR_RETURN(Store::Leftovers leftovers, FindLeftovers());
  found.garbage = std::move(leftovers.paths);
  for (const auto& g : found.garbage) report.problems.push_back(g + ": not in the catalog (left by a crash)");
  ASSIGN_OR_RETURN(auto unused, store.UnusedLayers());
  for (const auto& l : unused) {
    report.problems.push_back("layer " + l.id +
                              ": no image, layer or build cache uses it (left by an interrupted load?)");
    found.unused_layers.push_back(l.id);
  }
  return Status::OK();
}

// Images first (a held image is reported, not removed), then broken layers
// child first, then blobs no layer needs, then garbage.
Status Store::Impl::FsckRepair(const FsckFindings& found, FsckReport& report) {
  Catalog::Transaction txn(*catalog);
  RETURN_IF_ERROR(txn.status());
  std::vector<std::string> removed_images;
  for (const auto& id : found.bad_images) {
    ASSIGN_OR_RETURN(auto holds, catalog->Holds(id));
    if (!holds.empty()) continue;
    RETURN_IF_ERROR(catalog->DeleteImage(id));
    removed_images.push_back(id);
    report.repaired.push_back("removed image " + id);
  }
  Garbage dropped;
  for (bool progress = true; progress;) {
    progress = false;
    for (const auto& id : found.bad_layers) {
      if (std::find(dropped.layers.begin(), dropped.layers.end(), id) != dropped.layers.end()) continue;
      ASSIGN_OR_RETURN(Catalog::LayerUser user, catalog->FindLayerUser(id));
      using Kind = Catalog::LayerUser::Kind;
      if (user.kind != Kind::kNone && user.kind != Kind::kBuildCache) continue;
      RETURN_IF_ERROR(catalog->DeleteCacheEntriesFor(id));
      ASSIGN_OR_RETURN(auto blobs, catalog->DeleteLayer(id));
      dropped.blobs.insert(dropped.blobs.end(), blobs.begin(), blobs.end());
      dropped.layers.push_back(id);
      report.repaired.push_back("removed layer " + id);
      progress = true;
    }
  }
  ASSIGN_OR_RETURN(Garbage unused, CollectLayers(found.unused_layers));
  for (const auto& id : unused.layers) report.repaired.push_back("removed unused layer " + id);
  dropped.layers.insert(dropped.layers.end(), unused.layers.begin(), unused.layers.end());
  dropped.blobs.insert(dropped.blobs.end(), unused.blobs.begin(), unused.blobs.end());
  RETURN_IF_ERROR(txn.Commit());
  for (const auto& id : removed_images) (void)RemoveAll(ImageDir(id));
  RemoveGarbage(dropped);
  for (const auto& g : found.garbage) {
    (void)RemoveAll(root + "/" + g);
    report.repaired.push_back("removed " + g);
  }
  return Status::OK();
}

// Crash leftovers: files nothing in the catalog names.
Result<Store::Leftovers> Store::Impl::FindLeftovers() {
  std::set<std::string> blob_names, layer_ids, image_ids;
  ASSIGN_OR_RETURN(auto blob_users, catalog->BlobUsers());
  for (const auto& [hex, user] : blob_users) {
    if (auto d = Digest::FromHex(hex)) blob_names.insert(BlobFileName(*d));
  }
  ASSIGN_OR_RETURN(auto layers, catalog->Layers());
  for (const auto& l : layers) layer_ids.insert(l.id);
  ASSIGN_OR_RETURN(auto images, catalog->Images());
  for (const auto& i : images) image_ids.insert(i.id);
  Store::Leftovers out;
  auto add = [&](const std::string& rel, bool frees_bytes = true) {
    out.paths.push_back(rel);
    if (frees_bytes) out.bytes += TreeBytes(root + "/" + rel);
  };
  for (const auto& name : Names(root + "/blobs")) {
    if (!blob_names.count(name)) add("blobs/" + name);
  }
  for (const auto& name : Names(root + "/tmp")) {  // a blob batch's temporaries
    if (name.starts_with(".tmp-")) add("tmp/" + name);
  }
  for (const auto& name : Names(root + "/layers")) {
    if (!layer_ids.count(name)) add("layers/" + name);
  }
  for (const auto& name : Names(root + "/images")) {
    if (!image_ids.count(name)) add("images/" + name);
  }
  // Metadata trees of layers gone, or being written by a writer that died.
  for (const auto& name : Names(root + "/meta")) {
    const bool data = name.ends_with(".data");  // hardlinks of blobs: removing one frees nothing
    const std::string tree = data ? name.substr(0, name.size() - 5) : name;
    if (!layer_ids.count(tree) && tree != "empty") add("meta/" + name, !data);
  }
  // Blobs a pull was cut off in the middle of (kept for the next pull to resume).
  for (const auto& name : Names(root + "/partial")) add("partial/" + name);
  return out;
}

Result<Store::Leftovers> Store::FindLeftovers() {
  ASSIGN_OR_RETURN(FileLock lock, AcquireStoreLock(impl_->root));
  return impl_->FindLeftovers();
}

Result<Store::Leftovers> Store::RemoveLeftovers() {
  ASSIGN_OR_RETURN(FileLock lock, AcquireStoreLock(impl_->root));
  ASSIGN_OR_RETURN(Leftovers found, impl_->FindLeftovers());
  for (const auto& path : found.paths) RETURN_IF_ERROR(RemoveAll(impl_->root + "/" + path));
  return found;
}

Result<FsckReport> Store::Fsck(const FsckOptions& options) {
  ASSIGN_OR_RETURN(FileLock lock, AcquireStoreLock(impl_->root));
  FsckReport report;
  FsckFindings found;
  RETURN_IF_ERROR(impl_->FsckCheck(*this, report, found));
  if (options.repair) RETURN_IF_ERROR(impl_->FsckRepair(found, report));
  return report;
}

}  // namespace strata
