#include "strata/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "format/image_json.h"
#include "format/index_codec.h"
#include "format/reference.h"
#include "store/migrate.h"
#include "store/scratch.h"
#include "store/store_impl.h"
#include "store/tar_writer.h"
#include "util/file_lock.h"
#include "util/file_util.h"
#include "util/parallel.h"
#include "util/status_macros.h"

namespace strata {

namespace {

constexpr const char* kTopDirs[] = {"blobs", "layers", "images"};

Status LoadOrCreateSecret(const std::string& root, Secret* secret) {
  std::string path = root + "/secret";
  auto existing = ReadFile(path);
  if (existing.ok()) {
    if (existing->size() != secret->size())
      return Status::Corruption("store secret " + path + " has the wrong size");
    std::memcpy(secret->data(), existing->data(), secret->size());
    return Status::OK();
  }
  if (existing.status().code() != Code::kNotFound) return existing.status();
  RETURN_IF_ERROR(FillRandom(secret->data(), secret->size()));
  return WriteFileAtomic(path, std::string_view(reinterpret_cast<char*>(secret->data()), secret->size()),
                         0600);
}

// Temporary files of an operation that crashed: only safe to remove while we
// hold the writer lock.
// blobs/ is not listed: its temporaries are made under tmp/ (a big directory
// would cost every open a long listing); format 2's were removed by its migration.
void RemoveStaleTemps(const std::string& root) {
  for (const char* top : {"layers", "images", "meta", "tmp"}) {
    std::string dir = root + "/" + top;
    auto names = ListDir(dir);
    if (!names.ok()) continue;
    for (const auto& name : *names) {
      if (name.starts_with(".tmp-")) (void)RemoveAll(dir + "/" + name);
    }
  }
}

// Every top directory 0700 and every file at the root 0600 (the catalog's WAL
// files included): what an older strata left with looser modes, or a umask.
Status TightenStore(const std::string& root) {
  for (const char* top : kTopDirs) {
    if (PathExists(root + "/" + top)) RETURN_IF_ERROR(TightenMode(root + "/" + top, 0700));
  }
  for (const char* name : {"tmp", "containers", "volumes"}) {
    if (PathExists(root + "/" + name)) RETURN_IF_ERROR(TightenMode(root + "/" + name, 0700));
  }
  for (const char* file : {"secret", "lock", "catalog.db", "catalog.db-wal", "catalog.db-shm"}) {
    if (PathExists(root + "/" + file)) RETURN_IF_ERROR(TightenMode(root + "/" + file, 0600));
  }
  return Status::OK();
}

}  // namespace

std::string Store::Impl::ChainId(const std::string& parent, const Digest& diff) const {
  std::string input = "strata-layer-v1";
  input += '\0';
  input += parent;
  input += '\0';
  input += diff.Hex();
  return HashBytes(secret, input.data(), input.size()).Hex();
}

Result<std::string> Store::Impl::ResolveLayerId(const std::string& id_or_prefix) {
  if (!LooksLikeId(id_or_prefix)) return Status::NotFound("no such layer: " + id_or_prefix);
  ASSIGN_OR_RETURN(auto ids, catalog->IdsWithPrefix("layers", id_or_prefix));
  if (ids.empty()) return Status::NotFound("no such layer: " + id_or_prefix);
  if (ids.size() > 1) return Status::InvalidArgument("layer id prefix " + id_or_prefix + " is ambiguous");
  return ids[0];
}

Result<std::string> Store::Impl::ResolveImageId(const std::string& ref) {
  if (auto name = NormalizeReference(ref); name.ok()) {
    ASSIGN_OR_RETURN(auto target, catalog->TagTarget(*name));
    if (target) return *target;
  }
  if (LooksLikeId(ref)) {
    ASSIGN_OR_RETURN(auto ids, catalog->IdsWithPrefix("images", ref));
    if (ids.size() > 1) return Status::InvalidArgument("image id prefix " + ref + " is ambiguous");
    if (ids.size() == 1) return ids[0];
  }
  return Status::NotFound("no such image: " + ref);
}

Result<Image> Store::Impl::LoadImage(const std::string& id) {
  std::string path = ImageDir(id) + "/config.json";
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  if (HashBytes(secret, text.data(), text.size()).Hex() != id) {
    return Status::Corruption("image config " + path + " does not match its digest");
  }
  ASSIGN_OR_RETURN(Image image, DecodeImageConfig(text));
  image.id = id;
  if (image.platform.empty()) image.platform = HostPlatform();  // recorded before platforms were

  ASSIGN_OR_RETURN(auto tags, catalog->TagsByImage());
  auto [first, last] = tags.equal_range(id);
  for (auto it = first; it != last; ++it) image.names.push_back(it->second);
  ASSIGN_OR_RETURN(auto digests, catalog->RepoDigestsByImage());
  auto [dfirst, dlast] = digests.equal_range(id);
  for (auto it = dfirst; it != dlast; ++it) image.repo_digests.push_back(it->second);
  return image;
}

Result<std::shared_ptr<const std::string_view>> Store::Impl::LoadIndexBytes(const LayerInfo& layer) {
  const std::string path = LayerDir(layer.id) + "/index";
  ASSIGN_OR_RETURN(auto raw, MapFile(path));
  if (HashBytes(secret, raw->data(), raw->size()).Hex() != layer.diff_digest) {
    return Status::Corruption("layer index " + path + " does not match its digest");
  }
  return raw;
}

Result<LayerIndex> Store::Impl::LoadIndex(const LayerInfo& layer) {
  ASSIGN_OR_RETURN(auto raw, LoadIndexBytes(layer));
  return DecodeIndex(*raw);
}

Result<Image> Store::Impl::WriteImageConfig(Image image, bool* created) {
  image.names.clear();
  if (image.platform.empty()) image.platform = HostPlatform();  // made here, from nothing
  std::string text = EncodeImageConfig(image);
  image.id = HashBytes(secret, text.data(), text.size()).Hex();
  std::string dir = ImageDir(image.id);
  *created = !PathExists(dir + "/config.json");
  if (*created) {
    RETURN_IF_ERROR(MakeDirs(dir));
    RETURN_IF_ERROR(WriteFileAtomic(dir + "/config.json", text));
  }
  return image;
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

const std::string& Store::root() const {
  return impl_->root;
}

void Store::SetProgress(ProgressFn fn) {
  impl_->progress = std::move(fn);
}

const ProgressFn& Store::progress() const {
  return impl_->progress;
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& root) {
  if (root.empty()) return Status::InvalidArgument("store root is empty");
  auto impl = std::make_unique<Impl>();
  impl->root = root;
  while (impl->root.size() > 1 && impl->root.back() == '/') impl->root.pop_back();
  // Private to its owner (root): image and container data, the catalog and the
  // secret are no one else's business. An older store's looser modes are
  // tightened here.
  RETURN_IF_ERROR(MakePrivateDir(impl->root));
  if (PathExists(impl->root + "/secret")) {
    // An existing store: readers must not wait for a writer (an import can
    // hold the lock for minutes), and nothing here needs it.
    RETURN_IF_ERROR(LoadOrCreateSecret(impl->root, &impl->secret));
  } else {
    ASSIGN_OR_RETURN(FileLock lock, AcquireStoreLock(impl->root));
    for (const char* top : kTopDirs) RETURN_IF_ERROR(MakePrivateDir(impl->root + "/" + top));
    RETURN_IF_ERROR(LoadOrCreateSecret(impl->root, &impl->secret));
  }
  ASSIGN_OR_RETURN(impl->catalog, Catalog::Open(impl->root + "/catalog.db"));
  RETURN_IF_ERROR(TightenStore(impl->root));
  ASSIGN_OR_RETURN(int format, impl->catalog->FormatVersion());
  if (format != kStoreFormat) {  // refused when newer; migrated when older
    ASSIGN_OR_RETURN(FileLock lock, AcquireStoreLock(impl->root));
    RETURN_IF_ERROR(MigrateStore(impl->root, *impl->catalog));
  }
  if (auto lock = TryAcquireStoreLock(impl->root); lock.ok()) RemoveStaleTemps(impl->root);
  RemoveStaleScratch(impl->root);
  impl->blobs = std::make_unique<BlobStore>(impl->root + "/blobs", impl->secret, impl->root + "/tmp");
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Result<std::vector<Image>> Store::ListImages() {
  ASSIGN_OR_RETURN(auto rows, impl_->catalog->Images());
  std::vector<Image> out;
  for (const auto& row : rows) {
    ASSIGN_OR_RETURN(Image image, impl_->LoadImage(row.id));
    out.push_back(std::move(image));
  }
  return out;
}

Result<Image> Store::GetImage(const std::string& ref) {
  ASSIGN_OR_RETURN(std::string id, impl_->ResolveImageId(ref));
  return impl_->LoadImage(id);
}

Status Store::Tag(const std::string& ref, const std::string& new_ref) {
  ASSIGN_OR_RETURN(std::string name, NormalizeReference(new_ref));
  ASSIGN_OR_RETURN(FileLock lock, AcquireStoreLock(impl_->root));
  ASSIGN_OR_RETURN(std::string id, impl_->ResolveImageId(ref));
  return impl_->catalog->SetTag(name, id);
}

Status Store::AddRepoDigest(const std::string& ref, const std::string& repo_digest) {
  ASSIGN_OR_RETURN(FileLock lock, AcquireStoreLock(impl_->root));
  ASSIGN_OR_RETURN(std::string id, impl_->ResolveImageId(ref));
  return impl_->catalog->SetRepoDigest(repo_digest, id);
}

Result<RemoveImageReport> Store::RemoveImage(const std::string& ref, const RemoveImageOptions& options) {
  ASSIGN_OR_RETURN(FileLock lock, AcquireStoreLock(impl_->root));
  ASSIGN_OR_RETURN(std::string id, impl_->ResolveImageId(ref));
  ASSIGN_OR_RETURN(Image image, impl_->LoadImage(id));
  RemoveImageReport report;
  Catalog& catalog = *impl_->catalog;
  Catalog::Transaction txn(catalog);
  RETURN_IF_ERROR(txn.status());

  auto name = NormalizeReference(ref);
  bool by_name = name.ok() && std::find(image.names.begin(), image.names.end(), *name) != image.names.end();
  if (by_name && image.names.size() > 1) {
    RETURN_IF_ERROR(catalog.DeleteTag(*name));
    RETURN_IF_ERROR(txn.Commit());
    report.untagged.push_back(*name);
    return report;
  }
  if (!by_name && image.names.size() > 1 && !options.force) {
    return Status::InUse("image " + id.substr(0, 12) + " has " + std::to_string(image.names.size()) +
                         " names; remove them one by one or force");
  }
  ASSIGN_OR_RETURN(auto holds, catalog.Holds(id));
  if (!holds.empty()) {
    return Status::InUse("image " + id.substr(0, 12) + " is used by " + holds.front().description +
                         " (remove it first)");
  }
  report.untagged = image.names;
  report.deleted_image = id;
  RETURN_IF_ERROR(catalog.DeleteImage(id));
  Impl::Garbage garbage;
  if (!image.layers.empty()) {
    ASSIGN_OR_RETURN(garbage, impl_->CollectLayers({image.layers.back()}));
  }
  RETURN_IF_ERROR(txn.Commit());
  // The catalog no longer names these; a crash from here on leaves only garbage.
  (void)RemoveAll(impl_->ImageDir(id));
  impl_->RemoveGarbage(garbage);
  report.deleted_layers = garbage.layers;
  return report;
}

Result<std::vector<LayerInfo>> Store::ListLayers() {
  return impl_->catalog->Layers();
}

Result<LayerInfo> Store::GetLayer(const std::string& id_or_prefix) {
  ASSIGN_OR_RETURN(std::string id, impl_->ResolveLayerId(id_or_prefix));
  ASSIGN_OR_RETURN(auto layer, impl_->catalog->FindLayer(id));
  if (!layer) return Status::NotFound("no such layer: " + id_or_prefix);
  return *layer;
}

Result<std::vector<std::string>> Store::LayerChain(const std::string& top_layer) {
  std::vector<std::string> chain;
  for (std::string id = top_layer; !id.empty();) {
    ASSIGN_OR_RETURN(auto layer, impl_->catalog->FindLayer(id));
    if (!layer) return Status::NotFound("no such layer: " + id);
    chain.push_back(id);
    id = layer->parent;
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

Result<LayerIndex> Store::ReadLayerIndex(const std::string& id_or_prefix) {
  ASSIGN_OR_RETURN(LayerInfo layer, GetLayer(id_or_prefix));
  return impl_->LoadIndex(layer);
}

namespace {

// Reading, checking and decoding indexes is most of what opening an image
// costs (a mount's start): each layer's on a core of its own.
template <typename T, typename Load>
Result<std::vector<T>> LoadEach(Store& store, const std::vector<std::string>& ids_or_prefixes, Load load) {
  std::vector<LayerInfo> layers;
  for (const auto& id : ids_or_prefixes) {
    ASSIGN_OR_RETURN(LayerInfo layer, store.GetLayer(id));
    layers.push_back(std::move(layer));
  }
  std::vector<std::optional<Result<T>>> loaded(layers.size());
  ParallelFor(layers.size(), [&](size_t i) { loaded[i] = load(layers[i]); });
  std::vector<T> out;
  for (auto& one : loaded) {
    if (!one->ok()) return one->status();
    out.push_back(std::move(*one).value());
  }
  return out;
}

}  // namespace

Result<std::vector<LayerIndex>> Store::ReadLayerIndexes(const std::vector<std::string>& ids_or_prefixes) {
  return LoadEach<LayerIndex>(*this, ids_or_prefixes,
                              [this](const LayerInfo& l) { return impl_->LoadIndex(l); });
}

Result<std::vector<std::shared_ptr<const std::string_view>>> Store::ReadLayerIndexBytes(
    const std::vector<std::string>& ids_or_prefixes) {
  return LoadEach<std::shared_ptr<const std::string_view>>(
      *this, ids_or_prefixes, [this](const LayerInfo& l) { return impl_->LoadIndexBytes(l); });
}

Result<std::vector<LayerIndex>> Store::ReadLayerChainIndexes(const std::string& top_layer) {
  if (top_layer.empty()) return std::vector<LayerIndex>();
  ASSIGN_OR_RETURN(auto chain, LayerChain(top_layer));
  return ReadLayerIndexes(chain);
}

Status Store::RemoveLayer(const std::string& id_or_prefix) {
  ASSIGN_OR_RETURN(FileLock lock, AcquireStoreLock(impl_->root));
  ASSIGN_OR_RETURN(std::string id, impl_->ResolveLayerId(id_or_prefix));
  Catalog& catalog = *impl_->catalog;
  Catalog::Transaction txn(catalog);
  RETURN_IF_ERROR(txn.status());
  ASSIGN_OR_RETURN(Catalog::LayerUser user, catalog.FindLayerUser(id));
  if (!user.none()) return Status::InUse("layer " + id.substr(0, 12) + " is in use by " + user.Describe());
  ASSIGN_OR_RETURN(auto dead_blobs, catalog.DeleteLayer(id));
  RETURN_IF_ERROR(txn.Commit());
  impl_->RemoveGarbage({.layers = {id}, .blobs = std::move(dead_blobs)});
  return Status::OK();
}

Digest Store::Hash(std::string_view data) const {
  return HashBytes(impl_->secret, data.data(), data.size());
}

Result<Digest> Store::HashFile(const std::string& path) const {
  Hasher hasher(impl_->secret);
  RETURN_IF_ERROR(ReadChunks(path, [&](const char* data, size_t len) {
    hasher.Update(data, len);
    return Status::OK();
  }));
  return hasher.Finish();
}

std::string Store::BlobDir() const {
  return impl_->root + "/blobs";
}

std::string Store::BlobPath(const Digest& digest) const {
  return impl_->blobs->PathOf(digest);
}

Status Store::VerifyBlob(const Digest& digest) {
  return impl_->blobs->Verify(digest);
}

Status Store::HoldImage(const ImageHold& hold) {
  ASSIGN_OR_RETURN(FileLock lock, AcquireStoreLock(impl_->root));
  ASSIGN_OR_RETURN(auto row, impl_->catalog->FindImage(hold.image_id));
  if (!row) return Status::NotFound("no such image: " + hold.image_id);
  return impl_->catalog->InsertHold(hold.image_id, hold.holder, hold.description);
}

Status Store::ReleaseImage(const std::string& image_id, const std::string& holder) {
  ASSIGN_OR_RETURN(FileLock lock, AcquireStoreLock(impl_->root));
  return impl_->catalog->DeleteHold(image_id, holder);
}

Status Store::HoldLayer(const LayerHold& hold) {
  ASSIGN_OR_RETURN(FileLock lock, AcquireStoreLock(impl_->root));
  ASSIGN_OR_RETURN(auto row, impl_->catalog->FindLayer(hold.layer_id));
  if (!row) return Status::NotFound("no such layer: " + hold.layer_id);
  return impl_->catalog->InsertLayerHold(hold.layer_id, hold.holder, hold.description);
}

Result<std::vector<std::string>> Store::ReleaseLayer(const std::string& layer_id, const std::string& holder) {
  return impl_->RemoveLayersIfUnused([&]() -> Result<std::vector<std::string>> {
    RETURN_IF_ERROR(impl_->catalog->DeleteLayerHold(layer_id, holder));
    return std::vector<std::string>{layer_id};
  });
}

Result<std::vector<LayerHold>> Store::ListLayerHolds() {
  ASSIGN_OR_RETURN(auto rows, impl_->catalog->LayerHolds());
  std::vector<LayerHold> out;
  for (auto& r : rows) out.push_back({std::move(r.image_id), std::move(r.holder), std::move(r.description)});
  return out;
}

Result<std::vector<ImageHold>> Store::ListImageHolds() {
  ASSIGN_OR_RETURN(auto rows, impl_->catalog->Holds());
  std::vector<ImageHold> out;
  for (auto& r : rows) out.push_back({std::move(r.image_id), std::move(r.holder), std::move(r.description)});
  return out;
}

}  // namespace strata
