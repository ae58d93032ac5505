#include "store/migrate.h"
#include <stdio.h>
#include <unistd.h>
#include "format/json.h"

#include <nlohmann/json.hpp>

#include "format/index_codec.h"
#include "format/reference.h"
#include "store/blob_store.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace strata {

namespace {

nlohmann::json ObjectOrEmpty(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();
}

// Format 1 -> 2: each container's record (already its JSON) to
// containers/<id>/config.json and a hold on its image; each volume to a record
// file in the shape container/volumes.cc reads (docs/FORMAT.md).
Status MigrateFrom1(const std::string& root, Catalog& catalog) {
  ASSIGN_OR_RETURN(auto containers, catalog.LegacyContainers());
  ASSIGN_OR_RETURN(auto volumes, catalog.LegacyVolumes());
  for (const auto& c : containers) {
    std::string dir = root + "/containers/" + c.id;
    RETURN_IF_ERROR(MakeDirs(dir));
    RETURN_IF_ERROR(WriteFileAtomic(dir + "/config.json", c.record, 0600));
  }
  RETURN_IF_ERROR(MakeDirs(root + "/volumes/.records"));
  for (const auto& v : volumes) {
    nlohmann::json record = {{"Name", v.name},
                             {"Driver", v.driver},
                             {"Labels", ObjectOrEmpty(v.labels_json)},
                             {"Options", ObjectOrEmpty(v.options_json)},
                             {"Anonymous", v.anonymous},
                             {"CreatedAt", v.created},
                             {"UsedBy", v.users}};
    RETURN_IF_ERROR(WriteFileAtomic(root + "/volumes/.records/" + v.name + ".json", DumpJson(record), 0600));
  }
  Catalog::Transaction txn(catalog);
  RETURN_IF_ERROR(txn.status());
  for (const auto& c : containers) {
    RETURN_IF_ERROR(catalog.InsertHold(c.image_id, "container:" + c.id, "container " + c.name));
  }
  // Tags in the short form references now have (docker.io/library/x:1 is x:1),
  // unless another tag has that name already.
  ASSIGN_OR_RETURN(auto tags, catalog.TagsByImage());
  for (const auto& [image_id, name] : tags) {
    auto normal = NormalizeReference(name);
    if (!normal.ok() || *normal == name) continue;
    ASSIGN_OR_RETURN(auto taken, catalog.TagTarget(*normal));
    if (taken) continue;
    RETURN_IF_ERROR(catalog.DeleteTag(name));
    RETURN_IF_ERROR(catalog.SetTag(*normal, image_id));
  }
  RETURN_IF_ERROR(catalog.DropLegacyTables());
  RETURN_IF_ERROR(catalog.SetFormatVersion(2));
  return txn.Commit();
}

// 2 -> 3: blobs/<two hex>/<32 hex> becomes blobs/<base64 name>. Each rename
// is atomic and a rerun finds what is left, so a crash midway is resumed.
// Metadata trees (derived, naming blobs by path) are dropped: they are made
// again when next needed.
Status MigrateFrom2(const std::string& root, Catalog& catalog) {
  const std::string blobs = root + "/blobs";
  ASSIGN_OR_RETURN(std::vector<std::string> fans, ListDir(blobs));
  for (const std::string& fan : fans) {
    if (fan.starts_with(".tmp-")) {  // a batch's temporaries of the old layout
      RETURN_IF_ERROR(RemoveAll(blobs + "/" + fan));
      continue;
    }
    if (fan.size() != 2) continue;  // a blob of the new layout
    const std::string dir = blobs + "/" + fan;
    ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
    for (const std::string& hex : names) {
      auto digest = Digest::FromHex(hex);
      const std::string from = dir + "/" + hex;
      if (!digest) {
        RETURN_IF_ERROR(RemoveAll(from));  // a temporary of the old layout
        continue;
      }
      const std::string to = blobs + "/" + BlobFileName(*digest);
      if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoStatus("rename", from);
    }
    RETURN_IF_ERROR(FsyncDir(blobs));
    if (::rmdir(dir.c_str()) != 0) return ErrnoStatus("rmdir", dir);
  }
  RETURN_IF_ERROR(RemoveAll(root + "/meta"));
  RETURN_IF_ERROR(FsyncDir(blobs));
  return catalog.SetFormatVersion(3);
}

// 4 -> 5: each layer's index.zst becomes its uncompressed index, which a
// mount maps instead of decompressing. `index` is written atomically before
// index.zst goes, so a rerun after a crash finds each layer in one state or
// the other. A damaged index.zst is kept as `index` byte for byte: loading it
// then fails its digest check, as it would have before.
Status MigrateFrom4(const std::string& root, Catalog& catalog) {
  const std::string layers = root + "/layers";
  ASSIGN_OR_RETURN(std::vector<std::string> ids, ListDir(layers));
  for (const std::string& id : ids) {
    const std::string dir = layers + "/" + id, zst = dir + "/index.zst";
    if (id.starts_with(".tmp-") || !PathExists(zst)) continue;
    if (!PathExists(dir + "/index")) {
      ASSIGN_OR_RETURN(std::string compressed, ReadFile(zst));
      Result<std::string> raw = Decompress(compressed);
      RETURN_IF_ERROR(WriteFileAtomic(dir + "/index", raw.ok() ? *raw : compressed));
    }
    if (::unlink(zst.c_str()) != 0) return ErrnoStatus("unlink", zst);
    RETURN_IF_ERROR(FsyncDir(dir));
  }
  return catalog.SetFormatVersion(5);
}

}  // namespace

Status MigrateStore(const std::string& root, Catalog& catalog) {
  ASSIGN_OR_RETURN(int format, catalog.FormatVersion());
  if (format > kStoreFormat) {
    return Status::Unsupported("store " + root + " has format " + std::to_string(format) +
                               "; this strata reads formats up to " + std::to_string(kStoreFormat) +
                               " (use a newer strata)");
  }
  if (format == 0) return catalog.SetFormatVersion(kStoreFormat);  // a new store
  if (format == 1) RETURN_IF_ERROR(MigrateFrom1(root, catalog));
  if (format <= 2) RETURN_IF_ERROR(MigrateFrom2(root, catalog));
  // 3 -> 4: the layer_holds table, which opening the catalog made (empty).
  if (format <= 3) RETURN_IF_ERROR(catalog.SetFormatVersion(4));
  if (format <= 4) RETURN_IF_ERROR(MigrateFrom4(root, catalog));
  return Status::OK();
}

}  // namespace strata
