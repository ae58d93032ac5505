// Entry: one file-system object in a layer, with all of its metadata.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "strata/digest.h"

namespace strata {

enum class EntryType : uint8_t {
  kRegular = 1,
  kDirectory = 2,
  kSymlink = 3,
  kHardlink = 4,  // link_target names another entry of the same layer
  kCharDevice = 5,
  kBlockDevice = 6,
  kFifo = 7,
  kSocket = 8,
  kWhiteout = 9,  // hides `path` in the layers below
};

const char* EntryTypeName(EntryType type);

struct Xattr {
  std::string name;
  std::string value;
  auto operator<=>(const Xattr&) const = default;
};

struct Entry {
  std::string path;  // relative to the layer root, no leading or trailing '/'; "" is the root
  EntryType type = EntryType::kRegular;
  uint32_t mode = 0;  // permission bits only (07777); the type is `type`
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime_sec = 0;
  uint32_t mtime_nsec = 0;
  uint64_t size = 0;        // regular files: content length
  Digest content;           // regular files with size > 0: the blob holding the bytes
  std::string link_target;  // symlink target, or the path a hardlink points to
  uint32_t dev_major = 0;
  uint32_t dev_minor = 0;
  std::vector<Xattr> xattrs;  // sorted by name
  bool opaque = false;        // directory hides everything below it
  bool implicit = false;      // directory the tar implied but never described
  // A directory moved in an overlayfs upper layer (redirect_dir): where its
  // contents are in the layers below: "name" beside it there, or "/a/b" from
  // the root; for a metacopy file, where its data is ("/a/b"). Only an entry
  // read from a directory has one; store layers never do.
  std::string redirect;
  // A regular file of an overlayfs upper layer holding metadata only
  // (metacopy): its data is the lower file's. Store layers never have one.
  bool metacopy = false;

  bool operator==(const Entry&) const = default;
};

// The entries of one layer, sorted by path (byte order): parents before children.
struct LayerIndex {
  std::vector<Entry> entries;

  const Entry* Find(std::string_view path) const;
};

}  // namespace strata
