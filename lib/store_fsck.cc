// strata fsck: every blob, layer index and image config checked against its
// digest; files nothing names found; with --repair, both removed, together
// with what depends on broken content.

#include <map>
#include <set>

#include "container_json.h"
#include "file_util.h"
#include "status_macros.h"
#include "store_impl.h"
#include "store_lock.h"

namespace strata {

namespace {

std::vector<std::string> Names(const std::string& dir) {
  auto names = ListDir(dir);
  if (!names.ok()) return {};
  std::erase(*names, "lost+found");
  return std::move(names).value();
}

}  // namespace

Result<FsckReport> Store::Fsck(bool repair) {
  ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(impl_->root));
  Catalog& catalog = *impl_->catalog;
  FsckReport report;
  std::set<std::string> bad_layers, bad_images;

  // Blobs, each against its digest.
  ASSIGN_OR_RETURN(auto blob_users, catalog.BlobUsers());
  std::set<std::string> known_blobs;
  for (auto it = blob_users.begin(); it != blob_users.end(); it = blob_users.upper_bound(it->first)) {
    known_blobs.insert(it->first);
    ++report.blobs;
    auto digest = Digest::FromHex(it->first);
    Status st = digest ? impl_->blobs->Verify(*digest) : Status::Corruption("bad digest");
    if (st.ok()) continue;
    report.problems.push_back("blob " + it->first + ": " + st.message());
    auto [first, last] = blob_users.equal_range(it->first);
    for (auto u = first; u != last; ++u) bad_layers.insert(u->second);
  }
  // Layer indexes; a layer on a broken parent is broken too.
  ASSIGN_OR_RETURN(auto layers, catalog.Layers());
  std::set<std::string> known_layers;
  for (const auto& l : layers) known_layers.insert(l.id);
  for (const auto& l : layers) {
    ++report.layers;
    if (auto index = impl_->LoadIndex(l); !index.ok()) {
      report.problems.push_back("layer " + l.id + ": " + index.status().message());
      bad_layers.insert(l.id);
    }
    if (auto source = GetLayerSource(l.id); !source.ok()) {
      report.problems.push_back("layer " + l.id + ": " + source.status().message());
      bad_layers.insert(l.id);
    }
    if (!l.parent.empty() && !known_layers.count(l.parent)) {
      report.problems.push_back("layer " + l.id + ": its parent " + l.parent + " is missing");
      bad_layers.insert(l.id);
    }
  }
  for (bool grew = true; grew;) {  // children of broken layers
    grew = false;
    for (const auto& l : layers) {
      if (!bad_layers.count(l.id) && bad_layers.count(l.parent)) grew = bad_layers.insert(l.id).second;
    }
  }
  // Image configs, and images on broken layers.
  ASSIGN_OR_RETURN(auto images, catalog.Images());
  std::set<std::string> known_images;
  for (const auto& row : images) {
    ++report.images;
    known_images.insert(row.id);
    if (auto image = impl_->LoadImage(row.id); !image.ok()) {
      report.problems.push_back("image " + row.id + ": " + image.status().message());
      bad_images.insert(row.id);
    }
    for (const auto& l : row.layers) {
      if (bad_layers.count(l) || !known_layers.count(l)) {
        report.problems.push_back("image " + row.id + ": layer " + l + " is broken or missing");
        bad_images.insert(row.id);
        break;
      }
    }
  }
  ASSIGN_OR_RETURN(auto records, catalog.ContainerRecords());
  std::set<std::string> known_containers;
  for (const auto& r : records) {
    ++report.containers;
    auto c = DecodeContainer(r);
    if (!c.ok()) {
      report.problems.push_back("a container record: " + c.status().message());
      continue;
    }
    known_containers.insert(c->id);
    if (!PathExists(ContainerDir(c->id) + "/upper"))
      report.problems.push_back("container " + c->name + ": its writable layer is missing");
    if (bad_images.count(c->image_id))
      report.problems.push_back("container " + c->name + ": its image " + c->image_id + " is broken");
  }

  // Files nothing names: crash leftovers.
  std::vector<std::string> garbage;
  for (const auto& sub : Names(impl_->root + "/blobs")) {
    for (const auto& name : Names(impl_->root + "/blobs/" + sub)) {
      if (!known_blobs.count(name)) garbage.push_back("blobs/" + sub + "/" + name);
    }
  }
  for (const auto& name : Names(impl_->root + "/layers")) {
    if (!known_layers.count(name)) garbage.push_back("layers/" + name);
  }
  for (const auto& name : Names(impl_->root + "/images")) {
    if (!known_images.count(name)) garbage.push_back("images/" + name);
  }
  for (const auto& name : Names(impl_->root + "/containers")) {
    if (!known_containers.count(name)) garbage.push_back("containers/" + name);
  }
  for (const auto& g : garbage) report.problems.push_back(g + ": not in the catalog");
  if (!repair) return report;

  // Repair: images first (a container keeps its image: reported, not removed),
  // then broken layers child first, then blobs no layer needs, then garbage.
  Catalog::Transaction txn(catalog);
  RETURN_IF_ERROR(txn.status());
  std::vector<std::string> removed_images;
  for (const auto& id : bad_images) {
    ASSIGN_OR_RETURN(std::string user, catalog.ContainerUsingImage(id));
    if (!user.empty()) continue;
    RETURN_IF_ERROR(catalog.DeleteImage(id));
    removed_images.push_back(id);
    report.repaired.push_back("removed image " + id);
  }
  Impl::Garbage dropped;
  for (bool progress = true; progress;) {
    progress = false;
    for (const auto& id : bad_layers) {
      if (std::find(dropped.layers.begin(), dropped.layers.end(), id) != dropped.layers.end()) continue;
      ASSIGN_OR_RETURN(std::string user, catalog.LayerUser(id));
      if (!user.empty() && user != "the build cache") continue;
      RETURN_IF_ERROR(catalog.DeleteCacheEntriesFor(id));
      ASSIGN_OR_RETURN(auto blobs, catalog.DeleteLayer(id));
      dropped.blobs.insert(dropped.blobs.end(), blobs.begin(), blobs.end());
      dropped.layers.push_back(id);
      report.repaired.push_back("removed layer " + id);
      progress = true;
    }
  }
  RETURN_IF_ERROR(txn.Commit());
  for (const auto& id : removed_images) (void)RemoveAll(impl_->ImageDir(id));
  impl_->RemoveGarbage(dropped);
  for (const auto& g : garbage) {
    (void)RemoveAll(impl_->root + "/" + g);
    report.repaired.push_back("removed " + g);
  }
  return report;
}

}  // namespace strata
