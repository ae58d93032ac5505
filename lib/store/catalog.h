// Catalog: the store's SQLite database of layers, images, tags and which
// blobs each layer uses. It is the source of truth for what exists: a file
// under layers/, images/ or blobs/ that the catalog does not name is garbage
// left by a crash (fsck removes it).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "strata/digest.h"
#include "strata/image.h"
#include "strata/status.h"

struct sqlite3;

namespace strata {

struct ImageRow {
  std::string id;
  int64_t created = 0;
  std::vector<std::string> layers;  // bottom first
};

class Catalog {
 public:
  static Result<std::unique_ptr<Catalog>> Open(const std::string& path);
  ~Catalog();
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  // One write transaction; rolled back unless Commit() succeeds.
  class Transaction {
   public:
    explicit Transaction(Catalog& c);
    ~Transaction();
    Status status() const { return begin_; }
    Status Commit();

   private:
    Catalog& c_;
    Status begin_;
    bool done_ = false;
  };

  Status InsertLayer(const LayerInfo& layer, const std::vector<Digest>& blobs);
  Result<std::optional<LayerInfo>> FindLayer(const std::string& id);
  Result<std::vector<LayerInfo>> Layers();
  // Removes the layer and returns those of its blobs no other layer uses.
  Result<std::vector<Digest>> DeleteLayer(const std::string& id);
  // What keeps a layer: an image, a child layer, the build cache or a hold
  // (the first one found, in that order), or nothing.
  struct LayerUser {
    enum class Kind { kNone, kImage, kChildLayer, kBuildCache, kHold };
    Kind kind = Kind::kNone;
    std::string id;  // the image or child layer's id; a hold's description
    bool none() const { return kind == Kind::kNone; }
    std::string Describe() const;  // "image 0123456789ab", "the build cache"
  };
  Result<LayerUser> FindLayerUser(const std::string& id);

  // The build cache: (parent layer, step key) -> the layer that step made.
  Status InsertCacheEntry(const std::string& parent, const std::string& key, const std::string& layer,
                          int64_t created);
  Result<std::optional<std::string>> FindCacheEntry(const std::string& parent, const std::string& key);
  Status DeleteCacheEntriesFor(const std::string& layer);
  Result<std::vector<std::string>> CacheLayers();
  // Empties the cache and returns the layers it named.
  Result<std::vector<std::string>> DeleteCacheEntries();

  // Blob digest (hex) -> each layer that uses it.
  Result<std::multimap<std::string, std::string>> BlobUsers();

  Status InsertImage(const ImageRow& image);
  Result<std::optional<ImageRow>> FindImage(const std::string& id);
  Result<std::vector<ImageRow>> Images();
  Status DeleteImage(const std::string& id);

  Status SetTag(const std::string& name, const std::string& image_id);
  Status DeleteTag(const std::string& name);
  Result<std::optional<std::string>> TagTarget(const std::string& name);
  Result<std::multimap<std::string, std::string>> TagsByImage();  // image id -> name
  // "repo@sha256:..." names a registry gave an image (its manifest's digest).
  Status SetRepoDigest(const std::string& name, const std::string& image_id);
  Result<std::multimap<std::string, std::string>> RepoDigestsByImage();  // image id -> name

  // Image holds (strata::ImageHold): who keeps an image besides its tags.
  struct HoldRow {
    std::string image_id, holder, description;
  };
  Status InsertHold(const std::string& image_id, const std::string& holder, const std::string& description);
  Status DeleteHold(const std::string& image_id, const std::string& holder);
  Result<std::vector<HoldRow>> Holds(const std::string& image_id = "");  // "" for every image
  // Layer holds (strata::LayerHold), in the same shape (image_id is the layer's id).
  Status InsertLayerHold(const std::string& layer_id, const std::string& holder,
                         const std::string& description);
  Status DeleteLayerHold(const std::string& layer_id, const std::string& holder);
  Result<std::vector<HoldRow>> LayerHolds();

  // meta.format: the store's on-disk format (docs/FORMAT.md); 0 for a new catalog.
  Result<int> FormatVersion();
  Status SetFormatVersion(int version);
  // Format 1 kept containers and volumes here; the migration to 2 reads them
  // once, writes them where their components keep them now, and drops the tables.
  struct LegacyContainer {
    std::string id, name, image_id, record;  // record: the container's JSON
  };
  struct LegacyVolume {
    std::string name, driver, labels_json, options_json;
    bool anonymous = false;
    int64_t created = 0;
    std::vector<std::string> users;
  };
  Result<std::vector<LegacyContainer>> LegacyContainers();
  Result<std::vector<LegacyVolume>> LegacyVolumes();
  Status DropLegacyTables();

  // Ids in `table` ("layers" or "images") that start with `prefix`.
  Result<std::vector<std::string>> IdsWithPrefix(const std::string& table, const std::string& prefix);

 private:
  Result<std::multimap<std::string, std::string>> NamesByImage(const char* sql);
  explicit Catalog(sqlite3* db) : db_(db) {}
  Status Exec(const char* sql);
  sqlite3* db_;
};

}  // namespace strata
