#include "client/attribute_cache.h"

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

v1::Inode MakeInode(uint64_t id, uint64_t size = 0) {
  v1::Inode inode;
  inode.set_id(id);
  inode.set_size(size);
  return inode;
}

class AttributeCacheTest : public ::testing::Test {
 protected:
  AttributeCache MakeCache(size_t capacity) {
    return AttributeCache(capacity, absl::Seconds(1),
                          [this] { return clock_.Now(); });
  }
  FakeClock clock_;
};

TEST_F(AttributeCacheTest, HitWithinTtlMissAfter) {
  AttributeCache cache = MakeCache(10);
  cache.Put(MakeInode(5, 42), false);
  clock_.Advance(absl::Milliseconds(999));
  ASSERT_TRUE(cache.Get(5, false).has_value());
  EXPECT_EQ(cache.Get(5, false)->size(), 42u);
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_FALSE(cache.Get(5, false).has_value());
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(AttributeCacheTest, ExtentsNeededMissWithoutThem) {
  AttributeCache cache = MakeCache(10);
  cache.Put(MakeInode(5), /*has_extents=*/false);
  EXPECT_FALSE(cache.Get(5, /*need_extents=*/true).has_value());
  cache.Put(MakeInode(5), /*has_extents=*/true);
  EXPECT_TRUE(cache.Get(5, true).has_value());
  EXPECT_TRUE(cache.Get(5, false).has_value());
}

TEST_F(AttributeCacheTest, BoundedEvictsLeastRecentlyUsed) {
  AttributeCache cache = MakeCache(3);
  cache.Put(MakeInode(1), false);
  cache.Put(MakeInode(2), false);
  cache.Put(MakeInode(3), false);
  ASSERT_TRUE(cache.Get(1, false).has_value());  // 2 is now the oldest
  cache.Put(MakeInode(4), false);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_TRUE(cache.Get(1, false).has_value());
  EXPECT_FALSE(cache.Get(2, false).has_value());
  EXPECT_TRUE(cache.Get(3, false).has_value());
  EXPECT_TRUE(cache.Get(4, false).has_value());
}

TEST_F(AttributeCacheTest, PutReplacesAndRefreshesTtl) {
  AttributeCache cache = MakeCache(3);
  cache.Put(MakeInode(1, 10), false);
  clock_.Advance(absl::Milliseconds(800));
  cache.Put(MakeInode(1, 20), false);
  clock_.Advance(absl::Milliseconds(800));
  ASSERT_TRUE(cache.Get(1, false).has_value());
  EXPECT_EQ(cache.Get(1, false)->size(), 20u);
  EXPECT_EQ(cache.size(), 1u);
}

TEST_F(AttributeCacheTest, InvalidateAndClear) {
  AttributeCache cache = MakeCache(3);
  cache.Put(MakeInode(1), false);
  cache.Put(MakeInode(2), false);
  cache.Invalidate(1);
  EXPECT_FALSE(cache.Get(1, false).has_value());
  EXPECT_TRUE(cache.Get(2, false).has_value());
  cache.Clear();
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(AttributeCacheTest, ZeroCapacityDisables) {
  AttributeCache cache = MakeCache(0);
  cache.Put(MakeInode(1), true);
  EXPECT_FALSE(cache.Get(1, false).has_value());
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace medfs::client
