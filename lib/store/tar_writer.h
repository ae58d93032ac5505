// Writes a layer as a tar stream. The output depends only on the index and
// the blobs: entries in index order, no user/group names, no atime/ctime, no
// gzip timestamp, so the same layer always exports byte-identical.
#pragma once

#include "store/blob_store.h"
#include "strata/entry.h"
#include "strata/status.h"
#include "strata/store.h"

namespace strata {

class ProgressMeter;

// Every blob read is verified against its digest; a mismatch fails the write.
// `progress`, when given, is told the bytes of file content written.
Status WriteLayerTar(const LayerIndex& index, const BlobStore& blobs, int fd, Compression compression,
                     ProgressMeter* progress = nullptr);

}  // namespace strata
