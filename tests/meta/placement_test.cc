// Placement: distinct servers, failure domains, too few servers, free-space
// weighting (a seeded generator: deterministic).
#include "meta/placement.h"

#include <map>
#include <set>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace medfs::meta {
namespace {

std::vector<PlacementCandidate> Servers(
    std::vector<std::pair<std::string, uint64_t>> domain_and_free) {
  std::vector<PlacementCandidate> out;
  uint64_t id = 1;
  for (auto& [domain, free] : domain_and_free) out.push_back({id++, domain, free});
  return out;
}

TEST(PlacementTest, Errors) {
  std::mt19937_64 rng(1);
  struct Case { size_t servers; uint32_t replication; absl::StatusCode code; std::string message; };
  std::vector<Case> cases = {
      {3, 0, absl::StatusCode::kInvalidArgument, "replication is 0"},
      {0, 1, absl::StatusCode::kResourceExhausted, "need 1 replicas, only 0 servers up"},
      {2, 3, absl::StatusCode::kResourceExhausted, "need 3 replicas, only 2 servers up"},
  };
  for (const Case& c : cases) {
    std::vector<PlacementCandidate> candidates;
    for (size_t i = 0; i < c.servers; ++i) candidates.push_back({i + 1, "d", 100});
    auto result = PickReplicas(candidates, c.replication, rng);
    EXPECT_EQ(result.status().code(), c.code);
    EXPECT_TRUE(absl::StrContains(result.status().message(), c.message))
        << result.status();
  }
}

TEST(PlacementTest, ReplicasAreDistinct) {
  std::mt19937_64 rng(2);
  auto candidates = Servers({{"a", 10}, {"a", 1000}, {"a", 10}, {"a", 10}});
  for (int i = 0; i < 1000; ++i) {
    auto picked = PickReplicas(candidates, 4, rng);
    ASSERT_TRUE(picked.ok());
    EXPECT_EQ(std::set<uint64_t>(picked->begin(), picked->end()).size(), 4u);
  }
}

TEST(PlacementTest, DistinctFailureDomainsArePreferred) {
  std::mt19937_64 rng(3);
  // Domain "big" has most of the free space on two servers; "small" one.
  auto candidates = Servers({{"big", 1000}, {"big", 1000}, {"small", 1}});
  for (int i = 0; i < 1000; ++i) {
    auto picked = PickReplicas(candidates, 2, rng);
    ASSERT_TRUE(picked.ok());
    std::set<uint64_t> set(picked->begin(), picked->end());
    EXPECT_TRUE(set.count(3)) << "the second domain must be used";
  }
  // Three replicas over two domains: falls back to reusing a domain.
  auto three = PickReplicas(candidates, 3, rng);
  ASSERT_TRUE(three.ok());
  EXPECT_EQ(std::set<uint64_t>(three->begin(), three->end()).size(), 3u);
}

TEST(PlacementTest, WeightedByFreeSpace) {
  std::mt19937_64 rng(4);
  auto candidates = Servers({{"a", 100}, {"b", 300}});
  std::map<uint64_t, int> first;
  const int kTrials = 20000;
  for (int i = 0; i < kTrials; ++i) ++first[(*PickReplicas(candidates, 1, rng))[0]];
  // Expected 25% / 75%; a seeded generator makes this deterministic.
  EXPECT_NEAR(first[1] / double(kTrials), 0.25, 0.02);
  EXPECT_NEAR(first[2] / double(kTrials), 0.75, 0.02);
}

}  // namespace
}  // namespace medfs::meta
