// strata load: an OCI image layout tar or a `docker save` tar. Everything is
// verified first (every blob against its sha256 digest, every layer's
// uncompressed bytes against its DiffID); only then do layers land.
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "format/archive_files.h"
#include "format/sha256.h"
#include "oci/image_import.h"
#include "oci/oci_config.h"
#include "store/scratch.h"
#include "strata/oci.h"
#include "util/file_util.h"
#include "util/progress_meter.h"
#include "util/status_macros.h"

namespace strata {

using nlohmann::json;

namespace {

Result<json> ReadJson(const std::string& path, const std::string& what) {
  auto text = ReadFile(path);
  if (!text.ok()) return Status::InvalidArgument("the archive has no readable " + what);
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) return Status::InvalidArgument(what + " is not JSON");
  return j;
}

// The unpacked archive: its regular files and directories under `root`, and
// the names of the symlinks it held (never made, never followed).
struct Unpacked {
  std::string root;
  std::set<std::string> symlinks;

  // A path inside it named by the archive itself.
  Result<std::string> Path(std::string rel) const {
    while (rel.rfind("./", 0) == 0) rel.erase(0, 2);
    if (rel.empty() || rel[0] == '/' || rel.find("..") != std::string::npos)
      return Status::InvalidArgument("the archive names a path outside itself: " + rel);
    if (symlinks.count(rel))
      return Status::InvalidArgument(rel + " is a symlink: such an archive is refused");
    return root + "/" + rel;
  }
};

Status VerifyBlob(const std::string& path, const std::string& digest) {
  if (!IsSha256Digest(digest)) return Status::InvalidArgument("unsupported digest " + digest);
  auto hex = Sha256File(path);
  if (!hex.ok()) return Status::InvalidArgument("blob " + digest + " is missing from the archive");
  if ("sha256:" + *hex != digest)
    return Status::InvalidArgument("blob " + digest + " does not match its digest");
  return Status::OK();
}

bool IsIndex(const json& descriptor, const json& blob) {
  std::string type = descriptor.value("mediaType", "");
  return type == kIndexType || type == kDockerListType || blob.contains("manifests");
}

Result<std::vector<PendingImage>> ReadOciLayout(const Unpacked& archive, const Platform& want) {
  ASSIGN_OR_RETURN(std::string index_path, archive.Path("index.json"));
  ASSIGN_OR_RETURN(json index, ReadJson(index_path, "index.json"));
  std::vector<PendingImage> out;
  // A blob named by a descriptor: its size as the descriptor says, then its digest.
  auto blob = [&](const json& descriptor) -> Result<std::string> {
    const std::string digest = descriptor.at("digest").get<std::string>();
    if (!IsSha256Digest(digest)) return Status::InvalidArgument("unsupported digest " + digest);
    ASSIGN_OR_RETURN(std::string path, archive.Path("blobs/sha256/" + digest.substr(7)));
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
      return Status::InvalidArgument("blob " + digest + " is missing from the archive");
    if (descriptor.contains("size") && descriptor["size"].is_number_unsigned() &&
        descriptor["size"].get<uint64_t>() != static_cast<uint64_t>(st.st_size)) {
      return Status::InvalidArgument("blob " + digest + " is " + std::to_string(st.st_size) +
                                     " bytes where its descriptor says " +
                                     std::to_string(descriptor["size"].get<uint64_t>()));
    }
    RETURN_IF_ERROR(VerifyBlob(path, digest));
    return path;
  };
  try {
    ASSIGN_OR_RETURN(std::vector<json> top, ForPlatform(index.at("manifests"), want, "the archive"));
    for (json d : top) {
      PendingImage image;
      if (d.contains("annotations") && d["annotations"].contains("org.opencontainers.image.ref.name"))
        image.names.push_back(d["annotations"]["org.opencontainers.image.ref.name"].get<std::string>());
      ASSIGN_OR_RETURN(std::string manifest_path, blob(d));
      ASSIGN_OR_RETURN(json manifest, ReadJson(manifest_path, "manifest"));
      if (IsIndex(d, manifest)) {  // one image for many platforms: take the one asked for
        ASSIGN_OR_RETURN(std::vector<json> inner, ForPlatform(manifest.at("manifests"), want, "the archive"));
        if (inner.empty()) return Status::InvalidArgument("an image index in the archive names no image");
        d = inner.front();
        ASSIGN_OR_RETURN(manifest_path, blob(d));
        ASSIGN_OR_RETURN(manifest, ReadJson(manifest_path, "manifest"));
        if (IsIndex(d, manifest)) return Status::Unsupported("image indexes nested twice are not supported");
      }
      ASSIGN_OR_RETURN(std::string config_path, blob(manifest.at("config")));
      ASSIGN_OR_RETURN(std::string config_text, ReadFile(config_path));
      ASSIGN_OR_RETURN(image.config, ParseOciConfig(config_text));
      if (d.contains("platform") && !PlatformMatches(DescriptorPlatform(d), image.config.image.platform)) {
        return Status::InvalidArgument("a manifest listed for " + PlatformString(DescriptorPlatform(d)) +
                                       " has a config for " + PlatformString(image.config.image.platform));
      }
      for (const json& l : manifest.at("layers")) {
        std::string type = l.value("mediaType", "");
        ASSIGN_OR_RETURN(BlobCompression declared, DeclaredCompression(type));
        std::string digest = l.at("digest").get<std::string>();
        ASSIGN_OR_RETURN(std::string layer_path, blob(l));
        image.layer_files.push_back(layer_path);
        image.sources.push_back({"", digest, "", type});
        image.declared.push_back(declared);
      }
      out.push_back(std::move(image));
    }
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("malformed OCI layout: ") + e.what());
  }
  return out;
}

Result<std::vector<PendingImage>> ReadDockerArchive(const Unpacked& archive) {
  ASSIGN_OR_RETURN(std::string manifest_path, archive.Path("manifest.json"));
  ASSIGN_OR_RETURN(json manifest, ReadJson(manifest_path, "manifest.json"));
  std::vector<PendingImage> out;
  try {
    for (const json& m : manifest) {
      PendingImage image;
      std::string config_rel = m.at("Config").get<std::string>();
      ASSIGN_OR_RETURN(std::string config_path, archive.Path(config_rel));
      // The config's name is its digest ("<hex>.json", or blobs/sha256/<hex>).
      std::string base = config_rel.substr(config_rel.rfind('/') + 1);
      if (base.size() > 5 && base.compare(base.size() - 5, 5, ".json") == 0) base.resize(base.size() - 5);
      RETURN_IF_ERROR(VerifyBlob(config_path, "sha256:" + base));
      ASSIGN_OR_RETURN(std::string config_text, ReadFile(config_path));
      ASSIGN_OR_RETURN(image.config, ParseOciConfig(config_text));
      if (m.contains("RepoTags") && m["RepoTags"].is_array())
        image.names = m["RepoTags"].get<std::vector<std::string>>();
      for (const json& l : m.at("Layers")) {
        ASSIGN_OR_RETURN(std::string path, archive.Path(l.get<std::string>()));
        if (!PathExists(path))
          return Status::InvalidArgument("layer " + l.get<std::string>() + " is missing");
        ASSIGN_OR_RETURN(std::string hex, Sha256File(path));
        image.layer_files.push_back(path);
        image.sources.push_back({"", "sha256:" + hex, "", ""});
        image.declared.push_back(std::nullopt);
      }
      out.push_back(std::move(image));
    }
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("malformed manifest.json: ") + e.what());
  }
  return out;
}

}  // namespace

Result<std::vector<Image>> LoadImages(Store& store, const std::string& path, const LoadOptions& options) {
  const Platform want = options.platform.empty() ? HostPlatform() : options.platform;
  if (!PathExists(path)) return Status::NotFound("no such file: " + path);
  ASSIGN_OR_RETURN(Scratch scratch, Scratch::Make(store.root()));
  char real[PATH_MAX];
  if (!::realpath(scratch.upper().c_str(), real)) return ErrnoStatus("realpath", scratch.upper());
  Unpacked archive{real, {}};
  {
    ProgressMeter unpacking(store.progress(), "Unpacking", ShortName(path), FileSizeOr0(path));
    RETURN_IF_ERROR(ExtractTar(path, archive.root,
                               {.files_only = true, .symlinks = &archive.symlinks, .progress = &unpacking})
                        .WithContext(path));
    unpacking.Finish();
  }

  std::vector<PendingImage> pending;
  const std::string& root = archive.root;
  if (PathExists(root + "/oci-layout")) {
    ASSIGN_OR_RETURN(pending, ReadOciLayout(archive, want));
  } else if (PathExists(root + "/manifest.json") || archive.symlinks.count("manifest.json")) {
    ASSIGN_OR_RETURN(pending, ReadDockerArchive(archive));
  } else {
    return Status::InvalidArgument(path + ": neither an OCI image layout nor a docker save archive");
  }
  if (pending.empty()) return Status::InvalidArgument(path + ": the archive holds no image");
  uint64_t layer_bytes = 0;
  for (const auto& image : pending)
    for (const auto& file : image.layer_files) layer_bytes += FileSizeOr0(file);
  ProgressMeter verifying(store.progress(), "Verifying", ShortName(path), layer_bytes);
  for (auto& image : pending) {
    // Without --platform an image of another platform loads (as docker's does) and is refused at run.
    const Platform& have = image.config.image.platform;
    if (!options.platform.empty() && !PlatformMatches(want, have)) {
      return Status::NotFound(path + ": the image in it is for " + PlatformString(have) + ", not " +
                              PlatformString(want));
    }
    RETURN_IF_ERROR(VerifyDiffIds(image, 1, &verifying).WithContext(path));
  }
  verifying.Finish();
  return ImportImages(store, pending, path);
}

}  // namespace strata
