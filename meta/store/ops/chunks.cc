// Chunks: allocation with placement, locations, orphan and garbage records.
#include "common/logging.h"
#include "common/status.h"
#include "meta/placement.h"
#include "meta/store/commit_pipeline.h"
#include "meta/store/id_allocator.h"
#include "meta/store/keys.h"
#include "meta/store/kv_store.h"
#include "meta/store/meta_store.h"
#include "meta/store/mutate.h"
#include "meta/store/server_table.h"

namespace medfs::meta {
namespace {

constexpr uint32_t kMaxChunksPerAllocation = 1024;
constexpr uint32_t kMaxReplication = 16;
constexpr int kMaxLocationsPerCall = 10000;
constexpr size_t kMaxOrphansPerRun = 10000;

}  // namespace

absl::StatusOr<v1::AllocateChunksReply> MetaStore::AllocateChunks(
    const v1::AllocateChunksRequest& request) {
  v1::AllocateChunksReply out;
  RETURN_IF_ERROR(pipeline_->Run(
      [&](Txn& txn) { return AllocateChunksLogic(txn, request, &out); }));
  return out;
}

void MetaStore::AllocateChunksAsync(const v1::AllocateChunksRequest& request,
                                    Callback<v1::AllocateChunksReply> done) {
  Mutate<v1::AllocateChunksReply>(
      [&](Txn& txn, v1::AllocateChunksReply* out) {
        return AllocateChunksLogic(txn, request, out);
      },
      std::move(done));
}

absl::Status MetaStore::AllocateChunksLogic(
    Txn& txn, const v1::AllocateChunksRequest& request,
    v1::AllocateChunksReply* out) {
  uint32_t replication = request.replication() != 0
                             ? request.replication()
                             : options_.default_replication;
  std::string where = absl::StrCat("allocating ", request.count(),
                                   " chunks with ", replication, " replicas");
  if (request.count() == 0 || request.count() > kMaxChunksPerAllocation) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": count must be 1..", kMaxChunksPerAllocation));
  }
  if (replication > kMaxReplication) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": replication must be 1..", kMaxReplication));
  }
  std::vector<uint64_t> avoid(request.avoid_servers().begin(),
                              request.avoid_servers().end());
  // A server needs room for a whole chunk to be chosen.
  std::vector<PlacementCandidate> candidates =
      servers_->PlacementCandidates(avoid, options_.max_chunk_bytes);
  for (uint32_t i = 0; i < request.count(); ++i) {
    ASSIGN_OR_RETURN(std::vector<uint64_t> replicas,
                     PickReplicas(candidates, replication, rng_));
    ASSIGN_OR_RETURN(uint64_t id, chunk_ids_->Next());
    v1::ChunkRecord chunk;
    chunk.set_id(id);
    chunk.set_state(v1::CHUNK_STATE_ALLOCATED);
    chunk.set_allocated_ns(txn.now_ns());
    v1::ChunkAllocation* allocation = out->add_chunks();
    allocation->set_chunk_id(id);
    for (uint64_t server : replicas) {
      chunk.add_replicas(server);
      servers_->FillLocation(server, allocation->add_replicas());
    }
    txn.PutChunk(chunk);
    int64_t now = txn.now_ns();
    txn.OnSuccess([this, id, now] { allocated_chunks_[id] = now; });
  }
  out->set_max_chunk_bytes(options_.max_chunk_bytes);
  return txn.AddToCounter(kSystemChunkCount, request.count());
}

absl::StatusOr<v1::GetChunkLocationsReply> MetaStore::GetChunkLocations(
    const v1::GetChunkLocationsRequest& request) {
  if (request.chunk_ids_size() > kMaxLocationsPerCall) {
    return absl::InvalidArgumentError(absl::StrCat(
        "locating ", request.chunk_ids_size(), " chunks: at most ",
        kMaxLocationsPerCall, " per call"));
  }
  v1::GetChunkLocationsReply reply;
  for (uint64_t id : request.chunk_ids()) {
    ASSIGN_OR_RETURN(v1::ChunkRecord chunk, GetChunk(id));
    v1::ChunkLocation* location = reply.add_chunks();
    location->set_chunk_id(id);
    location->set_length(chunk.length());
    for (uint64_t server : chunk.replicas()) {
      servers_->FillLocation(server, location->add_replicas());
    }
  }
  return reply;
}

absl::StatusOr<v1::ChunkRecord> MetaStore::GetChunk(uint64_t id) {
  ASSIGN_OR_RETURN(auto bytes, kv_->Get(Cf::kChunks, EncodeId(id)));
  if (!bytes) {
    return absl::NotFoundError(absl::StrCat("reading chunk ", id, ": unknown"));
  }
  v1::ChunkRecord chunk;
  if (!chunk.ParseFromString(*bytes)) {
    return absl::DataLossError(
        absl::StrCat("reading chunk ", id, ": record does not decode"));
  }
  return chunk;
}

// ALLOCATED chunks older than orphan_chunk_after become GARBAGE.
absl::Status MetaStore::CollectOrphansLogic(Txn& txn) {
  int64_t cutoff =
      txn.now_ns() - absl::ToInt64Nanoseconds(options_.orphan_chunk_after);
  std::vector<uint64_t> expired;
  for (const auto& [id, allocated_ns] : allocated_chunks_) {
    if (allocated_ns <= cutoff) expired.push_back(id);
    if (expired.size() == kMaxOrphansPerRun) break;
  }
  for (uint64_t id : expired) {
    txn.OnSuccess([this, id] { allocated_chunks_.erase(id); });
    ASSIGN_OR_RETURN(std::optional<v1::ChunkRecord> chunk, txn.GetChunk(id));
    if (!chunk || chunk->state() != v1::CHUNK_STATE_ALLOCATED) continue;
    MEDFS_LOG(INFO) << "chunk " << id << " was never referenced: garbage";
    chunk->set_state(v1::CHUNK_STATE_GARBAGE);
    txn.PutChunk(*chunk);
    std::vector<uint64_t> replicas(chunk->replicas().begin(),
                                   chunk->replicas().end());
    // Never referenced: no reader can hold it, deletable at once.
    txn.OnDurable([this, id, replicas = std::move(replicas)] {
      servers_->AddGarbage(id, replicas, NowNs());
    });
  }
  return absl::OkStatus();
}

// Drops the records of garbage chunks every replica was told to delete.
absl::Status MetaStore::DropGarbageLogic(Txn& txn,
                                         const std::vector<uint64_t>& chunks) {
  int64_t dropped = 0;
  for (uint64_t id : chunks) {
    ASSIGN_OR_RETURN(std::optional<v1::ChunkRecord> chunk, txn.GetChunk(id));
    if (!chunk || chunk->state() != v1::CHUNK_STATE_GARBAGE) continue;
    txn.DeleteChunk(id);
    ++dropped;
  }
  if (dropped == 0) return absl::OkStatus();
  return txn.AddToCounter(kSystemChunkCount, -dropped);
}

}  // namespace medfs::meta
