// What a COPY or ADD puts into the image: the source files, found in the
// build context (through .dockerignore) or in an earlier stage's tree, with
// the metadata they will have, and the cache-key text that describes them.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "build/dockerignore.h"
#include "strata/entry.h"
#include "strata/status.h"
#include "strata/store.h"
#include "strata/union_view.h"

namespace strata {

// One file-system object to copy.
struct SourceEntry {
  std::string rel;    // below the source's top ("" is the top itself)
  uint32_t mode = 0;  // st_mode: type and permission bits
  uint32_t uid = 0, gid = 0;
  int64_t mtime_sec = 0;
  uint32_t mtime_nsec = 0;
  uint64_t size = 0;
  std::string content_path;  // host file holding a regular file's bytes ("" when empty)
  std::string link_target;
  uint32_t rdev_major = 0, rdev_minor = 0;
  std::vector<Xattr> xattrs;
};

// One matched source path: the object and, for a directory, all below it (pre-order).
struct SourceTree {
  std::string name;  // the source's base name ("" for the context root)
  std::vector<SourceEntry> entries;
  bool is_dir() const { return !entries.empty() && S_ISDIR(entries[0].mode); }
};

// Resolves COPY/ADD source patterns in a build context. Owners become 0:0, as
// Docker makes them; a source that escapes the context, or that matches
// nothing, is an error naming it.
Result<std::vector<SourceTree>> CollectContextSources(const std::string& context_dir,
                                                      const DockerIgnore& ignore,
                                                      const std::vector<std::string>& patterns);

// Resolves patterns (absolute or relative to "/") in a stage's tree; owners are kept.
Result<std::vector<SourceTree>> CollectViewSources(const UnionView& view,
                                                   const std::vector<std::string>& patterns);

// A host directory as one source (an extracted ADD archive); owners are kept.
Result<SourceTree> CollectHostTree(const std::string& dir);

// Text for the cache key: every entry's path, type, mode, owner, link
// target, xattrs and content digest; never mtimes.
Result<std::string> DescribeSources(const std::vector<SourceTree>& sources, const Store& store);

}  // namespace strata
