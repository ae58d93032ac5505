// The store's on-disk format version (docs/FORMAT.md) and the migrations from
// older ones. Store::Open refuses a newer format and migrates an older one.
#pragma once

#include <string>

#include "store/catalog.h"
#include "strata/status.h"

namespace strata {

// 1: containers and volumes in the catalog. 2: containers/<id>/config.json,
// volumes/.records/<name>.json, image holds in the catalog, and tags in the
// short form of the distribution grammar (format/reference.h). 3: blobs/ flat,
// each blob named by its digest in base64 (store/blob_store.h). 4: layer holds
// in the catalog (a strata before them would prune held layers). 5: layer
// indexes uncompressed (layers/<id>/index), mapped by a mount.
inline constexpr int kStoreFormat = 5;

// Brings the store at `root` to kStoreFormat. The caller holds the store lock.
// Files are written first and the catalog changed in one transaction last, so
// a crash in between leaves the older format and the next open migrates again.
Status MigrateStore(const std::string& root, Catalog& catalog);

}  // namespace strata
