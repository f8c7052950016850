// ServerTable: the in-memory view of the chunkservers — their live state
// (capacity, free space, last heartbeat, UP/DEAD) and the chunk deletions
// waiting to be handed to each of them through heartbeat replies.
//
// Registrations are persisted (servers column family) by the store;
// heartbeats only update this table (no disk write per heartbeat). After a
// restart every persisted server starts UP with its last heartbeat set to
// the start time, so it has the full dead threshold to heartbeat again.
//
// Thread safety: every method may be called from any thread. Lock order:
// the mutation mutex before mu_.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "common/proto/medfs.pb.h"
#include "meta/placement.h"

namespace medfs::meta {

namespace v1 = ::medfs::v1;

class ServerTable {
 public:
  // Capacity summed over UP servers.
  struct Totals {
    uint64_t capacity_bytes = 0;
    uint64_t free_bytes = 0;
    uint32_t servers_up = 0;
  };

  // Adds a persisted server at start-up: UP, last heartbeat `now_ns`.
  void Load(v1::ServerRecord record, int64_t now_ns);

  // The id registered for `uuid`, if any.
  std::optional<uint64_t> FindByUuid(const std::string& uuid) const;
  // The record of `id`, if any.
  std::optional<v1::ServerRecord> Find(uint64_t id) const;
  // An id no server has (max id + 1; ids start at 1).
  uint64_t UnusedId() const;
  // Inserts or replaces the record of `record.id()`.
  void Upsert(const v1::ServerRecord& record);

  // Records a heartbeat: capacity, free bytes, chunk count, time; a DEAD
  // server becomes UP. Appends at most `max_deletes` chunk ids the server
  // should delete to `deletes`. Returns false for an unknown id.
  bool Heartbeat(const v1::HeartbeatRequest& request, int64_t now_ns,
                 size_t max_deletes, std::vector<uint64_t>* deletes);

  // Marks UP servers silent for longer than `dead_after_ns` DEAD and
  // returns their ids.
  std::vector<uint64_t> MarkSilentServersDead(int64_t now_ns,
                                              int64_t dead_after_ns);

  // UP servers not in `avoid` with at least `min_free_bytes` free.
  std::vector<PlacementCandidate> PlacementCandidates(
      const std::vector<uint64_t>& avoid, uint64_t min_free_bytes) const;
  uint32_t CountUp() const;

  // Fills where to reach `server_id` (address, endpoint, up flag); a server
  // the table does not know is reported down with no address.
  void FillLocation(uint64_t server_id, v1::ReplicaLocation* location) const;

  std::vector<v1::ServerRecord> AllServers() const;  // ordered by id
  Totals UpTotals() const;

  // A chunk became garbage: each of `replicas` is to be told to delete it
  // in a heartbeat at or after `deletable_at_ns`. Idempotent per chunk id.
  // Each server's list is handed out in the order added: an entry also
  // waits for the ones added before it.
  void AddGarbage(uint64_t chunk_id, const std::vector<uint64_t>& replicas,
                  int64_t deletable_at_ns);
  // Garbage chunks every replica of which has been told, since the last
  // call: their records can be dropped.
  std::vector<uint64_t> TakeFullyHandedOut();
  // Garbage chunks not yet handed to every replica.
  size_t PendingGarbage() const;

 private:
  void HandOut(uint64_t chunk_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, v1::ServerRecord> servers_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint64_t> by_uuid_ ABSL_GUARDED_BY(mu_);
  // server id -> (garbage chunk, deletable at ns) it has not been told
  // about yet, oldest first.
  absl::flat_hash_map<uint64_t, std::deque<std::pair<uint64_t, int64_t>>> pending_deletes_
      ABSL_GUARDED_BY(mu_);
  // garbage chunk id -> replicas not told yet.
  absl::flat_hash_map<uint64_t, uint32_t> garbage_remaining_
      ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> handed_out_ ABSL_GUARDED_BY(mu_);
};

}  // namespace medfs::meta
