// ChunkReservoir: spares for writers' first chunks, with a fake clock.
#include "client/chunk_reservoir.h"

#include <gtest/gtest.h>

#include <vector>

namespace medfs::client {
namespace {

v1::ChunkAllocation Chunk(uint64_t id, std::vector<uint64_t> servers) {
  v1::ChunkAllocation chunk;
  chunk.set_chunk_id(id);
  for (uint64_t s : servers) chunk.add_replicas()->set_server_id(s);
  return chunk;
}

class ChunkReservoirTest : public ::testing::Test {
 protected:
  absl::Time now_ = absl::FromUnixSeconds(1000);
  ChunkReservoir reservoir_{ChunkReservoirOptions{.max_spares = 4, .max_age = absl::Seconds(5)},
                            [this] { return now_; }};
  const absl::flat_hash_set<uint64_t> none_;
};

TEST_F(ChunkReservoirTest, AskedSparesGrowWhileWritersComeBackAndStopAfterAQuietSpell) {
  EXPECT_EQ(reservoir_.SparesWanted(), 0u) << "a lone writer allocates what it uses";
  now_ += absl::Seconds(1);
  EXPECT_EQ(reservoir_.SparesWanted(), 1u);
  now_ += absl::Seconds(1);
  EXPECT_EQ(reservoir_.SparesWanted(), 2u);
  EXPECT_EQ(reservoir_.SparesWanted(), 4u);
  EXPECT_EQ(reservoir_.SparesWanted(), 4u) << "at most max_spares";
  now_ += absl::Seconds(6);
  EXPECT_EQ(reservoir_.SparesWanted(), 0u);
}

TEST_F(ChunkReservoirTest, TakesFreshSparesOfTheSameReplicationAvoidingFailedServers) {
  reservoir_.Add(2, {Chunk(1, {10, 11}), Chunk(2, {12, 13}), Chunk(3, {10, 13})});
  EXPECT_FALSE(reservoir_.Take(3, none_).has_value()) << "other replication";
  auto taken = reservoir_.Take(2, {10});
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->chunk_id(), 2u) << "the first without server 10";
  taken = reservoir_.Take(2, none_);
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->chunk_id(), 1u) << "oldest first";
  EXPECT_EQ(reservoir_.size(), 1u);
  now_ += absl::Seconds(5);
  EXPECT_FALSE(reservoir_.Take(2, none_).has_value()) << "stale placements are dropped";
  EXPECT_EQ(reservoir_.size(), 0u);
}

TEST_F(ChunkReservoirTest, KeepsAtMostMaxSparesAndNoneWithoutReplicas) {
  reservoir_.Add(2, {Chunk(1, {}), Chunk(2, {1}), Chunk(3, {1}), Chunk(4, {1}), Chunk(5, {1}),
                     Chunk(6, {1})});
  EXPECT_EQ(reservoir_.size(), 4u);
  auto taken = reservoir_.Take(2, none_);
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->chunk_id(), 2u);
}

TEST(ChunkReservoirOffTest, ZeroSparesKeepsNothing) {
  ChunkReservoir off(ChunkReservoirOptions{.max_spares = 0});
  off.Add(0, {Chunk(1, {1})});
  EXPECT_EQ(off.size(), 0u);
  off.SparesWanted();
  EXPECT_EQ(off.SparesWanted(), 0u);
}

}  // namespace
}  // namespace medfs::client
