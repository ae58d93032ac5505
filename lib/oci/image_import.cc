#include "oci/image_import.h"

#include <map>
#include <set>

#include "util/file_util.h"
#include "util/progress_meter.h"
#include "util/status_macros.h"

namespace strata {

using nlohmann::json;

Result<BlobCompression> DeclaredCompression(const std::string& type) {
  static const std::map<std::string, BlobCompression> kLayerTypes = {
      {kOciLayerTar, BlobCompression::kNone},
      {"application/vnd.oci.image.layer.v1.tar+gzip", BlobCompression::kGzip},
      {"application/vnd.oci.image.layer.v1.tar+zstd", BlobCompression::kZstd},
      {"application/vnd.docker.image.rootfs.diff.tar", BlobCompression::kNone},
      {"application/vnd.docker.image.rootfs.diff.tar.gzip", BlobCompression::kGzip},
  };
  if (auto it = kLayerTypes.find(type); it != kLayerTypes.end()) return it->second;
  if (type.empty()) return Status::InvalidArgument("a layer descriptor has no mediaType");
  return Status::Unsupported("layer type " + type + " is not supported");
}

std::string MediaTypeOf(BlobCompression c) {
  switch (c) {
    case BlobCompression::kNone: return kOciLayerTar;
    case BlobCompression::kGzip: return std::string(kOciLayerTar) + "+gzip";
    case BlobCompression::kZstd: return std::string(kOciLayerTar) + "+zstd";
    default: return "";
  }
}

Status VerifyDiffIds(PendingImage& image, size_t first_number, ProgressMeter* progress) {
  if (image.layer_files.size() != image.config.diff_ids.size())
    return Status::InvalidArgument("the config names " + std::to_string(image.config.diff_ids.size()) +
                                   " layers, the manifest " + std::to_string(image.layer_files.size()));
  for (size_t i = 0; i < image.layer_files.size(); ++i) {
    const std::string layer =
        "layer " + std::to_string(i + first_number) + " (" + image.sources[i].digest + ")";
    ASSIGN_OR_RETURN(UncompressedDigest digest, Sha256Uncompressed(image.layer_files[i]));
    if ("sha256:" + digest.hex != image.config.diff_ids[i])
      return Status::InvalidArgument(layer + " does not match its DiffID " + image.config.diff_ids[i]);
    // A media type that lies about the compression is refused, never saved again as the lie.
    if (image.declared[i] && *image.declared[i] != digest.compression) {
      return Status::InvalidArgument(layer + " is " + BlobCompressionName(digest.compression) +
                                     " but its media type " + image.sources[i].media_type + " says " +
                                     BlobCompressionName(*image.declared[i]));
    }
    if (!image.declared[i]) image.sources[i].media_type = MediaTypeOf(digest.compression);
    if (progress) progress->Add(FileSizeOr0(image.layer_files[i]));
  }
  return Status::OK();
}

Platform DescriptorPlatform(const json& descriptor) {
  const json& p = descriptor.at("platform");
  return {p.value("os", ""), p.value("architecture", ""), p.value("variant", "")};
}

// The descriptors of an index meant for `want`: those whose platform matches,
// and those that name none (their config says, and is checked later).
// Attestation manifests (platform unknown/unknown) are never images.
Result<std::vector<json>> ForPlatform(const json& descriptors, const Platform& want,
                                      const std::string& where) {
  std::vector<json> chosen;
  std::vector<std::string> others;
  for (const json& d : descriptors) {
    if (!d.contains("platform")) {
      chosen.push_back(d);
      continue;
    }
    Platform p = DescriptorPlatform(d);
    if (p.os == "unknown") continue;
    if (PlatformMatches(want, p))
      chosen.push_back(d);
    else
      others.push_back(PlatformString(p));
  }
  if (chosen.empty() && !others.empty()) {
    std::string list;
    for (const auto& o : others) list += (list.empty() ? "" : ", ") + o;
    return Status::NotFound(where + " has no image for " + PlatformString(want) + " (it has " + list +
                            "); choose one with --platform");
  }
  return chosen;
}

Result<std::vector<Image>> ImportImages(Store& store, std::vector<PendingImage>& pending,
                                        const std::string& what) {
  const std::string& path = what;
  // Everything checks out: import. A failure now undoes what this load added.
  std::set<std::string> old_layers, old_images;  // what undo must never touch
  ASSIGN_OR_RETURN(auto layers_before, store.ListLayers());
  for (const auto& l : layers_before) old_layers.insert(l.id);
  ASSIGN_OR_RETURN(auto images_before, store.ListImages());
  for (const auto& i : images_before) old_images.insert(i.id);
  std::vector<std::string> new_layers, new_images;
  auto undo = [&] {
    for (const auto& id : new_images) (void)store.RemoveImage(id, {.force = true});
    for (auto it = new_layers.rbegin(); it != new_layers.rend(); ++it) (void)store.RemoveLayer(*it);
  };
  std::vector<Image> loaded;
  for (auto& p : pending) {
    Image image = p.config.image;
    std::string parent;
    for (size_t i = 0; i < p.layer_files.size(); ++i) {
      if (i < p.existing.size() && !p.existing[i].empty()) {  // in the store already
        image.layers.push_back(p.existing[i]);
        parent = p.existing[i];
        continue;
      }
      auto layer = store.ImportLayerTar(parent, p.layer_files[i],
                                        i < p.before_commit.size() ? p.before_commit[i] : nullptr);
      if (!layer.ok()) {
        undo();
        return layer.status().WithContext(path);
      }
      if (old_layers.insert(layer->id).second) new_layers.push_back(layer->id);
      if (!p.sources[i].media_type.empty()) {
        LayerSource source = p.sources[i];
        source.diff_id = p.config.diff_ids[i];
        if (Status st = store.AttachLayerSource(layer->id, p.layer_files[i], source); !st.ok()) {
          undo();
          return st.WithContext(path);
        }
      }
      image.layers.push_back(layer->id);
      parent = layer->id;
    }
    auto made = store.CreateImage(image, "");
    if (!made.ok()) {
      undo();
      return made.status().WithContext(path);
    }
    if (old_images.insert(made->id).second) new_images.push_back(made->id);
    for (const auto& name : p.names) {
      if (Status st = store.Tag(made->id, name); !st.ok()) {
        undo();
        return st.WithContext(path);
      }
    }
    ASSIGN_OR_RETURN(Image final_image, store.GetImage(made->id));
    loaded.push_back(std::move(final_image));
  }
  return loaded;
}

}  // namespace strata
