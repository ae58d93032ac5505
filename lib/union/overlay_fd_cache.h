// FdCache: descriptors on recently used files' data, by node, so that the
// requests of one stream of reads or writes share one descriptor (and the
// host's readahead state for it) instead of opening the file every time.
// Bounded: the least recently used go first. An entry records whether it
// is on the file's own copy above ("above": upper or orphan) or on the
// lower file, so a copy-up makes it stale.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>

#include "strata/overlay_fs.h"
#include "util/mutex.h"

namespace strata {

class FdCache {
 public:
  explicit FdCache(size_t capacity) : capacity_(capacity) {}

  // The kept descriptor for `node` when it still fits: the same side, and
  // writable when `write`. Null otherwise.
  // Each may be called from any thread.
  std::shared_ptr<const DataFd> Find(uint64_t node, bool above, bool write) EXCLUDES(mu_);
  void Put(uint64_t node, bool above, bool writable, std::shared_ptr<const DataFd> fd) EXCLUDES(mu_);
  void Erase(uint64_t node) EXCLUDES(mu_);

 private:
  struct Entry {
    std::shared_ptr<const DataFd> fd;
    bool above;
    bool writable;
    std::list<uint64_t>::iterator pos;
  };
  const size_t capacity_;
  Mutex mu_;
  std::list<uint64_t> order_ GUARDED_BY(mu_);  // most recently used first
  std::unordered_map<uint64_t, Entry> entries_ GUARDED_BY(mu_);
};

}  // namespace strata
