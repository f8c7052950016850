// CommitPipeline: group commit, the overlay, ordering of answers.
//
// To make grouping deterministic the tests park the committer thread inside
// an OnDurable action of a first mutation: everything submitted meanwhile
// queues up and must go out in ONE synced write.
#include "meta/store/commit_pipeline.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "meta/store/keys.h"
#include "tests/meta/store/test_util.h"

namespace medfs::meta {
namespace {

class CommitPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KvStoreOptions options;
    options.path = dir_.path() + "/db";
    options.block_cache_bytes = 8 << 20;
    auto kv = KvStore::Open(options);
    ASSERT_TRUE(kv.ok()) << kv.status();
    kv_ = std::move(*kv);
    pipeline_ = std::make_unique<CommitPipeline>(kv_.get(), [] { return 1; });
  }
  void TearDown() override {
    pipeline_.reset();
    kv_.reset();
  }

  // Submits a mutation whose durability parks the committer until
  // `release_` is notified.
  void ParkCommitter() {
    pipeline_->RunAsync(
        [&](Txn& txn) {
          txn.PutCounter("park", 1);
          txn.OnDurable([this] {
            parked_.Notify();
            release_.WaitForNotification();
          });
          return absl::OkStatus();
        },
        [](absl::Status) {});
    parked_.WaitForNotification();
  }

  std::optional<uint64_t> Durable(absl::string_view key) {
    auto value = kv_->Get(Cf::kSystem, key);
    EXPECT_TRUE(value.ok());
    if (!*value) return std::nullopt;
    return DecodeU64(**value);
  }

  testing::TempDir dir_;
  std::unique_ptr<KvStore> kv_;
  std::unique_ptr<CommitPipeline> pipeline_;
  absl::Notification parked_, release_;
};

TEST_F(CommitPipelineTest, QueuedMutationsShareOneSyncedWrite) {
  ParkCommitter();
  uint64_t groups_before = pipeline_->write_groups();
  const int kMutations = 100;
  std::atomic<int> done{0};
  absl::Notification all_done;
  for (int i = 0; i < kMutations; ++i) {
    pipeline_->RunAsync(
        [&](Txn& txn) { return txn.AddToCounter("counter", 1); },
        [&](absl::Status status) {
          EXPECT_TRUE(status.ok());
          if (done.fetch_add(1) + 1 == kMutations) all_done.Notify();
        });
  }
  EXPECT_EQ(done.load(), 0) << "answered before durable";
  EXPECT_EQ(Durable("counter"), std::nullopt);
  release_.Notify();
  all_done.WaitForNotification();
  EXPECT_EQ(Durable("counter"), uint64_t{kMutations});
  // The 100 queued mutations went out as one synced write.
  EXPECT_EQ(pipeline_->write_groups() - groups_before, 1u);
  EXPECT_EQ(pipeline_->committed_mutations(), kMutations + 1u);
}

TEST_F(CommitPipelineTest, MutationsSeePendingWritesReadsDoNot) {
  ParkCommitter();
  pipeline_->RunAsync([](Txn& txn) { txn.PutCounter("x", 7); return absl::OkStatus(); },
                      [](absl::Status) {});
  std::optional<uint64_t> seen;
  pipeline_->RunAsync(
      [&](Txn& txn) {
        auto value = txn.GetCounter("x");
        if (value.ok()) seen = *value;
        return absl::OkStatus();
      },
      [](absl::Status) {});
  EXPECT_EQ(seen, 7u) << "the mutation reads through the overlay";
  EXPECT_EQ(Durable("x"), std::nullopt) << "plain reads see durable state only";
  release_.Notify();
  ASSERT_TRUE(pipeline_->Run([](Txn&) { return absl::OkStatus(); }).ok());
  EXPECT_EQ(Durable("x"), 7u);
}

TEST_F(CommitPipelineTest, FailedMutationAnswersAfterWhatItSaw) {
  ParkCommitter();
  pipeline_->RunAsync([](Txn& txn) { txn.PutCounter("y", 1); return absl::OkStatus(); },
                      [](absl::Status) {});
  std::atomic<bool> answered{false};
  absl::Status failure;
  absl::Notification failed;
  pipeline_->RunAsync(
      [](Txn& txn) {
        txn.PutCounter("z", 1);  // dropped: the logic fails
        return absl::AlreadyExistsError("y exists");
      },
      [&](absl::Status status) {
        failure = status;
        answered = true;
        failed.Notify();
      });
  EXPECT_FALSE(answered.load()) << "answered before the state it saw was durable";
  release_.Notify();
  failed.WaitForNotification();
  EXPECT_EQ(failure.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Durable("y"), 1u);
  EXPECT_EQ(Durable("z"), std::nullopt);
}

TEST_F(CommitPipelineTest, FailureWithNothingPendingAnswersAtOnce) {
  absl::Status status =
      pipeline_->Run([](Txn&) { return absl::NotFoundError("nothing"); });
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(pipeline_->write_groups(), 0u);
}

TEST_F(CommitPipelineTest, ConcurrentMutationsAreExactAndDurable) {
  const int kThreads = 16, kPerThread = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::Status status = pipeline_->Run([&](Txn& txn) {
          txn.PutCounter(absl::StrCat("t", t, "_", i), i);
          return txn.AddToCounter("shared", 1);
        });
        ASSERT_TRUE(status.ok()) << status;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(Durable("shared"), uint64_t{kThreads * kPerThread});
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(Durable(absl::StrCat("t", t, "_", kPerThread - 1)), kPerThread - 1u);
  }
  EXPECT_EQ(pipeline_->committed_mutations(), uint64_t{kThreads * kPerThread});
  EXPECT_LE(pipeline_->write_groups(), pipeline_->committed_mutations());
  ::testing::Test::RecordProperty("write_groups", pipeline_->write_groups());
}

// A CommitBatch runs its mutations in order under one hold of the mutation
// mutex: later items see earlier ones' writes, each keeps its own outcome,
// all successful ones share one synced write, and an outcome that is
// final at once (an error with nothing pending) is answered only when the
// batch ends, on the batch's thread.
TEST_F(CommitPipelineTest, BatchRunsItemsInOrderEachWithItsOwnOutcome) {
  std::vector<absl::Status> outcomes(4, absl::UnknownError("not answered"));
  std::atomic<int> answered{0};
  absl::Notification all_answered;
  auto done = [&](int i) {
    return [&, i](absl::Status status) {
      outcomes[i] = status;
      if (answered.fetch_add(1) + 1 == 4) all_answered.Notify();
    };
  };
  const uint64_t groups_before = pipeline_->write_groups();
  {
    CommitBatch batch(pipeline_.get());
    batch.RunAsync([](Txn&) { return absl::NotFoundError("first fails"); }, done(0));
    batch.RunAsync([](Txn& txn) { txn.PutCounter("b", 5); return absl::OkStatus(); },
                   done(1));
    batch.RunAsync(
        [](Txn& txn) -> absl::Status {
          absl::StatusOr<uint64_t> b = txn.GetCounter("b");
          if (!b.ok()) return b.status();
          if (*b != 5) return absl::InternalError("earlier item not visible");
          txn.PutCounter("c", *b + 1);
          return absl::OkStatus();
        },
        done(2));
    batch.RunAsync([](Txn&) { return absl::AlreadyExistsError("last fails"); }, done(3));
    EXPECT_EQ(outcomes[0].code(), absl::StatusCode::kUnknown)
        << "answered while the batch still holds the mutation mutex";
  }
  all_answered.WaitForNotification();
  EXPECT_EQ(outcomes[0].code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(outcomes[1].ok()) << outcomes[1];
  EXPECT_TRUE(outcomes[2].ok()) << outcomes[2];
  EXPECT_EQ(outcomes[3].code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Durable("b"), 5u);
  EXPECT_EQ(Durable("c"), 6u);
  EXPECT_EQ(pipeline_->write_groups() - groups_before, 1u);
}

// Mutations read the last groups' durable writes from the overlay's cache;
// past its size bound it starts afresh, and nothing read through it is
// stale or lost: every value read back equals what RocksDB holds.
TEST_F(CommitPipelineTest, DurableCacheStaysExactAcrossItsBound) {
  const std::string big(64 << 10, 'v');
  const size_t rounds = 2 * Overlay::kMaxDurableBytes / big.size() + 8;
  for (size_t i = 0; i < rounds; ++i) {
    absl::Status status = pipeline_->Run([&](Txn& txn) -> absl::Status {
      absl::StatusOr<uint64_t> count = txn.GetCounter("count");
      if (!count.ok()) return count.status();
      if (*count != i) {
        return absl::InternalError(absl::StrCat("read count ", *count, ", expected ", i));
      }
      txn.PutCounter("count", i + 1);
      v1::Inode inode;
      inode.set_id(100 + i % 4);
      inode.set_symlink_target(big + std::to_string(i));
      txn.PutInode(inode);
      return absl::OkStatus();
    });
    ASSERT_TRUE(status.ok()) << status;
  }
  EXPECT_EQ(Durable("count"), uint64_t{rounds});
  for (size_t i = rounds - 4; i < rounds; ++i) {
    std::string seen;
    ASSERT_TRUE(pipeline_->Run([&](Txn& txn) -> absl::Status {
      auto inode = txn.GetInode(100 + i % 4);
      if (!inode.ok()) return inode.status();
      if (*inode) seen = (*inode)->symlink_target();
      return absl::OkStatus();
    }).ok());
    EXPECT_EQ(seen, big + std::to_string(i));
  }
}

}  // namespace
}  // namespace medfs::meta
