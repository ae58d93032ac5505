// The store's side of a build: committing a step's layer with its cache
// entry, looking the cache up, making the final image, and pruning the cache.
#include <ctime>

#include "format/reference.h"
#include "store/store_impl.h"
#include "util/file_lock.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace strata {

Status Store::Impl::InsertImageRow(const Image& image, const std::string& tag) {
  ASSIGN_OR_RETURN(auto known_image, catalog->FindImage(image.id));
  if (!known_image) RETURN_IF_ERROR(catalog->InsertImage({image.id, image.created, image.layers}));
  if (!tag.empty()) RETURN_IF_ERROR(catalog->SetTag(tag, image.id));
  return Status::OK();
}

Result<std::optional<LayerInfo>> Store::FindCachedLayer(const std::string& parent_layer,
                                                        const std::string& cache_key) {
  ASSIGN_OR_RETURN(auto id, impl_->catalog->FindCacheEntry(parent_layer, cache_key));
  if (!id) return std::optional<LayerInfo>();
  return impl_->catalog->FindLayer(*id);
}

Result<Image> Store::CreateImage(Image image, const std::string& ref) {
  std::string tag;
  if (!ref.empty()) {
    ASSIGN_OR_RETURN(tag, NormalizeReference(ref));
  }
  ASSIGN_OR_RETURN(FileLock lock, AcquireStoreLock(impl_->root));
  std::string parent;
  for (const std::string& id : image.layers) {
    ASSIGN_OR_RETURN(auto layer, impl_->catalog->FindLayer(id));
    if (!layer) return Status::NotFound("no such layer: " + id);
    if (layer->parent != parent)
      return Status::InvalidArgument("layer " + id + " is not on top of the one before");
    parent = id;
  }
  if (image.created == 0) image.created = std::time(nullptr);
  Undo undo;
  bool created = false;
  ASSIGN_OR_RETURN(image, impl_->WriteImageConfig(std::move(image), &created));
  if (created) undo.Add(impl_->ImageDir(image.id));
  Catalog::Transaction txn(*impl_->catalog);
  RETURN_IF_ERROR(txn.status());
  RETURN_IF_ERROR(impl_->InsertImageRow(image, tag));
  RETURN_IF_ERROR(txn.Commit());
  undo.Dismiss();
  return impl_->LoadImage(image.id);
}

Result<std::vector<std::string>> Store::ListBuildCache() {
  return impl_->catalog->CacheLayers();
}

Result<std::vector<std::string>> Store::Impl::RemoveLayersIfUnused(const CandidatesFn& candidates) {
  ASSIGN_OR_RETURN(FileLock lock, AcquireStoreLock(root));
  Catalog::Transaction txn(*catalog);
  RETURN_IF_ERROR(txn.status());
  ASSIGN_OR_RETURN(std::vector<std::string> ids, candidates());
  ASSIGN_OR_RETURN(Garbage garbage, CollectLayers(std::move(ids)));
  RETURN_IF_ERROR(txn.Commit());
  RemoveGarbage(garbage);
  return garbage.layers;
}

Result<std::vector<std::string>> Store::PruneBuildCache() {
  return impl_->RemoveLayersIfUnused([&] { return impl_->catalog->DeleteCacheEntries(); });
}

Result<std::vector<LayerInfo>> Store::UnusedLayers() {
  ASSIGN_OR_RETURN(auto layers, impl_->catalog->Layers());
  std::vector<LayerInfo> out;
  for (auto& l : layers) {
    ASSIGN_OR_RETURN(Catalog::LayerUser user, impl_->catalog->FindLayerUser(l.id));
    if (user.none()) out.push_back(std::move(l));
  }
  return out;
}

Result<std::vector<std::string>> Store::PruneUnusedLayers() {
  return impl_->RemoveLayersIfUnused([&]() -> Result<std::vector<std::string>> {
    ASSIGN_OR_RETURN(auto unused, UnusedLayers());
    std::vector<std::string> ids;
    for (const auto& l : unused) ids.push_back(l.id);
    return ids;
  });
}

Result<Store::Impl::Garbage> Store::Impl::CollectLayers(std::vector<std::string> candidates) {
  Garbage garbage;
  while (!candidates.empty()) {
    std::string id = std::move(candidates.back());
    candidates.pop_back();
    ASSIGN_OR_RETURN(auto layer, catalog->FindLayer(id));
    if (!layer) continue;  // already collected through another candidate
    ASSIGN_OR_RETURN(Catalog::LayerUser user, catalog->FindLayerUser(id));
    if (!user.none()) continue;
    ASSIGN_OR_RETURN(auto blobs, catalog->DeleteLayer(id));
    garbage.blobs.insert(garbage.blobs.end(), blobs.begin(), blobs.end());
    garbage.layers.push_back(id);
    if (!layer->parent.empty()) candidates.push_back(layer->parent);
  }
  return garbage;
}

void Store::Impl::RemoveGarbage(const Garbage& garbage) {
  for (const auto& layer : garbage.layers) {
    // Before the layer: a tree is never left naming gone blobs.
    (void)RemoveAll(MetaDir(layer));
    (void)RemoveAll(MetaDataDir(layer));
    (void)RemoveAll(LayerDir(layer));
  }
  for (const auto& d : garbage.blobs) (void)blobs->Remove(d);
}

}  // namespace strata
