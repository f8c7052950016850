#include "client/io_buffer_pool.h"

#include <algorithm>
#include <memory>
#include <set>

#include "absl/time/clock.h"
#include "common/fabric/endpoint.h"
#include "gtest/gtest.h"

namespace medfs::client {
namespace {

class IoBufferPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto endpoint = fabric::Endpoint::Open(fabric::EndpointOptions());
    ASSERT_TRUE(endpoint.ok()) << endpoint.status();
    endpoint_ = *std::move(endpoint);
    auto pool = IoBufferPool::Create(endpoint_.get(), 4, 64 * 1024);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
  }
  void TearDown() override {
    pool_.reset();
    endpoint_.reset();
  }

  std::unique_ptr<fabric::Endpoint> endpoint_;
  std::unique_ptr<IoBufferPool> pool_;
};

TEST_F(IoBufferPoolTest, AcquireIsAllOrNothing) {
  std::vector<size_t> three = pool_->Acquire(3);
  EXPECT_EQ(std::set<size_t>(three.begin(), three.end()).size(), 3u);
  EXPECT_FALSE(pool_->TryAcquire(2).has_value());
  EXPECT_EQ(pool_->free_count(), 1u);
  auto one = pool_->TryAcquire(1);
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(std::count(three.begin(), three.end(), (*one)[0]), 0);
  for (size_t b : three) pool_->Release(b);
  pool_->Release((*one)[0]);
  EXPECT_EQ(pool_->free_count(), 4u);
}

TEST_F(IoBufferPoolTest, BuffersAreDistinctAndWritable) {
  std::vector<size_t> all = pool_->Acquire(4);
  for (size_t b : all) std::fill_n(pool_->data(b), 64 * 1024, std::byte(b));
  for (size_t b : all) {
    EXPECT_EQ(pool_->data(b)[64 * 1024 - 1], std::byte(b));
    EXPECT_EQ(pool_->Remote(b, 0, 100).length, 100u);
  }
  for (size_t b : all) pool_->Release(b);
}

TEST_F(IoBufferPoolTest, QuarantinedBufferReturnsAfterDeadline) {
  std::vector<size_t> all = pool_->Acquire(4);
  pool_->Quarantine(all[0], absl::Now() + absl::Milliseconds(200));
  EXPECT_FALSE(pool_->TryAcquire(1).has_value());
  // Acquire waits until the quarantine ends.
  std::vector<size_t> back = pool_->Acquire(1);
  EXPECT_EQ(back[0], all[0]);
  pool_->Release(back[0]);
  for (size_t i = 1; i < all.size(); ++i) pool_->Release(all[i]);
}

TEST(IoBufferPoolCreate, RejectsEmptyPool) {
  auto endpoint = fabric::Endpoint::Open(fabric::EndpointOptions());
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  EXPECT_EQ(IoBufferPool::Create(endpoint->get(), 0, 4096).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace medfs::client
