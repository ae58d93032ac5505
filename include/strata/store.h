// Store: the content-addressed layer store under one root directory.
//
//   auto store = strata::Store::Open("/var/lib/strata");
//   auto image = (*store)->ImportTar("rootfs.tar.gz", {.ref = "debian:12"});
//
// Every mutating call takes the store's lock, and either completes or leaves
// the store exactly as it was.
//
// Thread safety: one Store object is used by one thread at a time (it holds
// one SQLite connection). Several processes may open the same root at once:
// readers take no lock (files are immutable once named), writers take the
// lock file <root>/lock one at a time. Containers and volumes are components
// built on this API (strata/container.h, strata/volume.h).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "strata/entry.h"
#include "strata/image.h"
#include "strata/progress.h"
#include "strata/status.h"

namespace strata {

inline constexpr const char* kDefaultRoot = "/var/lib/strata";

enum class Compression { kNone, kGzip, kZstd };

struct ImportOptions {
  std::string from{};        // image whose layers go below the new one; "" for none
  std::string ref{};         // "name[:tag]" to tag the new image with; "" for none
  std::string created_by{};  // history text; defaults to "strata import"
};

// The archive blob a layer was loaded from (OCI), kept so that saving the
// layer again gives the same bytes and the same DiffID.
struct LayerSource {
  std::string path;        // the blob file under layers/<id>/
  std::string digest;      // sha256:<hex> of the blob
  std::string diff_id;     // sha256:<hex> of its uncompressed tar
  std::string media_type;  // as the manifest named it
};

struct FsckOptions {
  bool repair = false;  // remove what is broken and what nothing names, and say what
};

struct FsckReport {
  uint64_t blobs = 0, layers = 0, images = 0, containers = 0;  // checked
  std::vector<std::string> problems;                           // one line each
  std::vector<std::string> repaired;                           // what --repair removed, one line each
};

struct RemoveImageOptions {
  bool force = false;  // delete an image named by id even when it has several names
};

// Something outside the store that keeps an image (a container): RemoveImage
// and fsck's repair leave a held image alone.
struct ImageHold {
  std::string image_id;
  std::string holder;       // a unique key, "container:<id>"
  std::string description;  // for messages: "container busy_turing"
};

// Something outside the store that keeps a layer without an image (a
// snapshot containerd committed): removal and prune leave a held layer, and
// the layers below it, alone.
struct LayerHold {
  std::string layer_id;
  std::string holder;       // a unique key, "snapshot:<key>"
  std::string description;  // for messages: "containerd snapshot default/3/sha256:..."
};

struct RemoveImageReport {
  std::vector<std::string> untagged;
  std::string deleted_image;  // "" when only a tag was removed
  std::vector<std::string> deleted_layers;
};

class Store {
 public:
  // Opens (creating if needed) the store at `root`.
  static Result<std::unique_ptr<Store>> Open(const std::string& root);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& root() const;

  // Long operations on this store (ImportTar, ImportDirectory, CommitLayer,
  // ImportLayerTar, ExportLayer, and what load, save and build do with them)
  // report their progress to `fn` ({} for none: the default).
  void SetProgress(ProgressFn fn);
  const ProgressFn& progress() const;

  // Reads a tar (plain, gzip, zstd or xz) from `path` ("-" for standard input)
  // and makes it one layer on top of `options.from`'s layers.
  Result<Image> ImportTar(const std::string& path, const ImportOptions& options);
  Result<Image> ImportTarFd(int fd, const std::string& source_name, const ImportOptions& options);
  // Makes a writable union's upper directory (overlayfs format: 0/0 devices or
  // .wh. files as whiteouts, opaque xattrs) one new layer on top of
  // `options.from`: what a container's changes or a build step become.
  Result<Image> ImportDirectory(const std::string& dir, const ImportOptions& options);

  // Build steps (see strata/build.h). Makes `dir` (as ImportDirectory reads it)
  // a layer on top of `parent_layer` ("" for none) without making an image,
  // and records it in the build cache under (parent_layer, cache_key) unless
  // the key is empty. The cache keeps its layers until PruneBuildCache.
  Result<LayerInfo> CommitLayer(const std::string& parent_layer, const std::string& dir,
                                const std::string& cache_key);
  // A layer tar (plain, gzip, zstd or xz) as a layer on `parent_layer`, no image
  // made (what `load` does for each layer of an archive).
  // `before_commit`, when set, is called once the tar has been read and its
  // blobs staged, before anything lands; an error from it undoes the import
  // (a pull checks the layer's DiffID meanwhile, on another core).
  Result<LayerInfo> ImportLayerTar(const std::string& parent_layer, const std::string& path,
                                   const std::function<Status()>& before_commit = nullptr);
  // Keeps `blob_path` (verified against `source.digest`) as the layer's source;
  // a layer that has one keeps it.
  Status AttachLayerSource(const std::string& layer_id, const std::string& blob_path,
                           const LayerSource& source);
  Result<std::optional<LayerSource>> GetLayerSource(const std::string& layer_id);
  // The layer a step with `cache_key` made on `parent_layer` before, if any.
  Result<std::optional<LayerInfo>> FindCachedLayer(const std::string& parent_layer,
                                                   const std::string& cache_key);
  // Makes (or finds) the image of `image`'s layers, config and history, and
  // tags it `ref` unless that is "". The layers must exist, each on the one before.
  Result<Image> CreateImage(Image image, const std::string& ref);
  // The layers the build cache names.
  Result<std::vector<std::string>> ListBuildCache();
  // Empties the build cache and removes the layers only it kept; returns them.
  Result<std::vector<std::string>> PruneBuildCache();
  // Layers no image, child layer or build cache entry uses: what a load or a
  // build killed midway left (their blobs are counted as stored).
  Result<std::vector<LayerInfo>> UnusedLayers();
  // Removes them (and the blobs only they used); returns their ids.
  Result<std::vector<std::string>> PruneUnusedLayers();
  // Files under blobs/, layers/ and images/ the catalog does not name: what a
  // process killed between writing them and recording them left (a load or an
  // import killed inside a layer). Never a live writer's: writers hold the
  // store lock from their first file to their catalog commit, and so does this.
  struct Leftovers {
    std::vector<std::string> paths;  // relative to the root
    uint64_t bytes = 0;
  };
  Result<Leftovers> FindLeftovers();
  Result<Leftovers> RemoveLeftovers();  // what it removed

  Result<std::vector<Image>> ListImages();
  // `ref` is "name[:tag]", an image id, or a unique prefix of one.
  Result<Image> GetImage(const std::string& ref);
  Status Tag(const std::string& ref, const std::string& new_ref);
  // Records "name@sha256:<manifest digest>" for the image (a pull's or a push's).
  Status AddRepoDigest(const std::string& ref, const std::string& repo_digest);
  // Untags `ref` (a name), or deletes the image (an id, or its last name), and
  // then every layer no other image or layer needs.
  // Refused while the image is held.
  Result<RemoveImageReport> RemoveImage(const std::string& ref, const RemoveImageOptions& options = {});
  // Holds: adding one that exists, or releasing one that does not, is no error.
  Status HoldImage(const ImageHold& hold);
  Status ReleaseImage(const std::string& image_id, const std::string& holder);
  Result<std::vector<ImageHold>> ListImageHolds();
  Status HoldLayer(const LayerHold& hold);
  // Releases the hold, then removes the layer, and the layers below it, that
  // nothing else uses (an image, a child layer, the build cache, a hold);
  // returns the layers removed. Releasing a hold that is not there is no error.
  Result<std::vector<std::string>> ReleaseLayer(const std::string& layer_id, const std::string& holder);
  Result<std::vector<LayerHold>> ListLayerHolds();

  Result<std::vector<LayerInfo>> ListLayers();
  Result<LayerInfo> GetLayer(const std::string& id_or_prefix);
  // The layer and every layer below it, bottom first ("" gives none).
  Result<std::vector<std::string>> LayerChain(const std::string& top_layer);
  // Loads a layer's index, verified against its diff digest.
  Result<LayerIndex> ReadLayerIndex(const std::string& id_or_prefix);
  // Loads several layers' indexes at once (in parallel), in the order given.
  Result<std::vector<LayerIndex>> ReadLayerIndexes(const std::vector<std::string>& ids_or_prefixes);
  // The same indexes undecoded: each one's canonical bytes (docs/FORMAT.md),
  // verified, for a reader that decodes entries only as it needs them. The
  // bytes are the index file mapped read-only: valid while a pointer to them lives.
  Result<std::vector<std::shared_ptr<const std::string_view>>> ReadLayerIndexBytes(
      const std::vector<std::string>& ids_or_prefixes);
  // The indexes of `top_layer` and the layers below it, bottom first ("": none).
  Result<std::vector<LayerIndex>> ReadLayerChainIndexes(const std::string& top_layer);
  // Writes the layer as a reproducible tar to `out_path` ("-" for standard
  // output). With `diff_id`, also its DiffID ("sha256:<hex>" of the
  // uncompressed tar), hashed as the tar is written.
  Status ExportLayer(const std::string& id_or_prefix, const std::string& out_path, Compression compression,
                     std::string* diff_id = nullptr);
  Status ExportLayerFd(const std::string& id_or_prefix, int fd, Compression compression,
                       std::string* diff_id = nullptr);
  // Refused while an image or another layer uses the layer.
  Status RemoveLayer(const std::string& id_or_prefix);

  // Checks every blob, layer index and image config against its digest, and
  // finds files the catalog does not name. With `repair`, removes those and
  // whatever is broken (images and layers using a bad blob go with it).
  Result<FsckReport> Fsck(const FsckOptions& options);

  // The store's keyed XXH3-128: digests that compare within this store only
  // (build cache keys are made of them).
  Digest Hash(std::string_view data) const;
  Result<Digest> HashFile(const std::string& path) const;

  // The merged tree of `top_layer` and the layers below it as kernel
  // overlayfs's metadata layer over the blob directory (a data-only lower
  // layer, Linux 6.5+): written once when missing, then shared by every mount
  // of the chain; removed with the layer. Returns its path (MetaTreePath).
  Result<std::string> MetaTree(const std::string& top_layer);
  std::string MetaTreePath(const std::string& top_layer) const;
  // The data-only layer to mount under that tree: its own directory of
  // hardlinks to just its blobs when it has one (made with the tree where the
  // store's blob directory is many times bigger), else BlobDir().
  std::string MetaTreeDataDir(const std::string& top_layer) const;
  // The directory of blob files (a metadata tree's data-only layer).
  std::string BlobDir() const;
  // Path of the blob file holding `digest`'s bytes (read-only, never changes).
  std::string BlobPath(const Digest& digest) const;
  // Re-reads a blob and checks it against its digest.
  Status VerifyBlob(const Digest& digest);

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata
