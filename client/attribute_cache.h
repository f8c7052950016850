// A small, bounded cache of inode attributes with a time-to-live, used by
// the Client to answer repeated GetAttr calls without a round trip to meta.
//
// Entries expire `ttl` after they were stored; when `capacity` entries are
// held the least recently used one is dropped. An entry remembers whether it
// carries the file's extents: a lookup that needs extents misses on an entry
// stored without them. The Client invalidates an inode after each local
// mutation that touches it; mutations by other clients become visible at the
// latest when the entry expires.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/proto/medfs.pb.h"

namespace medfs::client {

class AttributeCache {
 public:
  using Clock = std::function<absl::Time()>;

  // capacity 0 disables the cache (every Get misses, Put does nothing).
  AttributeCache(size_t capacity, absl::Duration ttl,
                 Clock clock = [] { return absl::Now(); });

  // The cached attributes of `inode` if present, not expired and (when
  // `need_extents`) stored with extents. Refreshes the entry's LRU position.
  std::optional<v1::Inode> Get(uint64_t inode, bool need_extents);

  // Stores `attributes` (keyed by attributes.id()), replacing any entry.
  // `has_extents`: the attributes carry the complete extent list.
  void Put(const v1::Inode& attributes, bool has_extents);

  void Invalidate(uint64_t inode);
  void Clear();
  size_t size() const;

 private:
  struct Entry {
    v1::Inode attributes;
    bool has_extents = false;
    absl::Time expires;
  };
  using LruList = std::list<uint64_t>;  // most recently used first

  void EraseLocked(uint64_t inode) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const size_t capacity_;
  const absl::Duration ttl_;
  const Clock clock_;

  mutable absl::Mutex mu_;
  // Guarded by mu_.
  LruList lru_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::pair<Entry, LruList::iterator>> entries_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace medfs::client
