// Chunk placement: which servers hold the replicas of a new chunk.
//
// PickReplicas chooses R DISTINCT servers, preferring servers in failure
// domains no earlier replica uses, each pick weighted by the server's free
// bytes (a server with twice the free space is twice as likely to be
// chosen). The returned order is the replication pipeline order: the
// client writes to the first replica, which forwards to the second, ...
//
// Thread safety: a pure function of its arguments (and `rng`).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace medfs::meta {

struct PlacementCandidate {
  uint64_t server_id = 0;
  // Replicas prefer distinct domains. The caller passes the server's
  // failure_domain label, or its host when unlabelled.
  std::string failure_domain;
  // Weight of the server, in bytes; 0 counts as 1 byte.
  uint64_t free_bytes = 0;
};

// Picks `replication` distinct servers out of `candidates` (live servers
// with room, minus any the caller avoids).
// Errors: kInvalidArgument when replication is 0; kResourceExhausted
// "need R replicas, only K servers up" when there are fewer than R.
absl::StatusOr<std::vector<uint64_t>> PickReplicas(
    const std::vector<PlacementCandidate>& candidates, uint32_t replication,
    std::mt19937_64& rng);

}  // namespace medfs::meta
