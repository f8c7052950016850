#include "meta/placement.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace medfs::meta {
namespace {

// Index into `candidates` of a weighted random pick among those `eligible`.
// REQUIRES: at least one eligible candidate.
size_t WeightedPick(const std::vector<PlacementCandidate>& candidates,
                    const std::vector<bool>& eligible, std::mt19937_64& rng) {
  double total = 0;
  size_t last = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (!eligible[i]) continue;
    total += static_cast<double>(std::max<uint64_t>(candidates[i].free_bytes, 1));
    last = i;
  }
  double target = std::uniform_real_distribution<double>(0, total)(rng);
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (!eligible[i]) continue;
    target -= static_cast<double>(std::max<uint64_t>(candidates[i].free_bytes, 1));
    if (target < 0) return i;
  }
  return last;  // rounding at the very end of the range
}

}  // namespace

absl::StatusOr<std::vector<uint64_t>> PickReplicas(
    const std::vector<PlacementCandidate>& candidates, uint32_t replication,
    std::mt19937_64& rng) {
  if (replication == 0) {
    return absl::InvalidArgumentError("placing a chunk: replication is 0");
  }
  if (candidates.size() < replication) {
    return absl::ResourceExhaustedError(
        absl::StrCat("placing a chunk: need ", replication,
                     " replicas, only ", candidates.size(), " servers up"));
  }
  std::vector<bool> taken(candidates.size(), false);
  absl::flat_hash_set<std::string> used_domains;
  std::vector<uint64_t> picked;
  picked.reserve(replication);
  for (uint32_t r = 0; r < replication; ++r) {
    std::vector<bool> eligible(candidates.size(), false);
    bool any_new_domain = false;
    for (size_t i = 0; i < candidates.size(); ++i) {
      if (taken[i] || used_domains.contains(candidates[i].failure_domain)) continue;
      eligible[i] = any_new_domain = true;
    }
    if (!any_new_domain) {  // every domain is used: any other server will do
      for (size_t i = 0; i < candidates.size(); ++i) eligible[i] = !taken[i];
    }
    size_t choice = WeightedPick(candidates, eligible, rng);
    taken[choice] = true;
    used_domains.insert(candidates[choice].failure_domain);
    picked.push_back(candidates[choice].server_id);
  }
  return picked;
}

}  // namespace medfs::meta
