// ChunkLocationCache: where the replicas of each chunk are, as told by meta.
//
// Chunks are immutable once sealed, so a location stays valid until a
// replica fails (the server died, or meta moved the chunk); readers then
// Invalidate the entry and the next Get asks meta again. Bounded: when
// `capacity` entries are held, the cache is emptied before inserting.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/meta_client.h"
#include "common/proto/medfs.pb.h"

namespace medfs::client {

class ChunkLocationCache {
 public:
  // `meta` must outlive the cache.
  ChunkLocationCache(MetaClient* meta, size_t capacity);

  // Locations of `chunk_ids` (duplicates allowed), keyed by chunk id;
  // misses are fetched from meta in one call. kNotFound naming the chunk
  // when meta does not know one; meta's error otherwise.
  absl::StatusOr<absl::flat_hash_map<uint64_t, v1::ChunkLocation>> Get(
      std::span<const uint64_t> chunk_ids);
  // Fetches `chunk_id` from meta again, replacing the cached entry.
  absl::StatusOr<v1::ChunkLocation> Refresh(uint64_t chunk_id);
  void Invalidate(uint64_t chunk_id);
  // Caches locations meta sent along with another reply (GetAttr
  // with_locations); entries without replicas are ignored.
  void Insert(const google::protobuf::RepeatedPtrField<v1::ChunkLocation>& locations);

 private:
  absl::Status Fetch(std::span<const uint64_t> chunk_ids,
                     absl::flat_hash_map<uint64_t, v1::ChunkLocation>* out);

  // Constant after construction.
  MetaClient* const meta_;
  const size_t capacity_;

  absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, v1::ChunkLocation> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace medfs::client
