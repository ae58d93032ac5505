#include <algorithm>

#include "strata/entry.h"

namespace strata {

const char* EntryTypeName(EntryType type) {
  switch (type) {
    case EntryType::kRegular: return "file";
    case EntryType::kDirectory: return "dir";
    case EntryType::kSymlink: return "symlink";
    case EntryType::kHardlink: return "hardlink";
    case EntryType::kCharDevice: return "char";
    case EntryType::kBlockDevice: return "block";
    case EntryType::kFifo: return "fifo";
    case EntryType::kSocket: return "socket";
    case EntryType::kWhiteout: return "whiteout";
  }
  return "unknown";
}

const Entry* LayerIndex::Find(std::string_view path) const {
  auto it = std::lower_bound(entries.begin(), entries.end(), path,
                             [](const Entry& e, std::string_view p) { return e.path < p; });
  if (it == entries.end() || it->path != path) return nullptr;
  return &*it;
}

}  // namespace strata
