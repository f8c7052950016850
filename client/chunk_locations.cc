#include "client/chunk_locations.h"

#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace medfs::client {

ChunkLocationCache::ChunkLocationCache(MetaClient* meta, size_t capacity)
    : meta_(meta), capacity_(capacity) {}

absl::StatusOr<absl::flat_hash_map<uint64_t, v1::ChunkLocation>>
ChunkLocationCache::Get(std::span<const uint64_t> chunk_ids) {
  absl::flat_hash_map<uint64_t, v1::ChunkLocation> out;
  std::vector<uint64_t> missing;
  {
    absl::MutexLock lock(&mu_);
    for (uint64_t id : chunk_ids) {
      if (out.contains(id)) continue;
      auto it = cache_.find(id);
      if (it != cache_.end()) {
        out.emplace(id, it->second);
      } else {
        out.emplace(id, v1::ChunkLocation());
        missing.push_back(id);
      }
    }
  }
  if (!missing.empty()) RETURN_IF_ERROR(Fetch(missing, &out));
  return out;
}

absl::StatusOr<v1::ChunkLocation> ChunkLocationCache::Refresh(
    uint64_t chunk_id) {
  absl::flat_hash_map<uint64_t, v1::ChunkLocation> out;
  const uint64_t ids[] = {chunk_id};
  RETURN_IF_ERROR(Fetch(ids, &out));
  return out[chunk_id];
}

void ChunkLocationCache::Invalidate(uint64_t chunk_id) {
  absl::MutexLock lock(&mu_);
  cache_.erase(chunk_id);
}

void ChunkLocationCache::Insert(
    const google::protobuf::RepeatedPtrField<v1::ChunkLocation>& locations) {
  absl::MutexLock lock(&mu_);
  if (cache_.size() + locations.size() > capacity_) cache_.clear();
  for (const v1::ChunkLocation& location : locations) {
    if (location.replicas_size() > 0) cache_[location.chunk_id()] = location;
  }
}

absl::Status ChunkLocationCache::Fetch(
    std::span<const uint64_t> chunk_ids,
    absl::flat_hash_map<uint64_t, v1::ChunkLocation>* out) {
  v1::GetChunkLocationsRequest request;
  for (uint64_t id : chunk_ids) request.add_chunk_ids(id);
  absl::StatusOr<v1::GetChunkLocationsReply> reply =
      meta_->GetChunkLocations(request);
  if (!reply.ok()) {
    return Annotate(reply.status(),
                    absl::StrCat("locate chunk ", chunk_ids[0],
                                 chunk_ids.size() > 1 ? " and others" : ""));
  }
  absl::flat_hash_set<uint64_t> found;
  absl::MutexLock lock(&mu_);
  if (cache_.size() + reply->chunks_size() > capacity_) cache_.clear();
  for (v1::ChunkLocation& location : *reply->mutable_chunks()) {
    found.insert(location.chunk_id());
    (*out)[location.chunk_id()] = location;
    if (location.replicas_size() > 0) {
      cache_[location.chunk_id()] = std::move(location);
    }
  }
  for (uint64_t id : chunk_ids) {
    if (!found.contains(id)) {
      return absl::NotFoundError(
          absl::StrCat("locate chunk ", id, ": not known to meta"));
    }
  }
  return absl::OkStatus();
}

}  // namespace medfs::client
