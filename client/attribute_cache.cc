#include "client/attribute_cache.h"

#include <utility>

namespace medfs::client {

AttributeCache::AttributeCache(size_t capacity, absl::Duration ttl,
                               Clock clock)
    : capacity_(capacity), ttl_(ttl), clock_(std::move(clock)) {}

std::optional<v1::Inode> AttributeCache::Get(uint64_t inode,
                                             bool need_extents) {
  if (capacity_ == 0) return std::nullopt;
  const absl::Time now = clock_();
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(inode);
  if (it == entries_.end()) return std::nullopt;
  Entry& entry = it->second.first;
  if (now >= entry.expires) {
    EraseLocked(inode);
    return std::nullopt;
  }
  if (need_extents && !entry.has_extents) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second.second);
  return entry.attributes;
}

void AttributeCache::Put(const v1::Inode& attributes, bool has_extents) {
  if (capacity_ == 0) return;
  Entry entry{attributes, has_extents, clock_() + ttl_};
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(attributes.id());
  if (it != entries_.end()) {
    it->second.first = std::move(entry);
    lru_.splice(lru_.begin(), lru_, it->second.second);
    return;
  }
  while (entries_.size() >= capacity_ && !lru_.empty()) {
    EraseLocked(lru_.back());
  }
  lru_.push_front(attributes.id());
  entries_.emplace(attributes.id(),
                   std::make_pair(std::move(entry), lru_.begin()));
}

void AttributeCache::Invalidate(uint64_t inode) {
  absl::MutexLock lock(&mu_);
  EraseLocked(inode);
}

void AttributeCache::Clear() {
  absl::MutexLock lock(&mu_);
  entries_.clear();
  lru_.clear();
}

size_t AttributeCache::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

void AttributeCache::EraseLocked(uint64_t inode) {
  auto it = entries_.find(inode);
  if (it == entries_.end()) return;
  lru_.erase(it->second.second);
  entries_.erase(it);
}

}  // namespace medfs::client
