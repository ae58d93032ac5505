#include "format/archive_files.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string_view>
#include <vector>

#include "util/file_util.h"
#include "util/progress_meter.h"
#include "util/status_macros.h"

namespace strata {

namespace {

// A tar member name as a path below the extraction directory: absolute
// names land inside it, as docker unpacks them.
std::string InsideName(std::string_view name) {
  while (!name.empty() && name[0] == '/') name.remove_prefix(1);
  return name.empty() ? "." : std::string(name);
}

}  // namespace

Status ExtractTar(const std::string& path, const std::string& dir, const ExtractOptions& options) {
  archive* in = archive_read_new();
  archive_read_support_filter_all(in);
  archive_read_support_format_tar(in);
  archive_read_support_format_gnutar(in);
  archive* out = archive_write_disk_new();
  const int keep =
      options.files_only ? 0 : ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_XATTR;
  archive_write_disk_set_options(
      out, keep | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS);
  Status st;
  if (archive_read_open_filename(in, path.c_str(), 64 * 1024) != ARCHIVE_OK) {
    st = Status::InvalidArgument(path + ": " + archive_error_string(in));
  }
  archive_entry* entry = nullptr;
  while (st.ok()) {
    int r = archive_read_next_header(in, &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      st = Status::InvalidArgument(path + ": " + archive_error_string(in));
      break;
    }
    std::string name = archive_entry_pathname(entry);
    if (options.files_only) {
      const auto type = archive_entry_filetype(entry);
      if (type == AE_IFLNK && !archive_entry_hardlink(entry)) {
        std::string rel = InsideName(name);
        while (rel.rfind("./", 0) == 0) rel.erase(0, 2);
        if (options.symlinks) options.symlinks->insert(rel);
        continue;
      }
      if (archive_entry_hardlink(entry) || (type != AE_IFREG && type != AE_IFDIR)) {
        st = Status::InvalidArgument(
            name + " is " +
            (archive_entry_hardlink(entry) ? std::string("a hardlink") : std::string("not a regular file")) +
            ": such an archive is refused");
        break;
      }
      archive_entry_set_perm(entry, archive_entry_perm(entry) & 0755);
    }
    archive_entry_set_pathname(entry, (dir + "/" + InsideName(name)).c_str());
    if (const char* hl = archive_entry_hardlink(entry)) {
      archive_entry_set_hardlink(entry, (dir + "/" + InsideName(hl)).c_str());
    }
    if (archive_write_header(out, entry) < ARCHIVE_WARN) {
      st = Status::InvalidArgument(path + ": " + name + ": " + archive_error_string(out));
      break;
    }
    const void* buf;
    size_t len;
    int64_t offset;
    while ((r = archive_read_data_block(in, &buf, &len, &offset)) == ARCHIVE_OK) {
      // Any short write is a failure (libarchive may only warn), named by its
      // errno: "no space left on device" must not come back as a parse error.
      if (options.progress) options.progress->Set(static_cast<uint64_t>(archive_filter_bytes(in, -1)));
      if (archive_write_data_block(out, buf, len, offset) != ARCHIVE_OK) {
        int error_number = archive_errno(out);
        st = Status::IOError(name + ": " +
                             (error_number > 0 ? std::strerror(error_number) : archive_error_string(out)));
        break;
      }
    }
    if (st.ok() && r != ARCHIVE_EOF) st = Status::InvalidArgument(path + ": " + archive_error_string(in));
    if (st.ok() && archive_write_finish_entry(out) != ARCHIVE_OK) {
      int error_number = archive_errno(out);
      st = Status::IOError(name + ": " +
                           (error_number > 0 ? std::strerror(error_number) : archive_error_string(out)));
    }
  }
  archive_write_close(out);
  archive_write_free(out);
  archive_read_free(in);
  return st;
}

namespace {

Status AddTree(archive* out, const std::string& root, const std::string& rel, ProgressMeter* progress) {
  std::string dir = rel.empty() ? root : root + "/" + rel;
  ASSIGN_OR_RETURN(auto names, ListDir(dir));
  for (const auto& name : names) {
    std::string child = rel.empty() ? name : rel + "/" + name;
    std::string path = root + "/" + child;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path);
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, child.c_str());
    archive_entry_set_mode(e, S_ISDIR(st.st_mode) ? (S_IFDIR | 0755) : (S_IFREG | 0644));
    archive_entry_set_size(e, S_ISREG(st.st_mode) ? st.st_size : 0);
    archive_entry_set_mtime(e, 0, 0);
    Status s;
    if (archive_write_header(out, e) != ARCHIVE_OK)
      s = Status::IOError(std::string("tar: ") + archive_error_string(out));
    archive_entry_free(e);
    RETURN_IF_ERROR(s);
    if (S_ISDIR(st.st_mode)) {
      RETURN_IF_ERROR(AddTree(out, root, child, progress));
      continue;
    }
    RETURN_IF_ERROR(ReadChunks(path, [&](const char* data, size_t len) -> Status {
      if (archive_write_data(out, data, len) != static_cast<la_ssize_t>(len))
        return Status::IOError(std::string("tar: ") + archive_error_string(out));
      if (progress) progress->Add(len);
      return Status::OK();
    }));
  }
  return Status::OK();
}

}  // namespace

Status TarDirectory(const std::string& dir, const std::string& out_path, ProgressMeter* progress) {
  if (progress && progress->active()) progress->SetTotal(TreeBytes(dir));
  return WriteOutputFile(out_path, 0644, [&](int fd, const std::string&) {
    archive* out = archive_write_new();
    archive_write_set_format_pax_restricted(out);
    archive_write_set_bytes_in_last_block(out, 1);
    Status st;
    if (archive_write_open_fd(out, fd) != ARCHIVE_OK)
      st = Status::IOError(std::string("tar: ") + archive_error_string(out));
    if (st.ok()) st = AddTree(out, dir, "", progress);
    if (archive_write_close(out) != ARCHIVE_OK && st.ok())
      st = Status::IOError(std::string("tar: ") + archive_error_string(out));
    archive_write_free(out);
    return st;
  });
}

}  // namespace strata
