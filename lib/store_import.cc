// Store::ImportTar: a tar stream becomes one layer and one image.
//
// Order of durability: blobs (synced, then renamed), the layer index, the
// image config, and last the catalog transaction that makes them exist. A
// failure before the commit removes everything this import created.
#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <ctime>
#include <unordered_set>

#include "blob_store.h"
#include "file_util.h"
#include "index_codec.h"
#include "layer_builder.h"
#include "reference.h"
#include "status_macros.h"
#include "store_impl.h"
#include "store_lock.h"
#include "tar_reader.h"

namespace strata {

namespace {

struct ParsedLayer {
  LayerIndex index;
  std::unordered_set<Digest> blobs;
  uint64_t content_bytes = 0;
};

Result<uint64_t> FreeBytes(const std::string& dir) {
  struct statvfs vfs;
  if (::statvfs(dir.c_str(), &vfs) != 0) return ErrnoStatus("statvfs", dir);
  return static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
}

Result<ParsedLayer> ReadLayer(TarReader& reader, BlobBatch& batch, uint64_t free_bytes) {
  LayerBuilder builder;
  for (;;) {
    Entry e;
    ASSIGN_OR_RETURN(bool more, reader.Next(&e));
    if (!more) break;
    const std::string name = e.path;
    if (e.type == EntryType::kRegular && e.size > free_bytes) {
      return Status::InvalidArgument("tar entry '" + name + "' claims " + std::to_string(e.size) +
                                     " bytes, more than the " + std::to_string(free_bytes) +
                                     " bytes free in the store");
    }
    ASSIGN_OR_RETURN(Entry * stored, builder.Add(std::move(e)));
    if (!stored || stored->type != EntryType::kRegular || stored->size == 0) continue;
    ASSIGN_OR_RETURN(stored->content, batch.Add(stored->size, [&](const void** data, size_t* len,
                                                                  int64_t* offset, bool* done) {
      return reader.ReadBlock(data, len, offset, done);
    }));
    free_bytes -= stored->size;
  }
  ParsedLayer out;
  out.index = std::move(builder).Finish();
  for (const Entry& e : out.index.entries) {
    if (e.type == EntryType::kRegular && e.size > 0) {
      out.blobs.insert(e.content);
      out.content_bytes += e.size;
    }
  }
  return out;
}

// layers/.tmp-X/index.zst, then the directory renamed to layers/<id>.
Status WriteLayerDir(const std::string& layers_dir, const std::string& id, std::string_view raw_index) {
  std::string tmp = layers_dir + "/.tmp-" + RandomHex(8);
  RETURN_IF_ERROR(MakeDirs(tmp));
  Status st = WriteFileAtomic(tmp + "/index.zst", Compress(raw_index));
  std::string final_dir = layers_dir + "/" + id;
  if (st.ok()) (void)RemoveAll(final_dir);  // garbage from a crash: the catalog does not know it
  if (st.ok() && ::rename(tmp.c_str(), final_dir.c_str()) != 0) st = ErrnoStatus("rename", final_dir);
  if (st.ok()) st = FsyncDir(layers_dir);
  if (!st.ok()) (void)RemoveAll(tmp);
  return st;
}

}  // namespace

Result<Image> Store::ImportTar(const std::string& path, const ImportOptions& options) {
  if (path == "-") return ImportTarFd(STDIN_FILENO, "-", options);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open", path);
  return ImportTarFd(fd.get(), path, options);
}

Result<Image> Store::ImportTarFd(int fd, const std::string& source_name, const ImportOptions& options) {
  std::string tag;
  if (!options.ref.empty()) {
    ASSIGN_OR_RETURN(tag, NormalizeReference(options.ref));
  }
  ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(impl_->root));
  Image base;
  if (!options.from.empty()) {
    ASSIGN_OR_RETURN(base, GetImage(options.from));
  }
  const std::string parent = base.layers.empty() ? "" : base.layers.back();

  ASSIGN_OR_RETURN(auto reader, TarReader::Open(fd));
  BlobBatch batch(*impl_->blobs);
  ASSIGN_OR_RETURN(uint64_t free_bytes, FreeBytes(impl_->blobs->dir()));
  auto parsed = ReadLayer(*reader, batch, free_bytes);
  if (!parsed.ok()) {
    return Status(parsed.status().code() == Code::kInvalidArgument
                      ? Status::InvalidArgument(source_name + ": " + parsed.status().message())
                      : parsed.status());
  }

  const std::string raw_index = EncodeIndex(parsed->index);
  const Digest diff = HashBytes(impl_->secret, raw_index.data(), raw_index.size());
  LayerInfo layer;
  layer.id = impl_->ChainId(parent, diff);
  layer.parent = parent;
  layer.diff_digest = diff.Hex();
  layer.size = parsed->content_bytes;
  layer.entry_count = parsed->index.entries.size();
  layer.created = std::time(nullptr);

  Undo undo;
  ASSIGN_OR_RETURN(auto existing, impl_->catalog->FindLayer(layer.id));
  if (!existing) {
    RETURN_IF_ERROR(WriteLayerDir(impl_->root + "/layers", layer.id, raw_index));
    undo.Add(impl_->LayerDir(layer.id));
  }
  Status committed = batch.Commit(parsed->blobs);
  for (const Digest& d : batch.created()) undo.Add(impl_->blobs->PathOf(d));
  RETURN_IF_ERROR(committed);

  Image image;
  image.config = base.config;
  image.history = base.history;
  image.layers = base.layers;
  image.layers.push_back(layer.id);
  image.created = layer.created;
  image.history.push_back({layer.created,
                           options.created_by.empty() ? "strata import " + source_name : options.created_by,
                           "", false});
  bool image_created = false;
  ASSIGN_OR_RETURN(image, impl_->WriteImageConfig(std::move(image), &image_created));
  if (image_created) undo.Add(impl_->ImageDir(image.id));

  Catalog::Transaction txn(*impl_->catalog);
  RETURN_IF_ERROR(txn.status());
  if (!existing) {
    RETURN_IF_ERROR(
        impl_->catalog->InsertLayer(layer, std::vector<Digest>(parsed->blobs.begin(), parsed->blobs.end())));
  }
  ASSIGN_OR_RETURN(auto known_image, impl_->catalog->FindImage(image.id));
  if (!known_image) RETURN_IF_ERROR(impl_->catalog->InsertImage({image.id, image.created, image.layers}));
  if (!tag.empty()) RETURN_IF_ERROR(impl_->catalog->SetTag(tag, image.id));
  RETURN_IF_ERROR(txn.Commit());
  undo.Dismiss();
  if (!tag.empty()) image.names.push_back(tag);
  return image;
}

}  // namespace strata
