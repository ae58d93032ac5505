// strata push: each layer blob unless the registry has it (HEAD), or can
// mount it from another repository of the same registry the image came
// from; the config; then the manifest (OCI, or Docker schema 2). Layer blobs
// are the ones a pull or load kept, or the layer exported reproducibly, so
// pushing the same image twice gives the same manifest digest.
#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "format/json.h"
#include "format/sha256.h"
#include "oci/image_import.h"
#include "oci/layer_blob.h"
#include "oci/oci_config.h"
#include "registry/registry_client.h"
#include "registry/registry_ref.h"
#include "store/scratch.h"
#include "strata/registry.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace strata {

using nlohmann::json;

namespace {

const char* kDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";

std::string Short(const std::string& digest) {
  return digest.substr(7, 12);
}

// The upload URL a 202 names (relative to the registry, or absolute), with `query` added.
std::string UploadUrl(const RegistryClient& client, const HttpResponse& r, const std::string& query) {
  std::string location = r.Header("location");
  if (location.find("://") == std::string::npos) {
    std::string base = client.Url("");
    base = base.substr(0, base.find("/v2/"));
    location = base + location;
  }
  return location + (location.find('?') == std::string::npos ? "?" : "&") + query;
}

Result<bool> HasBlob(RegistryClient& client, const std::string& digest) {
  HttpRequest head;
  head.method = "HEAD";
  head.url = "blobs/" + digest;
  auto r = client.Send(head);
  if (!r.ok()) return client.Error("blob " + digest, r.status());
  if (r->status == 200) return true;
  if (r->status == 404) return false;
  return client.Error("blob " + digest, *r);
}

// Uploads one blob (monolithic: POST for a session, PUT with the bytes), or
// mounts it from `mount_from` when the registry can.
Status UploadBlob(RegistryClient& client, const std::string& digest, const std::string& path,
                  const std::string& bytes, uint64_t size, const std::string& mount_from, bool* mounted) {
  HttpRequest start;
  start.method = "POST";
  start.url = "blobs/uploads/";
  if (!mount_from.empty()) start.url += "?mount=" + UrlEscape(digest) + "&from=" + UrlEscape(mount_from);
  auto r = client.Send(start);
  if (!r.ok()) return client.Error("upload of " + digest, r.status());
  if (r->status == 201) {  // mounted: the registry had it in the other repository
    *mounted = true;
    return Status::OK();
  }
  if (r->status != 202) return client.Error("upload of " + digest, *r);
  HttpRequest put;
  put.method = "PUT";
  put.url = UploadUrl(client, *r, "digest=" + UrlEscape(digest));
  put.headers = {"Content-Type: application/octet-stream"};
  UniqueFd fd;
  if (!path.empty()) {
    fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return ErrnoStatus("open", path);
    put.body_fd = fd.get();
    put.body_size = size;
  } else {
    put.body = bytes;
  }
  auto done = client.Send(put);
  if (!done.ok()) return client.Error("upload of " + digest, done.status());
  if (done->status != 201) return client.Error("upload of " + digest, *done);
  return Status::OK();
}

}  // namespace

Result<std::string> Push(Store& store, const std::string& image_ref, const std::string& target,
                         const PushOptions& options) {
  ASSIGN_OR_RETURN(Image image, store.GetImage(image_ref));
  std::string dest = target;
  if (dest.empty()) {
    if (image.names.empty())
      return Status::InvalidArgument("image " + image_ref + " has no name: say where to push it");
    dest = image.names.front();
    for (const auto& n : image.names) {
      if (n == image_ref || n == image_ref + ":latest") dest = n;
    }
  }
  ASSIGN_OR_RETURN(RegistryRef ref, ParseRegistryRef(dest));
  if (!ref.digest.empty()) return Status::InvalidArgument("push to a tag, not a digest: " + dest);
  auto event = [&](TransferEvent::Kind kind, const std::string& digest, uint64_t done, uint64_t total) {
    if (options.progress) options.progress({kind, Short(digest), done, total});
  };
  RegistryClient client(options.registry, ref.ApiHost(), ref.repository, true);
  // A repository on the same registry the image came from: blobs can be mounted from it.
  std::string mount_from;
  for (const auto& d : image.repo_digests) {
    auto at = d.find('@');
    auto from = ParseRegistryRef(d.substr(0, at));
    if (from.ok() && from->ApiHost() == ref.ApiHost() && from->repository != ref.repository) {
      mount_from = from->repository;
    }
  }

  ASSIGN_OR_RETURN(Scratch scratch, Scratch::Make(store.root()));
  json layers = json::array();
  std::vector<std::string> diff_ids;
  for (size_t i = 0; i < image.layers.size(); ++i) {
    ASSIGN_OR_RETURN(LayerBlob blob, GetLayerBlob(store, image.layers[i], options.compression,
                                                  scratch.dir() + "/layer" + std::to_string(i)));
    std::string media_type = blob.media_type;
    if (options.docker_format) {
      ASSIGN_OR_RETURN(BlobCompression c, DeclaredCompression(media_type));
      if (c != BlobCompression::kGzip) {
        return Status::Unsupported("Docker schema 2 carries gzip layers only; layer " + Short(blob.digest) +
                                   " is " + BlobCompressionName(c) + " (push with --format oci)");
      }
      media_type = kDockerLayerGzip;
    }
    ASSIGN_OR_RETURN(bool has, HasBlob(client, blob.digest));
    if (has) {
      event(TransferEvent::kExists, blob.digest, blob.size, blob.size);
    } else {
      event(TransferEvent::kPushing, blob.digest, 0, blob.size);
      bool mounted = false;
      RETURN_IF_ERROR(UploadBlob(client, blob.digest, blob.path, "", blob.size, mount_from, &mounted));
      event(mounted ? TransferEvent::kMounted : TransferEvent::kDone, blob.digest, blob.size, blob.size);
    }
    if (blob.temporary) ::unlink(blob.path.c_str());
    layers.push_back({{"mediaType", media_type}, {"digest", blob.digest}, {"size", blob.size}});
    diff_ids.push_back(blob.diff_id);
  }
  const std::string config = OciConfigJson(image, diff_ids);
  const std::string config_digest = "sha256:" + Sha256Hex(config);
  ASSIGN_OR_RETURN(bool has_config, HasBlob(client, config_digest));
  if (!has_config) {
    bool mounted = false;
    RETURN_IF_ERROR(UploadBlob(client, config_digest, "", config, config.size(), "", &mounted));
  }
  const char* manifest_type = options.docker_format ? kDockerManifestType : kOciManifestType;
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", manifest_type},
                   {"config",
                    {{"mediaType", options.docker_format ? kDockerConfigType : kOciConfigType},
                     {"digest", config_digest},
                     {"size", config.size()}}},
                   {"layers", layers}};
  const std::string body = DumpJson(manifest);
  const std::string digest = "sha256:" + Sha256Hex(body);
  HttpRequest put;
  put.method = "PUT";
  put.url = "manifests/" + ref.tag;
  put.headers = {std::string("Content-Type: ") + manifest_type};
  put.body = body;
  auto r = client.Send(put);
  if (!r.ok()) return client.Error("manifest " + ref.tag, r.status());
  if (r->status != 201 && r->status != 200) return client.Error("manifest " + ref.tag, *r);
  if (std::string said = r->Header("docker-content-digest"); !said.empty() && said != digest) {
    return Status::IOError(client.Repo() + ": the registry stored the manifest as " + said + ", not " +
                           digest);
  }
  const std::string local = ref.LocalName();
  RETURN_IF_ERROR(store.AddRepoDigest(image.id, local.substr(0, local.rfind(':')) + "@" + digest));
  return digest;
}

}  // namespace strata
