// Chunk reference counting: what a file's content change does to the
// chunks it references (seal on first reference, GARBAGE at zero).
#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "common/logging.h"
#include "common/status.h"
#include "meta/store/keys.h"
#include "meta/store/meta_store.h"
#include "meta/store/server_table.h"
#include "meta/store/txn.h"

namespace medfs::meta {
namespace {

struct RefChange {
  int64_t delta = 0;          // new references minus old ones
  uint64_t max_end = 0;       // furthest byte the new extents use
  const v1::SealedChunk* sealed = nullptr;
};

absl::flat_hash_map<uint64_t, RefChange> ComputeChanges(
    const google::protobuf::RepeatedPtrField<v1::Extent>& old_extents,
    const google::protobuf::RepeatedPtrField<v1::Extent>& new_extents,
    const google::protobuf::RepeatedPtrField<v1::SealedChunk>& sealed) {
  absl::flat_hash_map<uint64_t, RefChange> changes;
  for (const v1::Extent& e : old_extents) --changes[e.chunk_id()].delta;
  for (const v1::Extent& e : new_extents) {
    RefChange& change = changes[e.chunk_id()];
    ++change.delta;
    change.max_end = std::max(change.max_end, e.chunk_offset() + e.length());
  }
  for (const v1::SealedChunk& s : sealed) {
    auto it = changes.find(s.chunk_id());
    if (it != changes.end()) it->second.sealed = &s;  // others: not ours
  }
  return changes;
}

}  // namespace

absl::Status MetaStore::UpdateChunkRefs(
    Txn& txn, const google::protobuf::RepeatedPtrField<v1::Extent>& old_extents,
    const google::protobuf::RepeatedPtrField<v1::Extent>& new_extents,
    const google::protobuf::RepeatedPtrField<v1::SealedChunk>& sealed) {
  for (const auto& [id, change] : ComputeChanges(old_extents, new_extents, sealed)) {
    if (change.delta == 0 && change.sealed == nullptr) continue;
    ASSIGN_OR_RETURN(std::optional<v1::ChunkRecord> chunk, txn.GetChunk(id));
    if (!chunk) {
      if (change.delta <= 0) {
        MEDFS_LOG(ERROR) << "dropping a reference to chunk " << id
                         << ", which has no record";
        continue;
      }
      return absl::NotFoundError(
          absl::StrCat("referencing chunk ", id, ": it was never allocated"));
    }
    if (chunk->state() == v1::CHUNK_STATE_GARBAGE && change.delta > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "referencing chunk ", id, ": it is garbage (unreferenced too long)"));
    }
    if (change.sealed != nullptr) {
      if (change.max_end > change.sealed->length()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "referencing chunk ", id, ": extents reach byte ", change.max_end,
            " but the chunk was sealed at ", change.sealed->length(), " bytes"));
      }
      chunk->set_length(change.sealed->length());
      chunk->set_crc32c(change.sealed->crc32c());
    } else {
      chunk->set_length(std::max(chunk->length(), change.max_end));
    }
    if (change.delta > 0 && chunk->state() == v1::CHUNK_STATE_ALLOCATED) {
      chunk->set_state(v1::CHUNK_STATE_SEALED);
      txn.OnSuccess([this, id] { allocated_chunks_.erase(id); });
    }
    int64_t refs = static_cast<int64_t>(chunk->ref_count()) + change.delta;
    if (refs < 0) {
      MEDFS_LOG(ERROR) << "chunk " << id << " ref count would go negative";
      refs = 0;
    }
    chunk->set_ref_count(refs);
    if (refs == 0 && chunk->state() == v1::CHUNK_STATE_SEALED) {
      chunk->set_state(v1::CHUNK_STATE_GARBAGE);
      std::vector<uint64_t> replicas(chunk->replicas().begin(),
                                     chunk->replicas().end());
      txn.OnDurable([this, id, replicas = std::move(replicas)] {
        servers_->AddGarbage(id, replicas, GarbageDeletableAtNs());
      });
    }
    txn.PutChunk(*chunk);
  }
  return absl::OkStatus();
}

absl::Status MetaStore::ReleaseInode(Txn& txn, const v1::Inode& inode) {
  if (inode.extents_size() > 0) {
    RETURN_IF_ERROR(UpdateChunkRefs(txn, inode.extents(), {}, {}));
  }
  txn.DeleteInode(inode.id());
  return txn.AddToCounter(kSystemInodeCount, -1);
}

}  // namespace medfs::meta
