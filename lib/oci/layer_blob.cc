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
  const std::string plain = scratch_file + ".tar";
  RETURN_IF_ERROR(store.ExportLayer(layer_id, plain, Compression::kNone));
  ASSIGN_OR_RETURN(std::string diff, Sha256File(plain));
  if (compression == Compression::kNone) {
    if (::rename(plain.c_str(), scratch_file.c_str()) != 0) return ErrnoStatus("rename", scratch_file);
  } else {
    ::unlink(plain.c_str());
    // The second pass, shown as what it adds.
    const ProgressFn outer = store.progress();
    if (outer) {
      store.SetProgress([&outer](ProgressEvent e) {
        e.action = "Compressing";
        outer(e);
      });
    }
    Status compressed = store.ExportLayer(layer_id, scratch_file, compression);
    store.SetProgress(outer);
    RETURN_IF_ERROR(compressed);
  }
  ASSIGN_OR_RETURN(std::string hex, Sha256File(scratch_file));
  blob.path = scratch_file;
  blob.temporary = true;
  blob.media_type = type;
  blob.digest = "sha256:" + hex;
  blob.diff_id = "sha256:" + diff;
  ASSIGN_OR_RETURN(blob.size, FileSize(scratch_file));
  return blob;
}

}  // namespace strata
