#include "test_util.h"

#include <catch2/catch.hpp>

#include <archive.h>
#include <archive_entry.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>

#include "strata/store.h"

namespace fs = std::filesystem;

namespace strata::test {

TempDir::TempDir() {
  char tmpl[] = "/tmp/strata-test-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

TarSpec File(std::string name, std::string content, unsigned mode) {
  TarSpec s;
  s.name = std::move(name);
  s.content = std::move(content);
  s.mode = mode;
  return s;
}

TarSpec Device(std::string name, Kind kind, unsigned major, unsigned minor) {
  TarSpec s;
  s.name = std::move(name);
  s.kind = kind;
  s.dev_major = major;
  s.dev_minor = minor;
  s.mode = 0666;
  return s;
}

TarSpec Dir(std::string name, unsigned mode) {
  TarSpec s;
  s.name = std::move(name);
  s.kind = Kind::kDir;
  s.mode = mode;
  return s;
}

TarSpec Symlink(std::string name, std::string target) {
  TarSpec s;
  s.name = std::move(name);
  s.kind = Kind::kSymlink;
  s.link = std::move(target);
  s.mode = 0777;
  return s;
}

TarSpec Hardlink(std::string name, std::string target) {
  TarSpec s;
  s.name = std::move(name);
  s.kind = Kind::kHardlink;
  s.link = std::move(target);
  return s;
}

void WriteTar(const std::string& path, const std::vector<TarSpec>& entries, TarCompression compression) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax(a);
  if (compression == TarCompression::kGzip) archive_write_add_filter_gzip(a);
  if (compression == TarCompression::kZstd) archive_write_add_filter_zstd(a);
  if (archive_write_open_filename(a, path.c_str()) != ARCHIVE_OK)
    throw std::runtime_error(archive_error_string(a));
  for (const TarSpec& s : entries) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, s.name.c_str());
    archive_entry_set_perm(e, s.mode);
    archive_entry_set_uid(e, s.uid);
    archive_entry_set_gid(e, s.gid);
    archive_entry_set_mtime(e, s.mtime, s.mtime_nsec);
    for (const auto& [k, v] : s.xattrs) archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
    switch (s.kind) {
      case Kind::kFile:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, static_cast<la_int64_t>(s.content.size()));
        break;
      case Kind::kDir: archive_entry_set_filetype(e, AE_IFDIR); break;
      case Kind::kSymlink:
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, s.link.c_str());
        break;
      case Kind::kHardlink:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, s.link.c_str());
        break;
      case Kind::kChar:
      case Kind::kBlock:
        archive_entry_set_filetype(e, s.kind == Kind::kChar ? AE_IFCHR : AE_IFBLK);
        archive_entry_set_rdevmajor(e, s.dev_major);
        archive_entry_set_rdevminor(e, s.dev_minor);
        break;
      case Kind::kFifo: archive_entry_set_filetype(e, AE_IFIFO); break;
    }
    if (archive_write_header(a, e) != ARCHIVE_OK) throw std::runtime_error(archive_error_string(a));
    if (s.kind == Kind::kFile && !s.content.empty())
      archive_write_data(a, s.content.data(), s.content.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

std::string RawHeader(const std::string& name, char typeflag, uint64_t size, const std::string& linkname) {
  std::string h(512, '\0');
  std::memcpy(h.data(), name.data(), std::min<size_t>(name.size(), 100));
  std::snprintf(h.data() + 100, 8, "%07o", 0644);
  std::snprintf(h.data() + 108, 8, "%07o", 0);
  std::snprintf(h.data() + 116, 8, "%07o", 0);
  std::snprintf(h.data() + 124, 12, "%011llo", static_cast<unsigned long long>(size));
  std::snprintf(h.data() + 136, 12, "%011o", 1700000000);
  h[156] = typeflag;
  std::memcpy(h.data() + 157, linkname.data(), std::min<size_t>(linkname.size(), 100));
  std::memcpy(h.data() + 257,
              "ustar\0"
              "00",
              8);
  std::memset(h.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(h.data() + 148, 8, "%06o", sum);
  h[155] = ' ';
  return h;
}

std::string Pad(std::string data) {
  data.resize((data.size() + 511) / 512 * 512, '\0');
  return data;
}

std::string PaxHeader(const std::vector<std::string>& records) {
  std::string body;
  for (const auto& r : records) {
    // "LEN key=value\n" where LEN counts itself.
    size_t len = r.size() + 3;
    while (std::to_string(len).size() + r.size() + 2 != len) ++len;
    body += std::to_string(len) + " " + r + "\n";
  }
  return RawHeader("PaxHeader", 'x', body.size()) + Pad(body);
}

std::string EndOfArchive() {
  return std::string(1024, '\0');
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::map<std::string, std::string> SnapshotStore(const std::string& root) {
  std::map<std::string, std::string> snap;
  for (const auto& item : fs::recursive_directory_iterator(root)) {
    std::string rel = fs::relative(item.path(), root).string();
    if (rel == "lock" || item.path().filename() == ".lock" || rel.rfind("catalog.db", 0) == 0) continue;
    if (item.is_directory()) {
      snap[rel] = "dir";
    } else {
      snap[rel] = std::to_string(std::hash<std::string>{}(ReadBytes(item.path().string())));
    }
  }
  auto store = Store::Open(root);
  if (store.ok()) {
    auto images = (*store)->ListImages();
    auto layers = (*store)->ListLayers();
    snap["#images"] = images.ok() ? ToJson(*images) : images.status().message();
    snap["#layers"] = layers.ok() ? ToJson(*layers) : layers.status().message();
  }
  return snap;
}

std::unique_ptr<Store> OpenTestStore(const TempDir& tmp) {
  auto store = Store::Open(tmp / "store");
  REQUIRE(store.ok());
  return std::move(store).value();
}

Image ImportShellImage(Store& store, const TempDir& tmp, const std::string& ref) {
  const std::string tar = tmp / (std::to_string(std::hash<std::string>{}(ref)) + ".tar");
  WriteTar(tar, {Dir("bin"), File("bin/sh", "#!", 0755)});
  auto image = store.ImportTar(tar, {.ref = ref});
  REQUIRE(image.ok());
  return *image;
}

std::unique_ptr<Volumes> OpenTestVolumes(Store& store) {
  auto volumes = Volumes::Open(store);
  REQUIRE(volumes.ok());
  return std::move(volumes).value();
}

std::unique_ptr<Containers> OpenTestContainers(Store& store, Volumes& volumes) {
  auto containers = Containers::Open(store, volumes);
  REQUIRE(containers.ok());
  return std::move(containers).value();
}

Entry MakeEntry(std::string path, EntryType type, uint32_t mode) {
  Entry e;
  e.path = std::move(path);
  e.type = type;
  e.mode = mode;
  e.mtime_sec = 1600000000;
  return e;
}

int Sh(const std::string& command) {
  int rc = std::system(command.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace strata::test
