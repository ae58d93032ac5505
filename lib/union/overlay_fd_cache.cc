#include "union/overlay_fd_cache.h"

#include <unistd.h>

namespace strata {

DataFd::~DataFd() {
  if (fd_ >= 0) ::close(fd_);
}

std::shared_ptr<const DataFd> FdCache::Find(uint64_t node, bool above, bool write) {
  MutexLock lock(mu_);
  auto it = entries_.find(node);
  if (it == entries_.end() || it->second.above != above || (write && !it->second.writable)) return nullptr;
  order_.splice(order_.begin(), order_, it->second.pos);
  return it->second.fd;
}

void FdCache::Put(uint64_t node, bool above, bool writable, std::shared_ptr<const DataFd> fd) {
  MutexLock lock(mu_);
  auto it = entries_.find(node);
  if (it != entries_.end()) {
    order_.splice(order_.begin(), order_, it->second.pos);
    it->second = {std::move(fd), above, writable, order_.begin()};
    return;
  }
  order_.push_front(node);
  entries_.emplace(node, Entry{std::move(fd), above, writable, order_.begin()});
  if (entries_.size() > capacity_) {
    entries_.erase(order_.back());
    order_.pop_back();
  }
}

void FdCache::Erase(uint64_t node) {
  MutexLock lock(mu_);
  auto it = entries_.find(node);
  if (it == entries_.end()) return;
  order_.erase(it->second.pos);
  entries_.erase(it);
}

}  // namespace strata
