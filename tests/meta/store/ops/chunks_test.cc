// Chunks: allocation, reference counts through every namespace operation,
// garbage hand-out through heartbeats, orphans, locations.
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/meta/store/test_util.h"

namespace medfs::meta {
namespace {

using testing::StoreTest;

class ChunksTest : public StoreTest {
 public:
  void SetUp() override {
    StoreTest::SetUp();
    servers_ = AddServers(3);
  }

  v1::CreateFileRequest FileWith(uint64_t parent, const std::string& name,
                                 std::vector<v1::Extent> extents, uint64_t size) {
    v1::CreateFileRequest r;
    r.set_parent(parent);
    r.set_name(name);
    for (auto& e : extents) *r.add_extents() = e;
    r.set_size(size);
    return r;
  }

  // Delete commands the server gets in its next heartbeat.
  std::vector<uint64_t> HeartbeatDeletes(uint64_t server) {
    v1::HeartbeatRequest r;
    r.set_server_id(server);
    r.set_capacity_bytes(1ull << 30);
    r.set_free_bytes(1ull << 30);
    auto reply = store_->Heartbeat(r);
    EXPECT_TRUE(reply.ok());
    return {reply->delete_chunks().begin(), reply->delete_chunks().end()};
  }

  std::vector<uint64_t> servers_;
};

TEST_F(ChunksTest, AllocateErrors) {
  struct Case { std::string name; uint32_t count, replication; absl::StatusCode code; std::string message; };
  std::vector<Case> cases = {
      {"zero count", 0, 1, absl::StatusCode::kInvalidArgument, "count"},
      {"too many", 5000, 1, absl::StatusCode::kInvalidArgument, "count"},
      {"replication too high", 1, 17, absl::StatusCode::kInvalidArgument, "replication"},
      {"too few servers", 1, 4, absl::StatusCode::kResourceExhausted,
       "need 4 replicas, only 3 servers up"},
  };
  for (const Case& c : cases) {
    v1::AllocateChunksRequest r;
    r.set_count(c.count);
    r.set_replication(c.replication);
    auto reply = store_->AllocateChunks(r);
    EXPECT_EQ(reply.status().code(), c.code) << c.name << ": " << reply.status();
    EXPECT_TRUE(absl::StrContains(reply.status().message(), c.message))
        << c.name << ": " << reply.status();
  }
  v1::AllocateChunksRequest avoid;
  avoid.set_count(1);
  avoid.set_replication(3);
  avoid.add_avoid_servers(servers_[0]);
  EXPECT_EQ(store_->AllocateChunks(avoid).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(store_->stats().chunk_count, 0u);
}

TEST_F(ChunksTest, AllocateGivesDistinctReplicasAndRecords) {
  v1::AllocateChunksRequest r;
  r.set_count(50);  // replication 0: the default, 2
  auto reply = store_->AllocateChunks(r);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->max_chunk_bytes(), 1u << 20);
  ASSERT_EQ(reply->chunks_size(), 50);
  std::set<uint64_t> ids;
  for (const auto& chunk : reply->chunks()) {
    ids.insert(chunk.chunk_id());
    ASSERT_EQ(chunk.replicas_size(), 2);
    EXPECT_NE(chunk.replicas(0).server_id(), chunk.replicas(1).server_id());
    EXPECT_TRUE(chunk.replicas(0).up());
    v1::ChunkRecord record = Chunk(chunk.chunk_id());
    EXPECT_EQ(record.state(), v1::CHUNK_STATE_ALLOCATED);
    EXPECT_EQ(record.ref_count(), 0u);
    EXPECT_EQ(record.replicas(0), chunk.replicas(0).server_id());
  }
  EXPECT_EQ(ids.size(), 50u);
  EXPECT_EQ(store_->stats().chunk_count, 50u);
}

TEST_F(ChunksTest, CreateSealsAndCountsReferences) {
  uint64_t c = AllocateChunk();
  v1::CreateFileRequest r = FileWith(kRootInode, "f",
      {MakeExtent(0, c, 0, 100), MakeExtent(200, c, 100, 50)}, 300);
  v1::SealedChunk* sealed = r.add_sealed_chunks();
  sealed->set_chunk_id(c);
  sealed->set_length(150);
  sealed->set_crc32c(0xabcd);
  auto file = store_->CreateFile(r);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->extents_size(), 0) << "replies carry no extents";
  EXPECT_EQ(Get(file->id()).extents_size(), 2);
  v1::ChunkRecord record = Chunk(c);
  EXPECT_EQ(record.state(), v1::CHUNK_STATE_SEALED);
  EXPECT_EQ(record.ref_count(), 2u);
  EXPECT_EQ(record.length(), 150u);
  EXPECT_EQ(record.crc32c(), 0xabcdu);
  // A second file packed into the same chunk.
  CreateFile(kRootInode, "g", {MakeExtent(0, c, 0, 10)}, 10);
  EXPECT_EQ(Chunk(c).ref_count(), 3u);
  ASSERT_TRUE(store_->Unlink(kRootInode, "f").ok());
  EXPECT_EQ(Chunk(c).ref_count(), 1u);
  EXPECT_EQ(Chunk(c).state(), v1::CHUNK_STATE_SEALED);
}

TEST_F(ChunksTest, ExtentsPastTheSealedLengthAreRejected) {
  uint64_t c = AllocateChunk();
  v1::CreateFileRequest r = FileWith(kRootInode, "f", {MakeExtent(0, c, 0, 100)}, 100);
  v1::SealedChunk* sealed = r.add_sealed_chunks();
  sealed->set_chunk_id(c);
  sealed->set_length(50);
  EXPECT_EQ(store_->CreateFile(r).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Chunk(c).state(), v1::CHUNK_STATE_ALLOCATED);
}

TEST_F(ChunksTest, UnknownChunkIsNotFound) {
  auto result = store_->CreateFile(
      FileWith(kRootInode, "f", {MakeExtent(0, 777777, 0, 10)}, 10));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(result.status().message(), "777777"));
  EXPECT_EQ(store_->Lookup(kRootInode, "f").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ChunksTest, EveryReleasePathDropsReferences) {
  // Each case creates a file on its own chunk, then releases it one way.
  struct Case { std::string name; std::function<void(ChunksTest*, uint64_t dir)> release; };
  std::vector<Case> cases = {
      {"unlink", [](ChunksTest* t, uint64_t dir) {
         ASSERT_TRUE(t->store_->Unlink(dir, "f").ok()); }},
      {"commit other content", [](ChunksTest* t, uint64_t dir) {
         v1::CommitFileRequest r;
         r.set_inode(t->store_->Lookup(dir, "f")->id());
         ASSERT_TRUE(t->store_->CommitFile(r).ok()); }},
      {"replace_existing", [](ChunksTest* t, uint64_t dir) {
         v1::CreateFileRequest r = t->FileWith(dir, "f", {}, 0);
         r.set_replace_existing(true);
         ASSERT_TRUE(t->store_->CreateFile(r).ok()); }},
      {"rename over", [](ChunksTest* t, uint64_t dir) {
         t->CreateFile(dir, "other");
         v1::RenameRequest r;
         r.set_src_parent(dir); r.set_src_name("other");
         r.set_dst_parent(dir); r.set_dst_name("f");
         ASSERT_TRUE(t->store_->Rename(r).ok()); }},
      {"truncate to zero", [](ChunksTest* t, uint64_t dir) {
         v1::SetAttrRequest r;
         r.set_inode(t->store_->Lookup(dir, "f")->id());
         r.set_set_size(true);
         ASSERT_TRUE(t->store_->SetAttr(r).ok()); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    uint64_t dir = MkDir(kRootInode, c.name).id();
    uint64_t chunk = AllocateChunk();
    CreateFile(dir, "f", {MakeExtent(0, chunk, 0, 10)}, 10);
    ASSERT_EQ(Chunk(chunk).ref_count(), 1u);
    c.release(this, dir);
    v1::ChunkRecord record = Chunk(chunk);
    EXPECT_EQ(record.ref_count(), 0u);
    EXPECT_EQ(record.state(), v1::CHUNK_STATE_GARBAGE);
  }
}

TEST_F(ChunksTest, CommitKeepingAChunkDoesNotCollectIt) {
  uint64_t c = AllocateChunk();
  uint64_t d = AllocateChunk();
  v1::Inode file = CreateFile(kRootInode, "f", {MakeExtent(0, c, 0, 10)}, 10);
  v1::CommitFileRequest r;  // append: old extent kept, new chunk added
  r.set_inode(file.id());
  *r.add_extents() = MakeExtent(0, c, 0, 10);
  *r.add_extents() = MakeExtent(10, d, 0, 10);
  r.set_size(20);
  ASSERT_TRUE(store_->CommitFile(r).ok());
  EXPECT_EQ(Chunk(c).ref_count(), 1u);
  EXPECT_EQ(Chunk(c).state(), v1::CHUNK_STATE_SEALED);
  EXPECT_EQ(Chunk(d).ref_count(), 1u);
}

TEST_F(ChunksTest, TruncateShortensAndDropsExtents) {
  uint64_t c = AllocateChunk();
  uint64_t d = AllocateChunk();
  v1::Inode file = CreateFile(kRootInode, "f",
      {MakeExtent(0, c, 0, 100), MakeExtent(100, d, 0, 100)}, 300);
  v1::SetAttrRequest r;
  r.set_inode(file.id());
  r.set_set_size(true);
  r.set_size(50);
  ASSERT_TRUE(store_->SetAttr(r).ok());
  v1::Inode truncated = Get(file.id());
  ASSERT_EQ(truncated.extents_size(), 1);
  EXPECT_EQ(truncated.extents(0).length(), 50u);
  EXPECT_EQ(truncated.size(), 50u);
  EXPECT_EQ(Chunk(c).ref_count(), 1u);
  EXPECT_EQ(Chunk(d).state(), v1::CHUNK_STATE_GARBAGE);
  r.set_size(1000);  // extend: a hole, no extents added
  ASSERT_TRUE(store_->SetAttr(r).ok());
  EXPECT_EQ(Get(file.id()).extents_size(), 1);
  EXPECT_EQ(Get(file.id()).size(), 1000u);
}

TEST_F(ChunksTest, GarbageIsHandedOutThenDropped) {
  v1::AllocateChunksRequest a;
  a.set_count(1);
  a.set_replication(2);
  auto allocation = store_->AllocateChunks(a);
  ASSERT_TRUE(allocation.ok());
  uint64_t c = allocation->chunks(0).chunk_id();
  uint64_t r0 = allocation->chunks(0).replicas(0).server_id();
  uint64_t r1 = allocation->chunks(0).replicas(1).server_id();
  CreateFile(kRootInode, "f", {MakeExtent(0, c, 0, 10)}, 10);
  ASSERT_TRUE(store_->Unlink(kRootInode, "f").ok());
  EXPECT_EQ(store_->stats().pending_garbage, 1u);
  // Readers of the removed file's content get the grace period first.
  clock_.Advance(absl::ToInt64Nanoseconds(MetaStoreOptions().garbage_grace) - 1);
  EXPECT_TRUE(HeartbeatDeletes(r0).empty()) << "within the grace period";
  clock_.Advance(1);
  EXPECT_EQ(HeartbeatDeletes(r0), std::vector<uint64_t>{c});
  EXPECT_TRUE(HeartbeatDeletes(r0).empty()) << "told once";
  ASSERT_TRUE(store_->RunMaintenance().ok());
  EXPECT_TRUE(store_->GetChunk(c).ok()) << "one replica not told yet";
  EXPECT_EQ(HeartbeatDeletes(r1), std::vector<uint64_t>{c});
  ASSERT_TRUE(store_->RunMaintenance().ok());
  EXPECT_EQ(store_->GetChunk(c).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->stats().chunk_count, 0u);
  // A garbage chunk can never be referenced again.
  EXPECT_EQ(store_->CreateFile(FileWith(kRootInode, "g", {MakeExtent(0, c, 0, 1)}, 1))
                .status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ChunksTest, GarbageSurvivesRestart) {
  uint64_t c = AllocateChunk();
  CreateFile(kRootInode, "f", {MakeExtent(0, c, 0, 10)}, 10);
  ASSERT_TRUE(store_->Unlink(kRootInode, "f").ok());
  Reopen();
  uint64_t replica = Chunk(c).replicas(0);
  EXPECT_TRUE(HeartbeatDeletes(replica).empty()) << "a full grace again after a restart";
  clock_.Advance(absl::ToInt64Nanoseconds(MetaStoreOptions().garbage_grace));
  EXPECT_EQ(HeartbeatDeletes(replica), std::vector<uint64_t>{c});
}

TEST_F(ChunksTest, OrphansBecomeGarbage) {
  uint64_t orphan = AllocateChunk();
  uint64_t used = AllocateChunk();
  CreateFile(kRootInode, "f", {MakeExtent(0, used, 0, 10)}, 10);
  clock_.Advance(absl::ToInt64Nanoseconds(absl::Minutes(59)));
  ASSERT_TRUE(store_->RunMaintenance().ok());
  EXPECT_EQ(Chunk(orphan).state(), v1::CHUNK_STATE_ALLOCATED) << "not yet";
  Reopen();  // the watch list is rebuilt from the records
  clock_.Advance(absl::ToInt64Nanoseconds(absl::Minutes(2)));
  ASSERT_TRUE(store_->RunMaintenance().ok());
  EXPECT_EQ(Chunk(orphan).state(), v1::CHUNK_STATE_GARBAGE);
  EXPECT_EQ(Chunk(used).state(), v1::CHUNK_STATE_SEALED);
  auto late = store_->CreateFile(
      FileWith(kRootInode, "late", {MakeExtent(0, orphan, 0, 10)}, 10));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(late.status().message(), "garbage"));
}

TEST_F(ChunksTest, LocationsCarryAddressesAndUpFlags) {
  uint64_t c = AllocateChunk();
  v1::GetChunkLocationsRequest r;
  r.add_chunk_ids(c);
  auto locations = store_->GetChunkLocations(r);
  ASSERT_TRUE(locations.ok()) << locations.status();
  ASSERT_EQ(locations->chunks_size(), 1);
  ASSERT_EQ(locations->chunks(0).replicas_size(), 1);
  EXPECT_TRUE(locations->chunks(0).replicas(0).up());
  // Everyone falls silent: replicas are reported down.
  clock_.Advance(absl::ToInt64Nanoseconds(absl::Seconds(11)));
  ASSERT_TRUE(store_->RunMaintenance().ok());
  EXPECT_FALSE(store_->GetChunkLocations(r)->chunks(0).replicas(0).up());
  r.add_chunk_ids(123456789);
  EXPECT_EQ(store_->GetChunkLocations(r).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace medfs::meta
