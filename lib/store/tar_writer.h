// Writes a layer as a tar stream. The output depends only on the index and
// the blobs: entries in index order, no user/group names, no atime/ctime, no
// gzip timestamp, so the same layer always exports byte-identical.
#pragma once

#include <string>

#include "store/blob_store.h"
#include "strata/entry.h"
#include "strata/status.h"
#include "strata/store.h"

namespace strata {

class ProgressMeter;

// Every blob read is verified against its digest; a mismatch fails the write.
// `progress`, when given, is told the bytes of file content written;
// `tar_sha256`, when given, gets the hex SHA-256 of the uncompressed tar (the
// layer's DiffID), hashed on its way to the compressor.
Status WriteLayerTar(const LayerIndex& index, const BlobStore& blobs, int fd, Compression compression,
                     ProgressMeter* progress = nullptr, std::string* tar_sha256 = nullptr);

}  // namespace strata
