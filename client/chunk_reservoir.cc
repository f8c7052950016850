#include "client/chunk_reservoir.h"

#include <algorithm>
#include <utility>

namespace medfs::client {

ChunkReservoir::ChunkReservoir(ChunkReservoirOptions options, Clock clock)
    : options_(options), clock_(std::move(clock)) {}

std::optional<v1::ChunkAllocation> ChunkReservoir::Take(
    uint32_t replication, const absl::flat_hash_set<uint64_t>& avoid) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  while (!spares_.empty() && now - spares_.front().allocated >= options_.max_age) {
    spares_.pop_front();  // stale placement: meta collects it as an orphan
  }
  for (auto it = spares_.begin(); it != spares_.end(); ++it) {
    if (it->replication != replication) continue;
    const bool usable =
        std::none_of(it->chunk.replicas().begin(), it->chunk.replicas().end(),
                     [&](const v1::ReplicaLocation& r) { return avoid.contains(r.server_id()); });
    if (!usable) continue;
    v1::ChunkAllocation chunk = std::move(it->chunk);
    spares_.erase(it);
    return chunk;
  }
  return std::nullopt;
}

size_t ChunkReservoir::SparesWanted() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  if (now - last_refill_ < options_.max_age) {
    wanted_ = std::min(options_.max_spares, std::max<size_t>(1, 2 * wanted_));
  } else {
    wanted_ = 0;
  }
  last_refill_ = now;
  return wanted_;
}

void ChunkReservoir::Add(uint32_t replication, std::vector<v1::ChunkAllocation> spares) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  for (v1::ChunkAllocation& chunk : spares) {
    if (spares_.size() >= options_.max_spares || chunk.replicas_size() == 0) continue;
    spares_.push_back({std::move(chunk), replication, now});
  }
}

size_t ChunkReservoir::size() const {
  absl::MutexLock lock(&mu_);
  return spares_.size();
}

}  // namespace medfs::client
