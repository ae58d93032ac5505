// What the store holds and what it can give back: `strata system df` and
// `strata system prune`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "strata/container.h"
#include "strata/status.h"

namespace strata {

struct DiskUsage {
  struct Row {
    uint64_t count = 0;
    uint64_t active = 0;       // in use (images with containers, running containers, used volumes)
    uint64_t size = 0;         // bytes
    uint64_t reclaimable = 0;  // bytes a prune could free
  };
  Row images, containers, volumes, build_cache;
  Row unused_layers;  // layers nothing uses: an interrupted load's (system prune removes them)
  Row leftovers;      // files a killed process wrote and never recorded (system prune removes them)
  uint64_t logical_image_bytes = 0;  // every image's layers, as if each image had its own copy
  uint64_t stored_bytes = 0;         // file content actually stored (blobs, deduplicated)
};
Result<DiskUsage> ComputeDiskUsage(Containers& containers);

struct PruneReport {
  std::vector<std::string> containers, images, layers, volumes;
  std::vector<std::string> leftovers;  // crash leftovers, relative to the store root
};
struct PruneOptions {
  bool volumes = false;  // also every volume nothing uses
};
// Removes stopped containers, images with no name that no container uses,
// the build cache, layers nothing uses, crash leftovers, and (with `volumes`)
// volumes nothing uses.
Result<PruneReport> SystemPrune(Containers& containers, const PruneOptions& options);

}  // namespace strata
