#include "store/migrate.h"
#include "format/json.h"

#include <nlohmann/json.hpp>

#include "format/reference.h"
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
  return Status::OK();
}

}  // namespace strata
