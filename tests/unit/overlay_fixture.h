// The lower tree most OverlayFs tests run on, and helpers that read and write
// a node's data the way the FUSE daemon does.
#pragma once

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "strata/overlay_fs.h"
#include "test_util.h"

namespace strata::test {

inline Entry E(std::string path, EntryType type = EntryType::kRegular, uint32_t mode = 0644) {
  return MakeEntry(std::move(path), type, mode);
}

// A lower tree whose regular files are real files under `blobs`.
struct Fixture {
  TempDir tmp;
  std::unique_ptr<OverlayFs> fs;

  explicit Fixture(bool writable = true) {
    std::filesystem::create_directories(tmp / "blobs");
    std::filesystem::create_directories(tmp / "upper");
    std::filesystem::create_directories(tmp / "work");
    Entry data = E("dir/data", EntryType::kRegular, 04750);
    data.uid = 1000;
    data.gid = 100;
    data.size = 5;
    data.content.bytes[0] = 1;
    data.xattrs = {{"user.k", "v"}};
    WriteBytes(tmp / "blobs/data", "lower");
    Entry root = E("", EntryType::kDirectory, 0755);
    std::vector<Entry> entries = {root,
                                  E("dir", EntryType::kDirectory, 0750),
                                  data,
                                  E("dir/other"),
                                  E("sub", EntryType::kDirectory, 0755),
                                  E("sub/inner"),
                                  E("deep", EntryType::kDirectory, 0755),
                                  E("deep/x", EntryType::kDirectory, 0755),
                                  E("deep/y", EntryType::kDirectory, 0755)};
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.path < b.path; });
    std::string blobs = tmp / "blobs";
    auto view =
        UnionView::FromLayers({LayerIndex{entries}}, [blobs](const Digest&) { return blobs + "/data"; });
    REQUIRE(view.ok());
    OverlayOptions options;
    if (writable) options = {tmp / "upper", tmp / "work", true};
    auto opened = OverlayFs::Open(std::move(view).value(), options);
    REQUIRE(opened.ok());
    fs = std::move(opened).value();
  }
  uint64_t Node(uint64_t parent, const char* name) {
    auto e = fs->Lookup(parent, name);
    REQUIRE(e.ok());
    return e->node;
  }
  std::string Read(uint64_t node) {
    auto f = fs->OpenNode(node, O_RDONLY);
    REQUIRE(f.ok());
    char buf[64] = {};
    ssize_t n = ::pread((*f)->CurrentFd(), buf, sizeof buf, 0);
    return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
  }
};

// Reads a node's data the way the FUSE daemon does: one descriptor per request.
inline std::string ReadData(OverlayFs& ofs, uint64_t node) {
  auto fd = ofs.OpenData(node, /*write=*/false);
  REQUIRE(fd.ok());
  if ((*fd)->get() < 0) return "";
  char buf[64] = {};
  ssize_t n = ::pread((*fd)->get(), buf, sizeof buf, 0);
  return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

inline void WriteData(OverlayFs& ofs, uint64_t node, const std::string& bytes, off_t at) {
  auto fd = ofs.OpenData(node, /*write=*/true);
  REQUIRE(fd.ok());
  REQUIRE(::pwrite((*fd)->get(), bytes.data(), bytes.size(), at) == static_cast<ssize_t>(bytes.size()));
}

}  // namespace strata::test
