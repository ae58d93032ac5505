// Store::Impl: the parts of an open store, shared by store*.cc.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_set>

#include "format/hasher.h"
#include "store/blob_store.h"
#include "store/catalog.h"
#include "strata/store.h"

namespace strata {

// A layer read from its source, its blobs written to a batch not yet committed.
struct ParsedLayer {
  LayerIndex index;
  std::unordered_set<Digest> blobs;
  uint64_t content_bytes = 0;
};

// Deletes what a failed operation made, unless Dismiss()ed.
class Undo {
 public:
  ~Undo() {
    if (!dismissed_)
      for (auto it = paths_.rbegin(); it != paths_.rend(); ++it) (void)RemoveAll(*it);
  }
  void Add(std::string path) { paths_.push_back(std::move(path)); }
  void Dismiss() { dismissed_ = true; }

 private:
  std::vector<std::string> paths_;
  bool dismissed_ = false;
};

struct FsckFindings;

struct Store::Impl {
  std::string root;
  Secret secret{};
  std::unique_ptr<Catalog> catalog;
  std::unique_ptr<BlobStore> blobs;
  ProgressFn progress;  // Store::SetProgress's

  std::string LayerDir(const std::string& id) const { return root + "/layers/" + id; }
  std::string ImageDir(const std::string& id) const { return root + "/images/" + id; }
  std::string MetaDir(const std::string& id) const { return root + "/meta/" + id; }
  // A metadata tree's own data-only layer, when it has one (meta_tree.cc).
  std::string MetaDataDir(const std::string& id) const { return MetaDir(id) + ".data"; }
  std::string ChainId(const std::string& parent, const Digest& diff) const;

  Result<std::string> ResolveLayerId(const std::string& id_or_prefix);
  Result<std::string> ResolveImageId(const std::string& ref);
  Result<Image> LoadImage(const std::string& id);
  Result<LayerIndex> LoadIndex(const LayerInfo& layer);
  // The index's canonical bytes (its file mapped), verified against the layer's diff digest.
  Result<std::shared_ptr<const std::string_view>> LoadIndexBytes(const LayerInfo& layer);
  using ReadLayerFn = std::function<Result<ParsedLayer>(BlobBatch&, uint64_t free_bytes)>;
  // A layer read with `read` whose index and blobs are on disk but not yet in
  // the catalog (store_import.cc). The caller holds the lock.
  struct StagedLayer {
    LayerInfo info;
    bool existing = false;  // the store already had this layer
    std::vector<Digest> blobs;
  };
  Result<StagedLayer> StageLayer(const std::string& parent, const ReadLayerFn& read, Undo& undo);
  Status InsertStagedLayer(const StagedLayer& staged);                // inside a transaction
  Status InsertImageRow(const Image& image, const std::string& tag);  // inside a transaction; tag may be ""
  // Reads a layer with `read` and adds it on `parent` (no image), with a build
  // cache entry unless `cache_key` is "".
  Result<LayerInfo> AddLayer(const std::string& parent, const std::string& cache_key,
                             const ReadLayerFn& read);
  // Reads a layer with `read`, then makes it a layer and an image on top of
  // options.from, atomically.
  Result<Image> ImportLayer(const ImportOptions& options, const std::string& default_created_by,
                            const ReadLayerFn& read);
  // Layers dropped from the catalog whose files go once the transaction commits.
  struct Garbage {
    std::vector<std::string> layers;
    std::vector<Digest> blobs;
  };
  // Inside a transaction: drops `candidates` and then their parents from the
  // catalog, as long as nothing uses them (store_build.cc).
  Result<Garbage> CollectLayers(std::vector<std::string> candidates);
  // Under the lock and in one transaction: `candidates` (which may change the
  // catalog first) and then their parents, removed as long as nothing uses
  // them; returns the layers removed.
  using CandidatesFn = std::function<Result<std::vector<std::string>>()>;
  Result<std::vector<std::string>> RemoveLayersIfUnused(const CandidatesFn& candidates);
  void RemoveGarbage(const Garbage& garbage);  // after the commit
  // fsck (store_fsck.cc): the check, then (with --repair) acting on what it found.
  Status FsckCheck(Store& store, FsckReport& report, FsckFindings& found);
  Result<Store::Leftovers> FindLeftovers();  // with the store lock held
  Status FsckRepair(const FsckFindings& found, FsckReport& report);
  Status FsckBlobs(FsckReport& report, FsckFindings& found, std::set<std::string>& known);
  Status FsckLayers(Store& store, FsckReport& report, FsckFindings& found, std::set<std::string>& known);
  Status FsckImages(const std::set<std::string>& known_layers, FsckReport& report, FsckFindings& found,
                    std::set<std::string>& known);
  // Writes the image's config file and returns the image with its id set.
  Result<Image> WriteImageConfig(Image image, bool* created);
};

}  // namespace strata
