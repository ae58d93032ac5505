// A loaded layer's original archive blob: layers/<id>/source.blob with
// layers/<id>/source.json ({digest, diff_id, media_type}), both written
// atomically; the blob is verified against its digest when written and read.
#include <nlohmann/json.hpp>

#include "format/json.h"
#include "format/sha256.h"
#include "store/store_impl.h"
#include "util/file_lock.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace strata {

Status Store::AttachLayerSource(const std::string& layer_id, const std::string& blob_path,
                                const LayerSource& source) {
  ASSIGN_OR_RETURN(FileLock lock, AcquireStoreLock(impl_->root));
  ASSIGN_OR_RETURN(auto layer, impl_->catalog->FindLayer(layer_id));
  if (!layer) return Status::NotFound("no such layer: " + layer_id);
  const std::string dir = impl_->LayerDir(layer_id);
  if (PathExists(dir + "/source.json")) return Status::OK();
  ASSIGN_OR_RETURN(std::string hex, Sha256File(blob_path));
  if ("sha256:" + hex != source.digest)
    return Status::Corruption(blob_path + " does not match " + source.digest);
  RETURN_IF_ERROR(CopyFileAtomic(blob_path, dir + "/source.blob", 0444));
  nlohmann::json meta = {
      {"digest", source.digest}, {"diff_id", source.diff_id}, {"media_type", source.media_type}};
  return WriteFileAtomic(dir + "/source.json", DumpJson(meta));  // last: it makes the source exist
}

Result<std::optional<LayerSource>> Store::GetLayerSource(const std::string& layer_id) {
  const std::string dir = impl_->LayerDir(layer_id);
  auto text = ReadFile(dir + "/source.json");
  if (!text.ok()) return std::optional<LayerSource>();
  auto meta = nlohmann::json::parse(*text, nullptr, false);
  if (!meta.is_object()) return Status::Corruption(dir + "/source.json is not JSON");
  LayerSource source{dir + "/source.blob", meta.value("digest", ""), meta.value("diff_id", ""),
                     meta.value("media_type", "")};
  ASSIGN_OR_RETURN(std::string hex, Sha256File(source.path));
  if ("sha256:" + hex != source.digest) return Status::Corruption(source.path + " does not match its digest");
  return std::optional<LayerSource>(source);
}

}  // namespace strata
