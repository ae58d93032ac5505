// Images in and out as OCI image layouts (tar), and in from `docker save`
// archives: what `strata save` and `strata load` do.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "strata/image.h"
#include "strata/status.h"
#include "strata/store.h"

namespace strata {

struct SaveOptions {
  Compression compression = Compression::kGzip;  // layer blobs: tar+gzip, tar+zstd or plain tar
};

// Writes an OCI image layout tar holding `refs` (oci-layout, index.json with
// org.opencontainers.image.ref.name annotations, manifests, configs with
// rootfs.diff_ids and history, layer blobs). The file appears whole or not at all.
// Progress (exporting, compressing and writing) goes to store.progress().
Status SaveImages(Store& store, const std::vector<std::string>& refs, const std::string& out_path,
                  const SaveOptions& options = {});

struct LoadOptions {
  // From a multi-platform index, the image for this platform; an archive with
  // none for it is refused. Empty: the host's, and a single-platform image of
  // another platform still loads (as with docker load; `run` refuses it).
  Platform platform;
};

// Reads an OCI image layout tar or a `docker save` tar, verifies every
// sha256 digest (blobs, and each layer's DiffID) before anything lands, then
// imports the images, named by their ref names or RepoTags. A layer whose
// media type misstates its compression is refused. A bad archive leaves the
// store as it was. Progress (unpacking, verifying, extracting each layer)
// goes to store.progress().
Result<std::vector<Image>> LoadImages(Store& store, const std::string& path, const LoadOptions& options = {});

}  // namespace strata
