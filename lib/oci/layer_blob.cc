#include "oci/layer_blob.h"

#include <sys/stat.h>
#include <unistd.h>

#include "format/sha256.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace strata {

namespace {

Result<uint64_t> FileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path);
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace

Result<LayerBlob> GetLayerBlob(Store& store, const std::string& layer_id, Compression compression,
                               const std::string& scratch_file) {
  ASSIGN_OR_RETURN(auto source, store.GetLayerSource(layer_id));
  LayerBlob blob;
  if (source) {
    blob.path = source->path;
    blob.media_type = source->media_type;
    blob.digest = source->digest;
    blob.diff_id = source->diff_id;
    ASSIGN_OR_RETURN(blob.size, FileSize(blob.path));
    return blob;
  }
  const char* type = compression == Compression::kGzip   ? "application/vnd.oci.image.layer.v1.tar+gzip"
                     : compression == Compression::kZstd ? "application/vnd.oci.image.layer.v1.tar+zstd"
                                                         : "application/vnd.oci.image.layer.v1.tar";
  std::string diff_id;  // hashed on the tar's way to the compressor: one pass over the layer
  RETURN_IF_ERROR(store.ExportLayer(layer_id, scratch_file, compression, &diff_id));
  ASSIGN_OR_RETURN(std::string hex, Sha256File(scratch_file));
  blob.path = scratch_file;
  blob.temporary = true;
  blob.media_type = type;
  blob.digest = "sha256:" + hex;
  blob.diff_id = diff_id;
  ASSIGN_OR_RETURN(blob.size, FileSize(scratch_file));
  return blob;
}

}  // namespace strata
