// Store::ImportTar and ImportDirectory: a tar stream, or an overlayfs upper
// directory, becomes one layer and one image.
//
// Order of durability: blobs (synced, then renamed), the layer index, the
// image config, and last the catalog transaction that makes them exist. A
// failure before the commit removes everything this import created.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <functional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "format/dir_layer.h"
#include "format/index_codec.h"
#include "format/layer_builder.h"
#include "format/layer_merge.h"
#include "format/reference.h"
#include "format/tar_reader.h"
#include "store/blob_store.h"
#include "store/store_impl.h"
#include "util/file_lock.h"
#include "util/file_util.h"
#include "util/progress_meter.h"
#include "util/status_macros.h"

namespace strata {

namespace {

// Collects the blobs an index uses and the bytes they hold.
void CountContent(ParsedLayer* out) {
  for (const Entry& e : out->index.entries) {
    if (e.type == EntryType::kRegular && e.size > 0) {
      out->blobs.insert(e.content);
      out->content_bytes += e.size;
    }
  }
}

Result<uint64_t> FreeBytes(const std::string& dir) {
  struct statvfs vfs;
  if (::statvfs(dir.c_str(), &vfs) != 0) return ErrnoStatus("statvfs", dir);
  return static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
}

// The size of the file `fd` reads (0 for a pipe): a tar import's progress total.
uint64_t InputSize(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;
}

Result<ParsedLayer> ReadLayer(TarReader& reader, BlobBatch& batch, uint64_t free_bytes,
                              ProgressMeter& progress) {
  LayerBuilder builder;
  for (;;) {
    progress.Set(reader.bytes_read());
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
      progress.Set(reader.bytes_read());
      return reader.ReadBlock(data, len, offset, done);
    }));
    free_bytes -= stored->size;
  }
  ParsedLayer out;
  out.index = std::move(builder).Finish();
  CountContent(&out);
  progress.Finish();
  return out;
}

// An overlayfs upper directory (whiteouts, opaque markers, moved directories)
// as a layer over `lower` (bottom first): every file's bytes go into the blob
// store; a moved directory is written out whole (its files from the layers
// below are blobs already); the root's own metadata stays the lower layers'
// (it is implicit), as a container's changes never include it.
// `lower` loads the layers below; it is called only when a directory moved.
using LowerLoader = std::function<Result<std::vector<LayerIndex>>()>;
Result<ParsedLayer> ReadDirectoryLayer(const std::string& dir, const LowerLoader& lower,
                                       const BlobStore& blobs, BlobBatch& batch, uint64_t free_bytes,
                                       const ProgressFn& report) {
  uint64_t next_id = 0;
  std::unordered_map<Digest, std::string> paths;
  ParsedLayer out;
  ASSIGN_OR_RETURN(LayerIndex upper, ScanDirectoryLayer(dir, &next_id, &paths));
  if (std::any_of(upper.entries.begin(), upper.entries.end(),
                  [](const Entry& e) { return !e.redirect.empty() || e.metacopy; })) {
    ASSIGN_OR_RETURN(std::vector<LayerIndex> below, lower());
    // Metacopy files (kernel overlayfs's metadata-only copy-up) take their
    // data from the layers below: their blobs are there already.
    RETURN_IF_ERROR(ResolveMetacopies(below, upper));
    out.index = FlattenRedirects(below, upper);
  } else {
    out.index = std::move(upper);
  }
  uint64_t total = 0;
  for (const Entry& e : out.index.entries) {
    if (e.type == EntryType::kRegular && paths.count(e.content)) total += e.size;
  }
  ProgressMeter progress(report, "Committing", "", total);
  for (Entry& e : out.index.entries) {
    if (e.path.empty()) e.implicit = true;
    if (e.type != EntryType::kRegular || e.size == 0) continue;
    auto upper_file = paths.find(e.content);
    if (upper_file == paths.end()) {  // a lower layer's file, under a moved directory
      if (!blobs.Contains(e.content)) return Status::Corruption("blob " + e.content.Hex() + " is missing");
      continue;
    }
    if (e.size > free_bytes) return Status::IOError("not enough space in the store for " + e.path);
    const std::string& file = upper_file->second;
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoStatus("open", file);
    std::vector<char> buf(256 * 1024);
    int64_t offset = 0;
    ASSIGN_OR_RETURN(e.content,
                     batch.Add(e.size, [&](const void** data, size_t* len, int64_t* off, bool* done) {
                       ssize_t n = ::read(fd.get(), buf.data(), buf.size());
                       if (n < 0) return ErrnoStatus("read", file);
                       *done = n == 0;
                       *data = buf.data();
                       *len = static_cast<size_t>(n);
                       *off = offset;
                       offset += n;
                       progress.Add(static_cast<uint64_t>(n));
                       return Status::OK();
                     }));
    free_bytes -= e.size;
  }
  CountContent(&out);
  progress.Finish();
  return out;
}

// layers/.tmp-X/index, then the directory renamed to layers/<id>.
Status WriteLayerDir(const std::string& layers_dir, const std::string& id, std::string_view raw_index) {
  std::string tmp = layers_dir + "/.tmp-" + RandomHex(8);
  RETURN_IF_ERROR(MakeDirs(tmp));
  Status st = WriteFileAtomic(tmp + "/index", raw_index);
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
  return impl_->ImportLayer(
      options, "strata import " + source_name,
      [&](BlobBatch& batch, uint64_t free_bytes) -> Result<ParsedLayer> {
        ASSIGN_OR_RETURN(auto reader, TarReader::Open(fd));
        ProgressMeter progress(impl_->progress, "Importing",
                               source_name == "-" ? "stdin" : ShortName(source_name), InputSize(fd));
        auto parsed = ReadLayer(*reader, batch, free_bytes, progress);
        if (!parsed.ok() && parsed.status().code() == Code::kInvalidArgument) {
          return Status::InvalidArgument(source_name + ": " + parsed.status().message());
        }
        return parsed;
      });
}

Result<Image> Store::ImportDirectory(const std::string& dir, const ImportOptions& options) {
  // The layers below, for the directories the upper one moved (layers never change).
  const LowerLoader lower = [&]() -> Result<std::vector<LayerIndex>> {
    if (options.from.empty()) return std::vector<LayerIndex>{};
    ASSIGN_OR_RETURN(Image base, GetImage(options.from));
    return ReadLayerChainIndexes(base.layers.empty() ? "" : base.layers.back());
  };
  return impl_->ImportLayer(
      options, "strata commit " + dir, [&](BlobBatch& batch, uint64_t free_bytes) -> Result<ParsedLayer> {
        return ReadDirectoryLayer(dir, lower, *impl_->blobs, batch, free_bytes, impl_->progress);
      });
}

Result<Store::Impl::StagedLayer> Store::Impl::StageLayer(const std::string& parent, const ReadLayerFn& read,
                                                         Undo& undo) {
  BlobBatch batch(*blobs);
  ASSIGN_OR_RETURN(uint64_t free_bytes, FreeBytes(blobs->dir()));
  ASSIGN_OR_RETURN(ParsedLayer parsed, read(batch, free_bytes));

  const std::string raw_index = EncodeIndex(parsed.index);
  const Digest diff = HashBytes(secret, raw_index.data(), raw_index.size());
  StagedLayer staged;
  LayerInfo& layer = staged.info;
  layer.id = ChainId(parent, diff);
  layer.parent = parent;
  layer.diff_digest = diff.Hex();
  layer.size = parsed.content_bytes;
  layer.entry_count = parsed.index.entries.size();
  layer.created = std::time(nullptr);
  staged.blobs.assign(parsed.blobs.begin(), parsed.blobs.end());

  ASSIGN_OR_RETURN(auto existing, catalog->FindLayer(layer.id));
  staged.existing = existing.has_value();
  if (existing) {
    layer = *existing;
  } else {
    RETURN_IF_ERROR(WriteLayerDir(root + "/layers", layer.id, raw_index));
    undo.Add(LayerDir(layer.id));
  }
  Status committed = batch.Commit(parsed.blobs);
  for (const Digest& d : batch.created()) undo.Add(blobs->PathOf(d));
  RETURN_IF_ERROR(committed);
  return staged;
}

Status Store::Impl::InsertStagedLayer(const StagedLayer& staged) {
  if (staged.existing) return Status::OK();
  return catalog->InsertLayer(staged.info, staged.blobs);
}

Result<LayerInfo> Store::CommitLayer(const std::string& parent_layer, const std::string& dir,
                                     const std::string& cache_key) {
  // The layers below, for the directories a RUN step moved.
  const LowerLoader lower = [&] { return ReadLayerChainIndexes(parent_layer); };
  return impl_->AddLayer(parent_layer, cache_key, [&](BlobBatch& batch, uint64_t free_bytes) {
    return ReadDirectoryLayer(dir, lower, *impl_->blobs, batch, free_bytes, impl_->progress);
  });
}

Result<LayerInfo> Store::ImportLayerTar(const std::string& parent_layer, const std::string& path,
                                        const std::function<Status()>& before_commit) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open", path);
  return impl_->AddLayer(parent_layer, "", [&](BlobBatch& batch, uint64_t free_bytes) -> Result<ParsedLayer> {
    ASSIGN_OR_RETURN(auto reader, TarReader::Open(fd.get()));
    ProgressMeter progress(impl_->progress, "Extracting", ShortName(path), InputSize(fd.get()));
    auto parsed = ReadLayer(*reader, batch, free_bytes, progress);
    if (!parsed.ok()) return parsed.status().WithContext(path);
    if (before_commit) RETURN_IF_ERROR(before_commit());
    return parsed;
  });
}

Result<LayerInfo> Store::Impl::AddLayer(const std::string& parent, const std::string& cache_key,
                                        const ReadLayerFn& read) {
  ASSIGN_OR_RETURN(FileLock lock, AcquireStoreLock(root));
  if (!parent.empty()) {
    ASSIGN_OR_RETURN(auto parent_layer, catalog->FindLayer(parent));
    if (!parent_layer) return Status::NotFound("no such layer: " + parent);
  }
  Undo undo;
  ASSIGN_OR_RETURN(auto staged, StageLayer(parent, read, undo));
  Catalog::Transaction txn(*catalog);
  RETURN_IF_ERROR(txn.status());
  RETURN_IF_ERROR(InsertStagedLayer(staged));
  if (!cache_key.empty()) {
    RETURN_IF_ERROR(catalog->InsertCacheEntry(parent, cache_key, staged.info.id, std::time(nullptr)));
  }
  RETURN_IF_ERROR(txn.Commit());
  undo.Dismiss();
  return staged.info;
}

Result<Image> Store::Impl::ImportLayer(const ImportOptions& options, const std::string& default_created_by,
                                       const ReadLayerFn& read) {
  std::string tag;
  if (!options.ref.empty()) {
    ASSIGN_OR_RETURN(tag, NormalizeReference(options.ref));
  }
  ASSIGN_OR_RETURN(FileLock lock, AcquireStoreLock(root));
  Image base;
  if (!options.from.empty()) {
    ASSIGN_OR_RETURN(std::string base_id, ResolveImageId(options.from));
    ASSIGN_OR_RETURN(base, LoadImage(base_id));
  }
  Undo undo;
  ASSIGN_OR_RETURN(StagedLayer staged, StageLayer(base.layers.empty() ? "" : base.layers.back(), read, undo));

  Image image;
  image.config = base.config;
  image.history = base.history;
  image.platform = base.platform;
  image.layers = base.layers;
  image.layers.push_back(staged.info.id);
  image.created = std::time(nullptr);
  image.history.push_back(
      {image.created, options.created_by.empty() ? default_created_by : options.created_by, "", false});
  bool image_created = false;
  ASSIGN_OR_RETURN(image, WriteImageConfig(std::move(image), &image_created));
  if (image_created) undo.Add(ImageDir(image.id));

  Catalog::Transaction txn(*catalog);
  RETURN_IF_ERROR(txn.status());
  RETURN_IF_ERROR(InsertStagedLayer(staged));
  RETURN_IF_ERROR(InsertImageRow(image, tag));
  RETURN_IF_ERROR(txn.Commit());
  undo.Dismiss();
  if (!tag.empty()) image.names.push_back(tag);
  return image;
}

}  // namespace strata
