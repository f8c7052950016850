// MetaStore as a whole: restart (close + reopen), id high-water marks,
// concurrency through the public API.
#include "meta/store/meta_store.h"

#include <thread>

#include "absl/synchronization/notification.h"

#include "gtest/gtest.h"
#include "tests/meta/store/test_util.h"

namespace medfs::meta {
namespace {

using testing::StoreTest;

TEST_F(StoreTest, EverythingSurvivesReopen) {
  uint64_t dir = MkDir(kRootInode, "dir").id();
  AddServers(2);
  uint64_t chunk = AllocateChunk();
  uint64_t file = CreateFile(dir, "file", {MakeExtent(0, chunk, 0, 5)}, 5).id();
  v1::SymlinkRequest link;
  link.set_parent(dir);
  link.set_name("link");
  link.set_target("file");
  ASSERT_TRUE(store_->Symlink(link).ok());
  v1::Inode dir_before = Get(dir), file_before = Get(file);
  MetaStoreStats stats_before = store_->stats();
  Reopen();
  EXPECT_EQ(Get(dir).SerializeAsString(), dir_before.SerializeAsString());
  EXPECT_EQ(Get(file).SerializeAsString(), file_before.SerializeAsString());
  EXPECT_EQ(store_->ResolvePath("/dir/link", true)->id(), file);
  EXPECT_EQ(Chunk(chunk).ref_count(), 1u);
  EXPECT_EQ(store_->stats().inode_count, stats_before.inode_count);
  EXPECT_EQ(store_->stats().chunk_count, 1u);
  EXPECT_EQ(store_->ClusterStatus()->servers_size(), 2);
}

TEST_F(StoreTest, IdsAreNeverReusedAcrossRestarts) {
  MetaStoreOptions options = Options();
  options.id_reservation = 16;
  ReopenWith(options);
  AddServers(1);
  uint64_t last_inode = 0, last_chunk = 0;
  for (int round = 0; round < 3; ++round) {
    uint64_t inode = CreateFile(kRootInode, absl::StrCat("f", round)).id();
    uint64_t chunk = AllocateChunk();
    EXPECT_GT(inode, last_inode);
    EXPECT_GT(chunk, last_chunk);
    if (round > 0) {
      // A restart skips the rest of the reserved range.
      EXPECT_GE(inode, last_inode + 16 - 1);
      EXPECT_GE(chunk, last_chunk + 16 - 1);
    }
    last_inode = inode;
    last_chunk = chunk;
    ReopenWith(options);
  }
  // Within one run ids are consecutive and cross range boundaries.
  uint64_t previous = 0;
  for (int i = 0; i < 40; ++i) {
    uint64_t id = MkDir(kRootInode, absl::StrCat("d", i)).id();
    if (previous != 0) {
      EXPECT_EQ(id, previous + 1);
    }
    previous = id;
  }
}

TEST_F(StoreTest, ConcurrentCreatesKeepCountsExact) {
  const int kThreads = 16, kPerThread = 100;
  uint64_t dir = MkDir(kRootInode, "d").id();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        v1::CreateFileRequest r;
        r.set_parent(dir);
        r.set_name(absl::StrCat(t, "-", i));
        r.set_exclusive(true);
        ASSERT_TRUE(store_->CreateFile(r).ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(Get(dir).entry_count(), uint64_t{kThreads * kPerThread});
  EXPECT_EQ(store_->stats().inode_count, 2u + kThreads * kPerThread);
  MetaStoreStats stats = store_->stats();
  EXPECT_LE(stats.write_groups, stats.committed_mutations);
  Reopen();
  EXPECT_EQ(Get(dir).entry_count(), uint64_t{kThreads * kPerThread});
}

TEST_F(StoreTest, SecondOpenOfTheSameDatabaseFails) {
  auto second = MetaStore::Open(Options());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable)
      << second.status();
}

}  // namespace
}  // namespace medfs::meta

namespace medfs::meta {
namespace {

TEST_F(StoreTest, AsyncFormsAnswerOnceWithTheBlockingOutcome) {
  absl::Notification made;
  absl::StatusOr<v1::Inode> dir;
  v1::MkDirRequest mkdir;
  mkdir.set_parent(kRootInode);
  mkdir.set_name("d");
  store_->MkDirAsync(mkdir, [&](absl::StatusOr<v1::Inode> result) {
    dir = std::move(result);
    made.Notify();
  });
  made.WaitForNotification();
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(store_->Lookup(kRootInode, "d")->id(), dir->id()) << "durable";

  absl::Notification failed;
  absl::StatusOr<v1::Inode> again;
  store_->MkDirAsync(mkdir, [&](absl::StatusOr<v1::Inode> result) {
    again = std::move(result);
    failed.Notify();
  });
  failed.WaitForNotification();
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);

  absl::Notification removed;
  absl::Status rmdir;
  store_->RmDirAsync(kRootInode, "d", [&](absl::Status status) {
    rmdir = status;
    removed.Notify();
  });
  removed.WaitForNotification();
  EXPECT_TRUE(rmdir.ok()) << rmdir;
  EXPECT_EQ(store_->Lookup(kRootInode, "d").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace medfs::meta
