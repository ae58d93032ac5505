#include "store/tar_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <memory>

#include "format/sha256.h"
#include "util/progress_meter.h"
#include "util/status_macros.h"

namespace strata {

namespace {

using ArchivePtr = std::unique_ptr<struct archive, decltype(&archive_write_free)>;
using EntryPtr = std::unique_ptr<struct archive_entry, decltype(&archive_entry_free)>;

Status ArchiveError(struct archive* a, const std::string& what) {
  const char* msg = archive_error_string(a);
  return Status::IOError("writing tar: " + what + ": " + (msg ? msg : "unknown error"));
}

std::string ParentOf(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

std::string BaseOf(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

void SetMetadata(struct archive_entry* ae, const Entry& e) {
  archive_entry_set_perm(ae, e.mode);
  archive_entry_set_uid(ae, e.uid);
  archive_entry_set_gid(ae, e.gid);
  archive_entry_set_mtime(ae, e.mtime_sec, e.mtime_nsec);
  for (const Xattr& x : e.xattrs) {
    archive_entry_xattr_add_entry(ae, x.name.c_str(), x.value.data(), x.value.size());
  }
}

class LayerTarWriter {
 public:
  LayerTarWriter(const LayerIndex& index, const BlobStore& blobs, struct archive* a, ProgressMeter* progress)
      : index_(index), blobs_(blobs), a_(a), progress_(progress) {}

  Status WriteAll() {
    for (const Entry& e : index_.entries) {
      if (!e.implicit) RETURN_IF_ERROR(WriteEntry(e));
      if (e.opaque) RETURN_IF_ERROR(WriteOpaqueMarker(e.path));
    }
    return Status::OK();
  }

 private:
  Status Header(struct archive_entry* ae, const std::string& name) {
    if (archive_write_header(a_, ae) != ARCHIVE_OK) return ArchiveError(a_, name);
    return Status::OK();
  }

  Status WriteOpaqueMarker(const std::string& dir) {
    EntryPtr ae(archive_entry_new(), &archive_entry_free);
    std::string name = (dir.empty() ? "" : dir + "/") + ".wh..wh..opq";
    archive_entry_set_pathname(ae.get(), name.c_str());
    archive_entry_set_filetype(ae.get(), AE_IFREG);
    archive_entry_set_perm(ae.get(), 0644);
    archive_entry_set_size(ae.get(), 0);
    return Header(ae.get(), name);
  }

  Status WriteEntry(const Entry& e) {
    EntryPtr holder(archive_entry_new(), &archive_entry_free);
    struct archive_entry* ae = holder.get();
    std::string name = e.path;
    SetMetadata(ae, e);
    switch (e.type) {
      case EntryType::kDirectory:
        name = e.path.empty() ? "./" : e.path + "/";
        archive_entry_set_filetype(ae, AE_IFDIR);
        break;
      case EntryType::kRegular:
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_size(ae, static_cast<la_int64_t>(e.size));
        break;
      case EntryType::kSymlink:
        archive_entry_set_filetype(ae, AE_IFLNK);
        archive_entry_set_symlink(ae, e.link_target.c_str());
        break;
      case EntryType::kHardlink: {
        // The header carries the linked file's metadata, as GNU tar writes it.
        if (const Entry* target = index_.Find(e.link_target)) SetMetadata(ae, *target);
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_hardlink(ae, e.link_target.c_str());
        archive_entry_set_size(ae, 0);
        break;
      }
      case EntryType::kCharDevice:
      case EntryType::kBlockDevice:
        archive_entry_set_filetype(ae, e.type == EntryType::kCharDevice ? AE_IFCHR : AE_IFBLK);
        archive_entry_set_rdevmajor(ae, e.dev_major);
        archive_entry_set_rdevminor(ae, e.dev_minor);
        break;
      case EntryType::kFifo: archive_entry_set_filetype(ae, AE_IFIFO); break;
      case EntryType::kSocket: return Status::OK();  // tar cannot hold sockets; Docker skips them too
      case EntryType::kWhiteout:
        name = ParentOf(e.path) + ".wh." + BaseOf(e.path);
        archive_entry_xattr_clear(ae);
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_size(ae, 0);
        break;
    }
    archive_entry_set_pathname(ae, name.c_str());
    RETURN_IF_ERROR(Header(ae, name));
    if (e.type == EntryType::kRegular && e.size > 0) {
      uint64_t written = 0;
      RETURN_IF_ERROR(blobs_.Read(e.content, [&](const void* data, size_t len) {
        if (archive_write_data(a_, data, len) != static_cast<la_ssize_t>(len)) return ArchiveError(a_, name);
        written += len;
        if (progress_) progress_->Add(len);
        return Status::OK();
      }));
      if (written != e.size) return Status::Corruption("blob for '" + e.path + "' has the wrong size");
    }
    return Status::OK();
  }

  const LayerIndex& index_;
  const BlobStore& blobs_;
  struct archive* a_;
  ProgressMeter* progress_;
};

// The tar's bytes on their way out: hashed when a digest is asked for, then
// written through `out` (the compression filter when there is one, else
// straight to the file).
struct HashingSink {
  Sha256* sha;  // null: no digest wanted, no hashing
  struct archive* out;
};

la_ssize_t HashAndPass(struct archive* tar, void* client, const void* buf, size_t len) {
  auto* sink = static_cast<HashingSink*>(client);
  if (sink->sha) sink->sha->Update(buf, len);
  la_ssize_t n = archive_write_data(sink->out, buf, len);
  if (n < 0) {  // the compressor's reason, not a bare "write error"
    const char* msg = archive_error_string(sink->out);
    archive_set_error(tar, archive_errno(sink->out), "%s", msg ? msg : "write error");
  }
  return n;
}

// Compression alone, without a container format: libarchive's raw format
// writes one entry's bytes as they are, through the filter.
Status OpenCompressor(struct archive* a, int fd, Compression compression) {
  archive_write_set_format_raw(a);
  archive_write_set_bytes_in_last_block(a, 1);
  switch (compression) {
    case Compression::kNone: break;
    case Compression::kGzip:
      archive_write_add_filter_gzip(a);
      archive_write_set_filter_option(a, "gzip", "timestamp", nullptr);  // no mtime in the header
      break;
    case Compression::kZstd: archive_write_add_filter_zstd(a); break;
  }
  if (archive_write_open_fd(a, fd) != ARCHIVE_OK) return ArchiveError(a, "open");
  EntryPtr stream(archive_entry_new(), &archive_entry_free);
  archive_entry_set_pathname(stream.get(), "layer.tar");
  archive_entry_set_filetype(stream.get(), AE_IFREG);
  if (archive_write_header(a, stream.get()) != ARCHIVE_OK) return ArchiveError(a, "open");
  return Status::OK();
}

}  // namespace

Status WriteLayerTar(const LayerIndex& index, const BlobStore& blobs, int fd, Compression compression,
                     ProgressMeter* progress, std::string* tar_sha256) {
  // The tar is made by one archive and compressed by a second, so that the
  // bytes between them (what a DiffID names) can be hashed on the way.
  ArchivePtr compressor(archive_write_new(), &archive_write_free);
  RETURN_IF_ERROR(OpenCompressor(compressor.get(), fd, compression));
  Sha256 sha;
  HashingSink sink{tar_sha256 ? &sha : nullptr, compressor.get()};
  ArchivePtr a(archive_write_new(), &archive_write_free);
  archive_write_set_format_pax(a.get());  // full pax: keeps nanosecond mtimes
  // libarchive pads the last block by the kind of output it sees; fix it so a
  // file, a pipe and a terminal all get the same bytes.
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open2(a.get(), &sink, nullptr, HashAndPass, nullptr, nullptr) != ARCHIVE_OK)
    return ArchiveError(a.get(), "open");
  RETURN_IF_ERROR(LayerTarWriter(index, blobs, a.get(), progress).WriteAll());
  if (archive_write_close(a.get()) != ARCHIVE_OK) return ArchiveError(a.get(), "close");
  if (archive_write_close(compressor.get()) != ARCHIVE_OK) return ArchiveError(compressor.get(), "close");
  if (tar_sha256) *tar_sha256 = sha.HexDigest();
  return Status::OK();
}

}  // namespace strata
