// A layer out as a reproducible tar (strata layer export, save, push). Apart
// from store.cc so that a program that only reads layers (strata-fuse) does
// not link the tar writer and libarchive.
#include <unistd.h>

#include "store/store_impl.h"
#include "store/tar_writer.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace strata {

Status Store::ExportLayerFd(const std::string& id_or_prefix, int fd, Compression compression) {
  ASSIGN_OR_RETURN(LayerIndex index, ReadLayerIndex(id_or_prefix));
  return WriteLayerTar(index, *impl_->blobs, fd, compression);
}

Status Store::ExportLayer(const std::string& id_or_prefix, const std::string& out_path,
                          Compression compression) {
  if (out_path == "-") return ExportLayerFd(id_or_prefix, STDOUT_FILENO, compression);
  ASSIGN_OR_RETURN(LayerIndex index, ReadLayerIndex(id_or_prefix));
  return WriteOutputFile(out_path, 0644, [&](int fd, const std::string&) {
    return WriteLayerTar(index, *impl_->blobs, fd, compression);
  });
}

}  // namespace strata
