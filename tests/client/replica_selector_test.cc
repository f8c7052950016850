#include "client/replica_selector.h"

#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace medfs::client {
namespace {

class FakeClock {
 public:
  absl::Time Now() const { return now_; }
  void Advance(absl::Duration d) { now_ += d; }

 private:
  absl::Time now_ = absl::FromUnixSeconds(1000);
};

v1::ChunkLocation Location(uint64_t chunk_id,
                           std::vector<std::pair<uint64_t, bool>> replicas) {
  v1::ChunkLocation location;
  location.set_chunk_id(chunk_id);
  for (auto [id, up] : replicas) {
    v1::ReplicaLocation* r = location.add_replicas();
    r->set_server_id(id);
    r->set_up(up);
  }
  return location;
}

std::vector<uint64_t> Ids(const std::vector<v1::ReplicaLocation>& order) {
  std::vector<uint64_t> ids;
  for (const auto& r : order) ids.push_back(r.server_id());
  return ids;
}

class ReplicaSelectorTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  ReplicaSelector selector_{absl::Seconds(10), [this] { return clock_.Now(); }};
};

TEST_F(ReplicaSelectorTest, EmptyLocationGivesEmptyOrder) {
  EXPECT_TRUE(selector_.Order(Location(1, {})).empty());
}

TEST_F(ReplicaSelectorTest, OrderIsAPermutationAndDeterministic) {
  const auto location = Location(42, {{1, true}, {2, true}, {3, true}});
  const auto first = Ids(selector_.Order(location));
  EXPECT_EQ(std::set<uint64_t>(first.begin(), first.end()),
            (std::set<uint64_t>{1, 2, 3}));
  EXPECT_EQ(Ids(selector_.Order(location)), first);
}

TEST_F(ReplicaSelectorTest, SpreadsFirstChoiceAcrossChunks) {
  std::set<uint64_t> first_choices;
  for (uint64_t chunk = 1; chunk <= 64; ++chunk) {
    const auto location = Location(chunk, {{1, true}, {2, true}, {3, true}});
    first_choices.insert(selector_.Order(location)[0].server_id());
  }
  EXPECT_EQ(first_choices.size(), 3u);
}

TEST_F(ReplicaSelectorTest, DownReplicasGoLast) {
  for (uint64_t chunk = 1; chunk <= 32; ++chunk) {
    const auto order =
        Ids(selector_.Order(Location(chunk, {{1, false}, {2, true}})));
    EXPECT_EQ(order, (std::vector<uint64_t>{2, 1})) << "chunk " << chunk;
  }
}

TEST_F(ReplicaSelectorTest, RecentlyFailedAvoidedUntilExpiryOrSuccess) {
  selector_.MarkFailed(2);
  for (uint64_t chunk = 1; chunk <= 32; ++chunk) {
    const auto order = Ids(
        selector_.Order(Location(chunk, {{1, true}, {2, true}, {3, false}})));
    EXPECT_EQ(order, (std::vector<uint64_t>{1, 2, 3})) << "chunk " << chunk;
  }
  EXPECT_TRUE(selector_.RecentlyFailed(2));
  clock_.Advance(absl::Seconds(10));
  EXPECT_FALSE(selector_.RecentlyFailed(2));
  selector_.MarkFailed(1);
  EXPECT_TRUE(selector_.RecentlyFailed(1));
  selector_.MarkSucceeded(1);
  EXPECT_FALSE(selector_.RecentlyFailed(1));
}

TEST_F(ReplicaSelectorTest, ListsRecentlyFailedServers) {
  selector_.MarkFailed(4);
  selector_.MarkFailed(9);
  selector_.MarkSucceeded(9);
  EXPECT_EQ(selector_.RecentlyFailedServers(), (std::vector<uint64_t>{4}));
  clock_.Advance(absl::Seconds(10));
  EXPECT_TRUE(selector_.RecentlyFailedServers().empty());
}

}  // namespace
}  // namespace medfs::client
