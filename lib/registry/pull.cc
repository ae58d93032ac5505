// strata pull: a manifest (or an index, and the manifest in it for the
// platform), the config, then the layers, several at once, each streamed to a
// file under <root>/partial/ while its sha256 is computed, so a blob cut short
// resumes with a Range request next time. The layers then import in order,
// each checked against its DiffID on another core meanwhile: a layer lands
// only once its check passes, and a failure undoes what the pull added.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "format/sha256.h"
#include "oci/image_import.h"
#include "oci/oci_config.h"
#include "registry/registry_client.h"
#include "registry/registry_ref.h"
#include "strata/registry.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace strata {

using nlohmann::json;

namespace {

constexpr size_t kMaxManifest = 4 << 20;
constexpr size_t kMaxConfig = 16 << 20;

const char* kAcceptManifests =
    "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

struct Manifest {
  std::string digest;  // sha256:<hex> of its bytes
  std::string media_type;
  json body;
};

std::string Short(const std::string& digest) {
  auto colon = digest.find(':');
  return digest.substr(colon == std::string::npos ? 0 : colon + 1, 12);
}

// GET a manifest by tag or digest; its digest is computed from its bytes and
// must be the one asked for (by digest) and the one the registry says.
Result<Manifest> FetchManifest(RegistryClient& client, const std::string& reference) {
  HttpRequest req;
  req.url = "manifests/" + reference;
  req.headers = {kAcceptManifests};
  req.max_body = kMaxManifest;
  auto r = client.Send(req);
  if (!r.ok()) return client.Error("manifest " + reference, r.status());
  if (r->status != 200) return client.Error("manifest " + reference, *r);
  Manifest m;
  m.digest = "sha256:" + Sha256Hex(r->body);
  if (reference.starts_with("sha256:") && m.digest != reference) {
    return Status::InvalidArgument(client.Repo() + ": manifest " + reference +
                                   " does not match its digest (got " + m.digest + ")");
  }
  if (std::string said = r->Header("docker-content-digest"); !said.empty() && said != m.digest) {
    return Status::InvalidArgument(client.Repo() + ": manifest " + reference + " is " + m.digest +
                                   " but the registry says " + said);
  }
  m.body = json::parse(r->body, nullptr, false);
  if (m.body.is_discarded() || !m.body.is_object()) {
    return Status::InvalidArgument(client.Repo() + ": manifest " + reference + " is not a JSON object");
  }
  m.media_type = m.body.value("mediaType", r->Header("content-type"));
  return m;
}

struct Descriptor {
  std::string media_type, digest;
  uint64_t size = 0;
};

Result<Descriptor> ReadDescriptor(const json& j, const std::string& what) {
  if (!j.is_object() || !j.contains("digest") || !j["digest"].is_string() || !j.contains("size") ||
      !j["size"].is_number_unsigned()) {
    return Status::InvalidArgument(what + ": a descriptor without a digest or size");
  }
  Descriptor d{j.value("mediaType", ""), j["digest"].get<std::string>(), j["size"].get<uint64_t>()};
  if (!IsSha256Digest(d.digest)) return Status::InvalidArgument(what + ": unsupported digest " + d.digest);
  return d;
}

// Fetches a blob whole into memory (a config), verified.
Result<std::string> FetchSmallBlob(RegistryClient& client, const Descriptor& d) {
  if (d.size > kMaxConfig)
    return Status::InvalidArgument(client.Repo() + ": config " + d.digest + " is too large");
  HttpRequest req;
  req.url = "blobs/" + d.digest;
  req.max_body = kMaxConfig;
  auto r = client.Send(req);
  if (!r.ok()) return client.Error("blob " + d.digest, r.status());
  if (r->status != 200) return client.Error("blob " + d.digest, *r);
  if ("sha256:" + Sha256Hex(r->body) != d.digest || r->body.size() != d.size) {
    return Status::InvalidArgument(client.Repo() + ": blob " + d.digest + " does not match its digest");
  }
  return r->body;
}

// Streams a layer blob to `path`, resuming what an earlier pull left there.
Status FetchLayerBlob(RegistryClient& client, const Descriptor& d, const std::string& path, int retries,
                      const std::function<void(const TransferEvent&)>& progress) {
  const std::string id = Short(d.digest);
  auto report = [&](TransferEvent::Kind kind, uint64_t done) {
    if (progress) progress({kind, id, done, d.size});
  };
  Status last_error;
  // A connection dropped mid-blob is taken up where it stopped (Range), `retries` times.
  for (int attempt = 0; attempt <= retries; ++attempt) {
    auto hasher = std::make_unique<Sha256>();
    uint64_t have = 0;
    if (PathExists(path)) {  // what an earlier pull fetched: hashed again, then continued
      Status st = ReadChunks(path, [&](const char* data, size_t len) {
        hasher->Update(data, len);
        have += len;
        return Status::OK();
      });
      if (!st.ok() || have > d.size) {
        ::unlink(path.c_str());
        hasher = std::make_unique<Sha256>();
        have = 0;
      }
    }
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (fd.get() < 0) return ErrnoStatus("open", path);
    HttpRequest req;
    req.url = "blobs/" + d.digest;
    if (have > 0 && have < d.size) req.headers.push_back("Range: bytes=" + std::to_string(have) + "-");
    uint64_t last_report = 0;
    req.on_success = [&](long status) -> Status {
      if (status == 200 && have > 0) {  // the whole blob again: start over
        if (::ftruncate(fd.get(), 0) != 0) return ErrnoStatus("truncate", path);
        hasher = std::make_unique<Sha256>();
        have = 0;
      }
      return Status::OK();
    };
    req.sink = [&](const char* data, size_t len) -> Status {
      if (have + len > d.size) {
        return Status::InvalidArgument(client.Repo() + ": blob " + d.digest + " is longer than its " +
                                       std::to_string(d.size) + " bytes");
      }
      RETURN_IF_ERROR(WriteAll(fd.get(), data, len, path));
      hasher->Update(data, len);
      have += len;
      if (have - last_report >= (1u << 20) || have == d.size) {
        last_report = have;
        report(TransferEvent::kDownloading, have);
      }
      return Status::OK();
    };
    if (have < d.size) {
      auto r = client.Send(req);
      if (!r.ok()) {
        last_error = client.Error("blob " + d.digest, r.status());
        if (r.status().code() != Code::kIOError) return last_error;  // a sink's refusal: no retry
        ::usleep(200'000u << std::min(attempt, 4));
        continue;
      }
      if (r->status == 416) {  // the partial file is not a prefix: start over
        ::unlink(path.c_str());
        last_error = client.Error("blob " + d.digest, *r);
        continue;
      }
      if (r->status != 200 && r->status != 206) return client.Error("blob " + d.digest, *r);
    }
    report(TransferEvent::kVerifying, have);
    if (::fsync(fd.get()) != 0) return ErrnoStatus("fsync", path);
    if (have != d.size || "sha256:" + hasher->HexDigest() != d.digest) {
      ::unlink(path.c_str());
      return Status::InvalidArgument(client.Repo() + ": blob " + d.digest +
                                     (have != d.size ? " ended after " + std::to_string(have) + " of " +
                                                           std::to_string(d.size) + " bytes"
                                                     : " does not match its digest"));
    }
    return Status::OK();
  }
  return last_error;
}

// The layers the store has from a pull or load, by (parent, DiffID): read once
// per pull (each layer's source record is a file).
Result<std::map<std::pair<std::string, std::string>, std::string>> LayersByDiffId(Store& store) {
  std::map<std::pair<std::string, std::string>, std::string> out;
  ASSIGN_OR_RETURN(auto layers, store.ListLayers());
  for (const auto& layer : layers) {
    ASSIGN_OR_RETURN(auto source, store.GetLayerSource(layer.id));
    if (source) out.emplace(std::pair(layer.parent, source->diff_id), layer.id);
  }
  return out;
}

}  // namespace

Result<Image> Pull(Store& store, const std::string& ref_text, const PullOptions& options) {
  ASSIGN_OR_RETURN(RegistryRef ref, ParseRegistryRef(ref_text));
  RegistryClient client(options.registry, ref.ApiHost(), ref.repository, false);
  const Platform want = options.platform.empty() ? HostPlatform() : options.platform;

  ASSIGN_OR_RETURN(Manifest top, FetchManifest(client, ref.Reference()));
  Manifest manifest = top;
  if (top.body.contains("manifests")) {  // an index: the image for the platform
    if (!top.body["manifests"].is_array())
      return Status::InvalidArgument(client.Repo() + ": a malformed index");
    ASSIGN_OR_RETURN(std::vector<json> chosen,
                     ForPlatform(top.body["manifests"], want, client.Repo() + ": the index"));
    if (chosen.empty()) return Status::NotFound(client.Repo() + ": the index lists no image");
    ASSIGN_OR_RETURN(Descriptor d, ReadDescriptor(chosen.front(), client.Repo()));
    ASSIGN_OR_RETURN(manifest, FetchManifest(client, d.digest));
  }
  const json& m = manifest.body;
  if (m.value("schemaVersion", 0) != 2 || !m.contains("config") || !m.contains("layers") ||
      !m["layers"].is_array()) {
    return Status::Unsupported(client.Repo() + ": manifest " + manifest.digest +
                               " is not an OCI or Docker schema 2 image manifest");
  }
  ASSIGN_OR_RETURN(Descriptor config_d, ReadDescriptor(m["config"], client.Repo()));
  ASSIGN_OR_RETURN(std::string config_text, FetchSmallBlob(client, config_d));
  ASSIGN_OR_RETURN(OciImageConfig config, ParseOciConfig(config_text));
  if (!PlatformMatches(want, config.image.platform) && !options.platform.empty()) {
    return Status::NotFound(client.Repo() + ": the image is for " + PlatformString(config.image.platform) +
                            ", not " + PlatformString(want));
  }
  std::vector<Descriptor> layers;
  for (const json& l : m["layers"]) {
    ASSIGN_OR_RETURN(Descriptor d, ReadDescriptor(l, client.Repo()));
    layers.push_back(d);
  }
  if (layers.size() != config.diff_ids.size()) {
    return Status::InvalidArgument(client.Repo() + ": the config names " +
                                   std::to_string(config.diff_ids.size()) + " layers, the manifest " +
                                   std::to_string(layers.size()));
  }

  // Which layers are here already (same DiffID on the same parent): those are not fetched.
  std::vector<std::optional<std::string>> existing(layers.size());
  {
    ASSIGN_OR_RETURN(auto known, LayersByDiffId(store));
    std::string parent;
    for (size_t i = 0; i < layers.size(); ++i) {
      auto found = known.find({parent, config.diff_ids[i]});
      if (found == known.end()) break;  // above a missing layer nothing can exist yet
      existing[i] = found->second;
      parent = found->second;
    }
  }
  const std::string partial_dir = store.root() + "/partial";
  RETURN_IF_ERROR(MakePrivateDir(partial_dir));
  PendingImage pending;
  if (ref.digest.empty()) pending.names = {ref.LocalName()};  // pinned by digest: no tag, as docker
  pending.config = config;
  for (size_t i = 0; i < layers.size(); ++i) {
    ASSIGN_OR_RETURN(BlobCompression declared, DeclaredCompression(layers[i].media_type));
    pending.declared.push_back(declared);
    pending.layer_files.push_back(partial_dir + "/" + layers[i].digest.substr(7));
    pending.sources.push_back({"", layers[i].digest, config.diff_ids[i], layers[i].media_type});
    pending.existing.push_back(existing[i].value_or(""));
    if (options.progress)
      options.progress({existing[i] ? TransferEvent::kExists : TransferEvent::kWaiting,
                        Short(layers[i].digest), 0, layers[i].size});
  }

  // Fetch, `parallel` at once, each on its own connection.
  std::atomic<size_t> next = 0;
  std::mutex mu;
  Status failed;
  auto progress = [&](const TransferEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    if (options.progress) options.progress(e);
  };
  auto worker = [&] {
    RegistryClient own(options.registry, ref.ApiHost(), ref.repository, false);
    for (size_t i; (i = next.fetch_add(1)) < layers.size();) {
      if (existing[i]) continue;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!failed.ok()) return;
      }
      Status st = FetchLayerBlob(own, layers[i], pending.layer_files[i], options.registry.retries, progress);
      std::lock_guard<std::mutex> lock(mu);
      if (!st.ok() && failed.ok()) failed = st;
    }
  };
  const int threads = std::max(1, std::min<int>(options.parallel, static_cast<int>(layers.size())));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  RETURN_IF_ERROR(failed);

  // Each fetched layer's DiffID (and media type) is checked on another core
  // while the layer imports; the import waits for the verdict before it lands.
  std::vector<size_t> fetched;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (!existing[i]) fetched.push_back(i);
  }
  std::vector<std::promise<Status>> verdicts(layers.size());
  pending.before_commit.resize(layers.size());
  for (size_t i : fetched) {
    pending.before_commit[i] = [verdict = verdicts[i].get_future().share()] { return verdict.get(); };
  }
  std::thread verifier([&] {
    for (size_t i : fetched) {
      PendingImage one;
      one.layer_files = {pending.layer_files[i]};
      one.sources = {pending.sources[i]};
      one.declared = {pending.declared[i]};
      one.config.diff_ids = {config.diff_ids[i]};
      verdicts[i].set_value(VerifyDiffIds(one, i + 1).WithContext(client.Repo()));
    }
  });
  std::vector<PendingImage> images = {pending};
  auto imported = ImportImages(store, images, client.Repo());
  verifier.join();
  // Imported (the store has them) or refused (bad bytes are not resumed): the blobs go.
  for (size_t i : fetched) ::unlink(pending.layer_files[i].c_str());
  if (!imported.ok()) return imported.status();
  Image image = imported->front();
  const std::string local = ref.LocalName();
  RETURN_IF_ERROR(store.AddRepoDigest(image.id, local.substr(0, local.rfind(':')) + "@" + top.digest));
  for (size_t i : fetched) {
    if (options.progress)
      options.progress({TransferEvent::kDone, Short(layers[i].digest), layers[i].size, layers[i].size});
  }
  ASSIGN_OR_RETURN(Image final_image, store.GetImage(image.id));
  return final_image;
}

Result<std::vector<std::string>> ListRegistryTags(const std::string& repository,
                                                  const RegistryOptions& options) {
  ASSIGN_OR_RETURN(RegistryRef ref, ParseRegistryRef(repository));
  if (repository.find('@') != std::string::npos || repository.rfind(':') > repository.rfind('/')) {
    return Status::InvalidArgument("all tags of " + repository +
                                   ": name a repository, without a tag or digest");
  }
  RegistryClient client(options, ref.ApiHost(), ref.repository, false);
  std::vector<std::string> tags;
  std::string url = "tags/list?n=1000";
  while (!url.empty()) {
    HttpRequest req;
    req.url = url;
    auto r = client.Send(req);
    if (!r.ok()) return client.Error("tags", r.status());
    if (r->status != 200) return client.Error("tags", *r);
    json j = json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return Status::InvalidArgument(client.Repo() + ": tags: not JSON");
    if (j.contains("tags") && j["tags"].is_array()) {
      for (const auto& t : j["tags"]) {
        if (t.is_string()) tags.push_back(t.get<std::string>());
      }
    }
    // Link: </v2/<name>/tags/list?n=1000&last=x>; rel="next"
    url.clear();
    if (std::string link = r->Header("link"); link.find("rel=\"next\"") != std::string::npos) {
      auto lt = link.find('<'), gt = link.find('>');
      if (lt != std::string::npos && gt != std::string::npos && gt > lt) {
        std::string next = link.substr(lt + 1, gt - lt - 1);
        auto base = client.Url("");
        url = next.find("://") != std::string::npos ? next : base.substr(0, base.find("/v2/")) + next;
      }
    }
  }
  return tags;
}

}  // namespace strata
