#include "common/fabric/buffer_pool.h"

#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "tests/common/fabric/fabric_test_util.h"

namespace medfs::fabric {
namespace {

class BufferPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto endpoint = Endpoint::Open(testing::LoopbackOptions("tcp;ofi_rxm"));
    ASSERT_TRUE(endpoint.ok()) << endpoint.status();
    endpoint_ = std::move(*endpoint);
  }
  std::unique_ptr<Endpoint> endpoint_;
};

TEST_F(BufferPoolTest, LeasesDistinctBuffersOfOneRegistration) {
  auto pool = BufferPool::Create(endpoint_.get(), {4, 64 * 1024});
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_EQ((*pool)->available(), 4u);
  std::vector<PooledBuffer> buffers;
  std::set<char*> seen;
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<PooledBuffer> buffer = (*pool)->Acquire(absl::Seconds(1));
    ASSERT_TRUE(buffer.ok()) << buffer.status();
    EXPECT_EQ(buffer->size(), 64u * 1024);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer->data()) % 4096, 0u);
    EXPECT_EQ(&buffer->region(), &(*pool)->region());
    // The endpoint's cache hands out the pool's registration for it.
    EXPECT_EQ(*endpoint_->Register(buffer->data(), buffer->size()),
              &(*pool)->region());
    const RemoteBuffer remote = buffer->Remote(16, 100);
    const RemoteBuffer expected = (*pool)->region().Remote(
        static_cast<size_t>(buffer->data() - static_cast<char*>(
                                                 (*pool)->region().data())) +
            16,
        100);
    EXPECT_EQ(remote.address, expected.address);
    EXPECT_EQ(remote.key, expected.key);
    EXPECT_EQ(remote.length, 100u);
    seen.insert(buffer->data());
    buffers.push_back(std::move(*buffer));
  }
  EXPECT_EQ(seen.size(), 4u);
  EXPECT_EQ((*pool)->available(), 0u);
}

TEST_F(BufferPoolTest, ExhaustionWaitsThenFailsWithResourceExhausted) {
  auto pool = BufferPool::Create(endpoint_.get(), {2, 4096});
  ASSERT_TRUE(pool.ok()) << pool.status();
  PooledBuffer a = *(*pool)->Acquire(absl::Seconds(1));
  PooledBuffer b = *(*pool)->Acquire(absl::Seconds(1));
  absl::StatusOr<PooledBuffer> none = (*pool)->Acquire(absl::Milliseconds(10));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(none.status().message().find("all 2 buffers of 4096 bytes"),
            absl::string_view::npos)
      << none.status();
  char* released = a.data();
  a.Release();
  EXPECT_FALSE(a.valid());
  a.Release();  // idempotent
  absl::StatusOr<PooledBuffer> again = (*pool)->Acquire(absl::Seconds(1));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->data(), released);
}

TEST_F(BufferPoolTest, BlockedAcquireWakesOnRelease) {
  auto pool = BufferPool::Create(endpoint_.get(), {1, 4096});
  ASSERT_TRUE(pool.ok()) << pool.status();
  PooledBuffer held = *(*pool)->Acquire(absl::Seconds(1));
  absl::Notification started;
  absl::StatusOr<PooledBuffer> got;
  std::thread waiter([&] {
    started.Notify();
    got = (*pool)->Acquire(absl::Seconds(60));
  });
  started.WaitForNotification();
  {
    PooledBuffer moved = std::move(held);  // returns when `moved` dies
    EXPECT_FALSE(held.valid());
  }
  waiter.join();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->valid());
}

TEST_F(BufferPoolTest, RejectsEmptyPools) {
  EXPECT_EQ(BufferPool::Create(endpoint_.get(), {0, 4096}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BufferPool::Create(endpoint_.get(), {4, 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace medfs::fabric
