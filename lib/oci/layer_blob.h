// A layer as a registry or an image layout carries it: one blob (tar,
// tar+gzip or tar+zstd) with its digest, size, media type and DiffID.
#pragma once

#include <cstdint>
#include <string>

#include "strata/status.h"
#include "strata/store.h"

namespace strata {

struct LayerBlob {
  std::string path;        // the blob's bytes
  bool temporary = false;  // `path` was written for this call (else it is the store's: do not move it)
  std::string media_type;
  std::string digest;  // sha256:<hex>
  uint64_t size = 0;
  std::string diff_id;  // sha256:<hex> of the uncompressed tar
};

// The blob a pull or load kept for the layer (the same bytes again, so the
// same digests), or else the layer exported to `scratch_file`, compressed as asked.
Result<LayerBlob> GetLayerBlob(Store& store, const std::string& layer_id, Compression compression,
                               const std::string& scratch_file);

}  // namespace strata
