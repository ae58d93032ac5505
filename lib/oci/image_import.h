// What loading an image from an archive and pulling one from a registry
// share: the descriptors and media types of the OCI image spec, a verified
// image not yet in the store, and the import that lands it whole or not at all.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "format/sha256.h"
#include "oci/oci_config.h"
#include "strata/image.h"
#include "strata/store.h"

namespace strata {

class ProgressMeter;

inline constexpr const char* kOciLayerTar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr const char* kIndexType = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kDockerListType = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* kOciManifestType = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kDockerManifestType = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* kOciConfigType = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* kDockerConfigType = "application/vnd.docker.container.image.v1+json";

// An image found in the archive, verified, not yet in the store.
struct PendingImage {
  std::vector<std::string> names;
  OciImageConfig config;
  std::vector<std::string> layer_files;
  std::vector<LayerSource> sources;  // each layer's blob, to save it again as it was
  // The compression each layer's media type declares; none where the archive
  // declares nothing (docker save), and the content's truth is recorded instead.
  std::vector<std::optional<BlobCompression>> declared;
  // Per layer, the store's layer when it has it already (nothing to import), else "".
  std::vector<std::string> existing;
  // Per layer (optional): called before the imported layer lands; an error undoes it.
  std::vector<std::function<Status()>> before_commit;
};

// The compression a layer media type declares; an error for a type strata does not read.
Result<BlobCompression> DeclaredCompression(const std::string& type);
// The OCI media type for a blob compressed as its content shows; "" for
// compressions OCI has no layer type for (xz, bzip2: docker load reads them).
std::string MediaTypeOf(BlobCompression c);

// Checks each layer file against its DiffID, and its compression against its
// media type (a lie is refused); fills in the media type where none was declared.
// Errors number the layers from `first_number` (bottom first).
// `progress`, when given, is told each layer file's size as it is checked.
Status VerifyDiffIds(PendingImage& image, size_t first_number = 1, ProgressMeter* progress = nullptr);

Platform DescriptorPlatform(const nlohmann::json& descriptor);
// The descriptors of an index meant for `want`: those whose platform matches,
// and those that name none (their config says, and is checked later).
// Attestation manifests (platform unknown/unknown) are never images. None
// for `want` is an error naming `where` ("the archive") and what it has.
Result<std::vector<nlohmann::json>> ForPlatform(const nlohmann::json& descriptors, const Platform& want,
                                                const std::string& where);

// Imports verified images: their layers (each keeping its blob as the source
// to save or push again), the images, their names. A failure undoes what this
// call added; `what` names the source in errors.
Result<std::vector<Image>> ImportImages(Store& store, std::vector<PendingImage>& pending,
                                        const std::string& what);

}  // namespace strata
