#include "meta/store/server_table.h"

#include <algorithm>

namespace medfs::meta {

void ServerTable::Load(v1::ServerRecord record, int64_t now_ns) {
  record.set_state(v1::SERVER_STATE_UP);
  record.set_last_heartbeat_ns(now_ns);
  Upsert(record);
}

std::optional<uint64_t> ServerTable::FindByUuid(const std::string& uuid) const {
  absl::MutexLock lock(&mu_);
  auto it = by_uuid_.find(uuid);
  if (it == by_uuid_.end()) return std::nullopt;
  return it->second;
}

std::optional<v1::ServerRecord> ServerTable::Find(uint64_t id) const {
  absl::MutexLock lock(&mu_);
  auto it = servers_.find(id);
  if (it == servers_.end()) return std::nullopt;
  return it->second;
}

uint64_t ServerTable::UnusedId() const {
  absl::MutexLock lock(&mu_);
  uint64_t max_id = 0;
  for (const auto& [id, record] : servers_) max_id = std::max(max_id, id);
  return max_id + 1;
}

void ServerTable::Upsert(const v1::ServerRecord& record) {
  absl::MutexLock lock(&mu_);
  servers_[record.id()] = record;
  by_uuid_[record.uuid()] = record.id();
}

bool ServerTable::Heartbeat(const v1::HeartbeatRequest& request, int64_t now_ns,
                            size_t max_deletes, std::vector<uint64_t>* deletes) {
  absl::MutexLock lock(&mu_);
  auto it = servers_.find(request.server_id());
  if (it == servers_.end()) return false;
  v1::ServerRecord& server = it->second;
  server.set_capacity_bytes(request.capacity_bytes());
  server.set_free_bytes(request.free_bytes());
  server.set_chunk_count(request.chunk_count());
  server.set_last_heartbeat_ns(now_ns);
  if (server.state() != v1::SERVER_STATE_DRAINING) {
    server.set_state(v1::SERVER_STATE_UP);
  }
  auto pending = pending_deletes_.find(request.server_id());
  if (pending == pending_deletes_.end()) return true;
  auto& chunks = pending->second;
  for (size_t n = 0; n < max_deletes && !chunks.empty() && chunks.front().second <= now_ns;
       ++n) {
    deletes->push_back(chunks.front().first);
    HandOut(chunks.front().first);
    chunks.pop_front();
  }
  if (chunks.empty()) pending_deletes_.erase(pending);
  return true;
}

std::vector<uint64_t> ServerTable::MarkSilentServersDead(int64_t now_ns,
                                                         int64_t dead_after_ns) {
  absl::MutexLock lock(&mu_);
  std::vector<uint64_t> dead;
  for (auto& [id, server] : servers_) {
    if (server.state() == v1::SERVER_STATE_UP &&
        now_ns - server.last_heartbeat_ns() > dead_after_ns) {
      server.set_state(v1::SERVER_STATE_DEAD);
      dead.push_back(id);
    }
  }
  std::sort(dead.begin(), dead.end());
  return dead;
}

std::vector<PlacementCandidate> ServerTable::PlacementCandidates(
    const std::vector<uint64_t>& avoid, uint64_t min_free_bytes) const {
  absl::MutexLock lock(&mu_);
  std::vector<PlacementCandidate> out;
  out.reserve(servers_.size());
  for (const auto& [id, server] : servers_) {
    if (server.state() != v1::SERVER_STATE_UP) continue;
    if (server.free_bytes() < min_free_bytes) continue;
    if (std::find(avoid.begin(), avoid.end(), id) != avoid.end()) continue;
    out.push_back(PlacementCandidate{
        id,
        server.failure_domain().empty() ? server.host() : server.failure_domain(),
        server.free_bytes()});
  }
  // Deterministic order for a given table (tests seed the generator).
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.server_id < b.server_id; });
  return out;
}

uint32_t ServerTable::CountUp() const {
  absl::MutexLock lock(&mu_);
  uint32_t up = 0;
  for (const auto& [id, server] : servers_) {
    up += server.state() == v1::SERVER_STATE_UP;
  }
  return up;
}

void ServerTable::FillLocation(uint64_t server_id,
                               v1::ReplicaLocation* location) const {
  absl::MutexLock lock(&mu_);
  location->set_server_id(server_id);
  auto it = servers_.find(server_id);
  if (it == servers_.end()) {
    location->set_up(false);
    return;
  }
  location->set_fabric_address(it->second.fabric_address());
  location->set_data_endpoint(it->second.data_endpoint());
  location->set_up(it->second.state() == v1::SERVER_STATE_UP);
}

std::vector<v1::ServerRecord> ServerTable::AllServers() const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::ServerRecord> out;
  out.reserve(servers_.size());
  for (const auto& [id, server] : servers_) out.push_back(server);
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.id() < b.id(); });
  return out;
}

ServerTable::Totals ServerTable::UpTotals() const {
  absl::MutexLock lock(&mu_);
  Totals totals;
  for (const auto& [id, server] : servers_) {
    if (server.state() != v1::SERVER_STATE_UP) continue;
    totals.capacity_bytes += server.capacity_bytes();
    totals.free_bytes += server.free_bytes();
    ++totals.servers_up;
  }
  return totals;
}

void ServerTable::AddGarbage(uint64_t chunk_id,
                             const std::vector<uint64_t>& replicas,
                             int64_t deletable_at_ns) {
  absl::MutexLock lock(&mu_);
  if (garbage_remaining_.contains(chunk_id)) return;
  uint32_t remaining = 0;
  for (uint64_t server : replicas) {
    if (!servers_.contains(server)) continue;  // unknown: nobody to tell
    pending_deletes_[server].emplace_back(chunk_id, deletable_at_ns);
    ++remaining;
  }
  if (remaining == 0) {
    handed_out_.push_back(chunk_id);
    return;
  }
  garbage_remaining_[chunk_id] = remaining;
}

void ServerTable::HandOut(uint64_t chunk_id) {
  auto it = garbage_remaining_.find(chunk_id);
  if (it == garbage_remaining_.end()) return;
  if (--it->second == 0) {
    garbage_remaining_.erase(it);
    handed_out_.push_back(chunk_id);
  }
}

std::vector<uint64_t> ServerTable::TakeFullyHandedOut() {
  absl::MutexLock lock(&mu_);
  std::vector<uint64_t> out;
  out.swap(handed_out_);
  return out;
}

size_t ServerTable::PendingGarbage() const {
  absl::MutexLock lock(&mu_);
  return garbage_remaining_.size();
}

}  // namespace medfs::meta
