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
#include "strata/volume.h"

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
  // Why the layer cannot go: "" when nothing uses it.
  Result<std::string> LayerUser(const std::string& id);

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

  Status InsertVolume(const VolumeInfo& volume);
  Result<std::optional<VolumeInfo>> FindVolume(const std::string& name);  // users filled in
  Result<std::vector<std::string>> VolumeNames();
  Status DeleteVolume(const std::string& name);
  Status AddVolumeUser(const std::string& volume, const std::string& user);
  Status RemoveVolumeUser(const std::string& volume, const std::string& user);

  // Containers: their record is JSON (container_json.cc); name is unique.
  Status PutContainer(const std::string& id, const std::string& name, const std::string& image_id,
                      const std::string& record);
  Result<std::optional<std::string>> FindContainer(const std::string& id_or_name);
  Result<std::vector<std::string>> ContainerRecords();
  Status DeleteContainer(const std::string& id);
  // The name of a container made from the image, or "".
  Result<std::string> ContainerUsingImage(const std::string& image_id);

  // Ids in `table` ("layers", "images" or "containers") that start with `prefix`.
  Result<std::vector<std::string>> IdsWithPrefix(const std::string& table, const std::string& prefix);

 private:
  explicit Catalog(sqlite3* db) : db_(db) {}
  Status Exec(const char* sql);
  sqlite3* db_;
};

}  // namespace strata
