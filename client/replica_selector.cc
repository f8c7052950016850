#include "client/replica_selector.h"

#include <algorithm>
#include <utility>

namespace medfs::client {
namespace {

// A 64-bit mix (splitmix64 finaliser) so consecutive chunk ids spread.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

ReplicaSelector::ReplicaSelector(absl::Duration avoid_for, Clock clock)
    : avoid_for_(avoid_for), clock_(std::move(clock)) {}

std::vector<v1::ReplicaLocation> ReplicaSelector::Order(
    const v1::ChunkLocation& location) const {
  std::vector<v1::ReplicaLocation> replicas(location.replicas().begin(),
                                            location.replicas().end());
  if (replicas.empty()) return replicas;
  const size_t start = Mix(location.chunk_id()) % replicas.size();
  std::rotate(replicas.begin(), replicas.begin() + start, replicas.end());
  // Rank: 0 up and healthy, 1 up but failed recently, 2 down.
  auto rank = [this](const v1::ReplicaLocation& r) {
    if (!r.up()) return 2;
    return RecentlyFailed(r.server_id()) ? 1 : 0;
  };
  std::stable_sort(replicas.begin(), replicas.end(),
                   [&](const v1::ReplicaLocation& a,
                       const v1::ReplicaLocation& b) {
                     return rank(a) < rank(b);
                   });
  return replicas;
}

void ReplicaSelector::MarkFailed(uint64_t server_id) {
  const absl::Time until = clock_() + avoid_for_;
  absl::MutexLock lock(&mu_);
  failed_until_[server_id] = until;
}

void ReplicaSelector::MarkSucceeded(uint64_t server_id) {
  absl::MutexLock lock(&mu_);
  failed_until_.erase(server_id);
}

bool ReplicaSelector::RecentlyFailed(uint64_t server_id) const {
  const absl::Time now = clock_();
  absl::MutexLock lock(&mu_);
  auto it = failed_until_.find(server_id);
  return it != failed_until_.end() && now < it->second;
}

std::vector<uint64_t> ReplicaSelector::RecentlyFailedServers() const {
  const absl::Time now = clock_();
  absl::MutexLock lock(&mu_);
  std::vector<uint64_t> servers;
  for (const auto& [server, until] : failed_until_) {
    if (now < until) servers.push_back(server);
  }
  return servers;
}

}  // namespace medfs::client
