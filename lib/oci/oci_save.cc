// strata save: images as an OCI image layout, packed in one tar.
#include <sys/stat.h>
#include <unistd.h>

#include <map>

#include <nlohmann/json.hpp>

#include "format/archive_files.h"
#include "format/json.h"
#include "format/reference.h"
#include "format/sha256.h"
#include "oci/layer_blob.h"
#include "oci/oci_config.h"
#include "store/scratch.h"
#include "strata/oci.h"
#include "util/file_util.h"
#include "util/progress_meter.h"
#include "util/status_macros.h"

namespace strata {

using nlohmann::json;

namespace {

const char* kManifestType = "application/vnd.oci.image.manifest.v1+json";
const char* kConfigType = "application/vnd.oci.image.config.v1+json";

struct Descriptor {
  std::string media_type;
  std::string digest;  // sha256:<hex>
  uint64_t size = 0;
  json ToJson() const { return {{"mediaType", media_type}, {"digest", digest}, {"size", size}}; }
};

class LayoutWriter {
 public:
  explicit LayoutWriter(std::string dir) : dir_(std::move(dir)) {}
  Status Init() { return MakeDirs(dir_ + "/blobs/sha256"); }
  const std::string& dir() const { return dir_; }

  // Moves `file` into blobs/sha256/ under its digest.
  Result<Descriptor> AddFile(const std::string& file, const std::string& media_type) {
    ASSIGN_OR_RETURN(std::string hex, Sha256File(file));
    struct stat st;
    if (::stat(file.c_str(), &st) != 0) return ErrnoStatus("stat", file);
    std::string target = dir_ + "/blobs/sha256/" + hex;
    if (::rename(file.c_str(), target.c_str()) != 0) return ErrnoStatus("rename", target);
    return Descriptor{media_type, "sha256:" + hex, static_cast<uint64_t>(st.st_size)};
  }
  Result<Descriptor> AddBytes(const std::string& bytes, const std::string& media_type) {
    std::string tmp = dir_ + "/.blob-" + RandomHex(6);
    RETURN_IF_ERROR(WriteFileAtomic(tmp, bytes));
    return AddFile(tmp, media_type);
  }

 private:
  std::string dir_;
};

// Where a layout keeps a blob: "blobs/sha256/<hex>".
std::string BlobPath(const Descriptor& d) {
  return "blobs/sha256/" + d.digest.substr(7);
}

struct SavedLayer {
  Descriptor blob;
  std::string diff_id;
};

}  // namespace

Status SaveImages(Store& store, const std::vector<std::string>& refs, const std::string& out_path,
                  const SaveOptions& options) {
  if (refs.empty()) return Status::InvalidArgument("no image to save");
  std::vector<Image> images;
  for (const auto& ref : refs) {
    ASSIGN_OR_RETURN(Image image, store.GetImage(ref));
    images.push_back(std::move(image));
  }
  ASSIGN_OR_RETURN(Scratch scratch, Scratch::Make(store.root()));
  LayoutWriter layout(scratch.dir() + "/layout");
  RETURN_IF_ERROR(layout.Init());
  std::map<std::string, SavedLayer> saved;  // layer id -> blob

  json manifests = json::array();
  // Docker's own view of the same blobs (manifest.json, repositories), as
  // docker save writes beside the OCI layout since Docker 25: Docker 20.10's
  // load reads only these.
  json docker_manifest = json::array(), repositories = json::object();
  for (size_t i = 0; i < images.size(); ++i) {
    const Image& image = images[i];
    std::vector<std::string> diff_ids;
    json layers = json::array(), docker_layers = json::array();
    for (const auto& id : image.layers) {
      if (!saved.count(id)) {
        ASSIGN_OR_RETURN(LayerBlob layer,
                         GetLayerBlob(store, id, options.compression, scratch.dir() + "/layer"));
        std::string file = layer.path;
        if (!layer.temporary) {  // the store's own blob: a copy goes into the layout
          file = scratch.dir() + "/layer.src";
          RETURN_IF_ERROR(CopyFileAtomic(layer.path, file));
        }
        ASSIGN_OR_RETURN(Descriptor blob, layout.AddFile(file, layer.media_type));
        saved[id] = {blob, layer.diff_id};
      }
      diff_ids.push_back(saved[id].diff_id);
      layers.push_back(saved[id].blob.ToJson());
      docker_layers.push_back(BlobPath(saved[id].blob));
    }
    ASSIGN_OR_RETURN(Descriptor config, layout.AddBytes(OciConfigJson(image, diff_ids), kConfigType));
    json manifest = {
        {"schemaVersion", 2}, {"mediaType", kManifestType}, {"config", config.ToJson()}, {"layers", layers}};
    ASSIGN_OR_RETURN(Descriptor m, layout.AddBytes(DumpJson(manifest), kManifestType));
    json platform = {{"os", image.platform.os}, {"architecture", image.platform.architecture}};
    if (!image.platform.variant.empty()) platform["variant"] = image.platform.variant;
    // One index entry per name the user asked for (or the image's names, when named by id).
    std::vector<std::string> names;
    for (const auto& n : image.names) {
      if (n == refs[i] || n == refs[i] + ":latest") names = {n};
    }
    if (names.empty()) names = image.names;
    json descriptor = m.ToJson();
    descriptor["platform"] = platform;
    if (names.empty()) manifests.push_back(descriptor);
    for (const auto& n : names) {
      json d = descriptor;
      // ctr import names the image by the second.
      d["annotations"] = {{"org.opencontainers.image.ref.name", n},
                          {"io.containerd.image.name", QualifiedReference(n)}};
      manifests.push_back(d);
    }
    docker_manifest.push_back({{"Config", BlobPath(config)}, {"RepoTags", names}, {"Layers", docker_layers}});
    for (const auto& n : names) {  // repo -> tag -> the top layer, by its blob's hex
      const size_t colon = n.rfind(':');
      if (!image.layers.empty())
        repositories[n.substr(0, colon)][n.substr(colon + 1)] =
            saved[image.layers.back()].blob.digest.substr(7);
    }
  }
  json index = {{"schemaVersion", 2},
                {"mediaType", "application/vnd.oci.image.index.v1+json"},
                {"manifests", manifests}};
  RETURN_IF_ERROR(WriteFileAtomic(layout.dir() + "/index.json", DumpJson(index)));
  RETURN_IF_ERROR(WriteFileAtomic(layout.dir() + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  RETURN_IF_ERROR(WriteFileAtomic(layout.dir() + "/manifest.json", DumpJson(docker_manifest)));
  if (!repositories.empty())
    RETURN_IF_ERROR(WriteFileAtomic(layout.dir() + "/repositories", DumpJson(repositories)));
  ProgressMeter writing(store.progress(), "Writing", ShortName(out_path), 0);
  RETURN_IF_ERROR(TarDirectory(layout.dir(), out_path, &writing));
  writing.Finish();
  return Status::OK();
}

}  // namespace strata
