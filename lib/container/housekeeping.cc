#include "strata/housekeeping.h"

#include <sys/stat.h>

#include <map>
#include <set>

#include "util/file_util.h"
#include "util/status_macros.h"

namespace strata {

Result<DiskUsage> ComputeDiskUsage(Containers& containers_of_store) {
  Store& store = containers_of_store.store();
  DiskUsage du;
  ASSIGN_OR_RETURN(auto layers, store.ListLayers());
  std::map<std::string, uint64_t> layer_size;
  for (const auto& l : layers) layer_size[l.id] = l.size;
  ASSIGN_OR_RETURN(auto containers, containers_of_store.List());
  std::set<std::string> used_images;
  for (const auto& c : containers) {
    used_images.insert(c.image_id);
    ++du.containers.count;
    uint64_t bytes = TreeBytes(containers_of_store.Paths(c.id).upper);
    du.containers.size += bytes;
    if (c.state == ContainerState::kRunning) {
      ++du.containers.active;
    } else {
      du.containers.reclaimable += bytes;
    }
  }
  ASSIGN_OR_RETURN(auto images, store.ListImages());
  std::set<std::string> image_layers, kept_layers;
  for (const auto& image : images) {
    ++du.images.count;
    bool used = used_images.count(image.id) > 0;
    if (used) ++du.images.active;
    for (const auto& l : image.layers) {
      du.logical_image_bytes += layer_size[l];
      image_layers.insert(l);
      if (used || !image.names.empty()) kept_layers.insert(l);
    }
  }
  for (const auto& l : image_layers) {
    du.images.size += layer_size[l];
    if (!kept_layers.count(l)) du.images.reclaimable += layer_size[l];
  }
  ASSIGN_OR_RETURN(auto cached, store.ListBuildCache());
  std::set<std::string> cache_only;
  for (const auto& id : cached) {
    // The cached layer and those below it that no image uses.
    auto chain = store.LayerChain(id);
    if (!chain.ok()) continue;
    for (const auto& l : *chain) {
      if (!image_layers.count(l)) cache_only.insert(l);
    }
  }
  du.build_cache.count = cached.size();
  for (const auto& l : cache_only) du.build_cache.size += layer_size[l];
  du.build_cache.reclaimable = du.build_cache.size;
  ASSIGN_OR_RETURN(auto unused, store.UnusedLayers());
  for (const auto& l : unused) {
    // The unused layer and those below it that nothing else keeps.
    auto chain = store.LayerChain(l.id);
    if (!chain.ok()) continue;
    ++du.unused_layers.count;
    for (const auto& id : *chain) {
      if (!image_layers.count(id) && !cache_only.count(id)) du.unused_layers.size += layer_size[id];
    }
  }
  du.unused_layers.reclaimable = du.unused_layers.size;
  ASSIGN_OR_RETURN(Store::Leftovers leftovers, store.FindLeftovers());
  du.leftovers.count = leftovers.paths.size();
  du.leftovers.size = du.leftovers.reclaimable = leftovers.bytes;
  ASSIGN_OR_RETURN(auto volumes, containers_of_store.volumes().List());
  for (const auto& v : volumes) {
    ++du.volumes.count;
    uint64_t bytes = TreeBytes(v.mountpoint);
    du.volumes.size += bytes;
    if (!v.users.empty()) {
      ++du.volumes.active;
    } else {
      du.volumes.reclaimable += bytes;
    }
  }
  du.stored_bytes = TreeBytes(store.root() + "/blobs");
  return du;
}

Result<PruneReport> SystemPrune(Containers& containers_of_store, const PruneOptions& options) {
  Store& store = containers_of_store.store();
  PruneReport report;
  ASSIGN_OR_RETURN(auto containers, containers_of_store.List());
  for (const auto& c : containers) {
    if (c.state == ContainerState::kRunning) continue;
    RETURN_IF_ERROR(containers_of_store.Remove(c.id, {}).status());
    report.containers.push_back(c.name);
  }
  ASSIGN_OR_RETURN(auto images, store.ListImages());
  for (const auto& image : images) {
    if (!image.names.empty()) continue;
    auto removed = store.RemoveImage(image.id);
    if (!removed.ok()) {
      if (removed.status().code() == Code::kInUse) continue;  // a container uses it
      return removed.status();
    }
    report.images.push_back(image.id);
    report.layers.insert(report.layers.end(), removed->deleted_layers.begin(), removed->deleted_layers.end());
  }
  ASSIGN_OR_RETURN(auto cache_layers, store.PruneBuildCache());
  report.layers.insert(report.layers.end(), cache_layers.begin(), cache_layers.end());
  ASSIGN_OR_RETURN(auto unused_layers, store.PruneUnusedLayers());  // left by an interrupted load
  report.layers.insert(report.layers.end(), unused_layers.begin(), unused_layers.end());
  ASSIGN_OR_RETURN(Store::Leftovers leftovers, store.RemoveLeftovers());
  report.leftovers = std::move(leftovers.paths);
  if (options.volumes) {
    ASSIGN_OR_RETURN(report.volumes, containers_of_store.volumes().Prune({.all = true}));
  }
  return report;
}

}  // namespace strata
