// A layer out as a reproducible tar (strata layer export, save, push). Apart
// from store.cc so that a program that only reads layers (strata-fuse) does
// not link the tar writer and libarchive.
#include <unistd.h>

#include "store/store_impl.h"
#include "store/tar_writer.h"
#include "util/file_util.h"
#include "util/progress_meter.h"
#include "util/status_macros.h"

namespace strata {

namespace {

uint64_t ContentBytes(const LayerIndex& index) {
  uint64_t total = 0;
  for (const Entry& e : index.entries) total += e.type == EntryType::kRegular ? e.size : 0;
  return total;
}

}  // namespace

Status Store::ExportLayerFd(const std::string& id_or_prefix, int fd, Compression compression,
                            std::string* diff_id) {
  ASSIGN_OR_RETURN(std::string id, impl_->ResolveLayerId(id_or_prefix));
  ASSIGN_OR_RETURN(LayerIndex index, ReadLayerIndex(id));
  ProgressMeter progress(impl_->progress, "Exporting", ShortName(id), ContentBytes(index));
  std::string hex;
  RETURN_IF_ERROR(WriteLayerTar(index, *impl_->blobs, fd, compression, &progress, diff_id ? &hex : nullptr));
  progress.Finish();
  if (diff_id) *diff_id = "sha256:" + hex;
  return Status::OK();
}

Status Store::ExportLayer(const std::string& id_or_prefix, const std::string& out_path,
                          Compression compression, std::string* diff_id) {
  if (out_path == "-") return ExportLayerFd(id_or_prefix, STDOUT_FILENO, compression, diff_id);
  return WriteOutputFile(out_path, 0644, [&](int fd, const std::string&) {
    return ExportLayerFd(id_or_prefix, fd, compression, diff_id);
  });
}

}  // namespace strata
