// Replica choice for chunk reads.
//
// ReplicaSelector orders the replicas of a chunk for one read: it spreads
// load by rotating the replica list by a hash of the chunk id (so different
// chunks start at different servers), then prefers, in this order, replicas
// meta reports `up` that have not failed recently, `up` replicas that failed
// recently, and replicas meta reports down. A server that fails a request
// is remembered as failed for `avoid_for`; a later success clears it.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/proto/medfs.pb.h"

namespace medfs::client {

class ReplicaSelector {
 public:
  using Clock = std::function<absl::Time()>;

  explicit ReplicaSelector(absl::Duration avoid_for = absl::Seconds(10),
                           Clock clock = [] { return absl::Now(); });

  // The replicas of `location` in the order a read should try them.
  std::vector<v1::ReplicaLocation> Order(
      const v1::ChunkLocation& location) const;

  // Records the outcome of a request to `server_id`.
  void MarkFailed(uint64_t server_id);
  void MarkSucceeded(uint64_t server_id);
  // Whether `server_id` failed within the last avoid_for.
  bool RecentlyFailed(uint64_t server_id) const;
  // Every server that failed within the last avoid_for.
  std::vector<uint64_t> RecentlyFailedServers() const;

 private:
  // Constant after construction.
  const absl::Duration avoid_for_;
  const Clock clock_;

  mutable absl::Mutex mu_;
  // server id -> until when to avoid it. Guarded by mu_.
  absl::flat_hash_map<uint64_t, absl::Time> failed_until_ ABSL_GUARDED_BY(mu_);
};

}  // namespace medfs::client
