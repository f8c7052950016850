// The client library against a real cluster (meta + 3 chunkservers, R=2,
// 8 MiB chunks): byte-identical put/get across sizes and chunk
// boundaries, reads and writes surviving a killed chunkserver and a meta
// restart, corrupt replicas, unknown chunks and a full chunk folder.
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/client.h"
#include "client/meta_client.h"
#include "gtest/gtest.h"
#include "tests/integration/test_cluster.h"

namespace medfs::client {
namespace {

namespace fs = std::filesystem;
using testing::TestCluster;
using testing::TestClusterOptions;

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kChunk = 8 * kMiB;  // the test cluster's max_chunk_bytes
constexpr size_t kSlice = 8 * kMiB;    // bytes generated/compared at a time

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Content of test file `seed`: bytes [offset, offset + out.size()).
// REQUIRES: offset % 8 == 0.
void Fill(uint64_t seed, uint64_t offset, std::span<std::byte> out) {
  uint64_t word = offset / 8;
  size_t i = 0;
  for (; i + 8 <= out.size(); i += 8, ++word) {
    const uint64_t v = Mix(seed * 0x100000001b3ULL + word);
    std::memcpy(out.data() + i, &v, 8);
  }
  if (i < out.size()) {
    const uint64_t v = Mix(seed * 0x100000001b3ULL + word);
    std::memcpy(out.data() + i, &v, out.size() - i);
  }
}

ClientOptions TestClientOptions(const std::string& meta) {
  ClientOptions options;
  options.meta_address = meta;
  options.chunk_call_timeout = absl::Seconds(3);
  options.meta_retry_budget = absl::Seconds(30);
  options.failed_server_avoid_for = absl::Seconds(30);
  return options;
}

absl::StatusOr<v1::Inode> WriteFile(Client& client, uint64_t dir,
                                    const std::string& name, uint64_t seed,
                                    uint64_t size) {
  auto writer = client.NewWriter();
  if (!writer.ok()) return writer.status();
  std::vector<std::byte> slice(std::min<uint64_t>(kSlice, std::max<uint64_t>(size, 1)));
  for (uint64_t offset = 0; offset < size; offset += slice.size()) {
    const size_t n = std::min<uint64_t>(slice.size(), size - offset);
    Fill(seed, offset, std::span<std::byte>(slice.data(), n));
    absl::Status s = (*writer)->Append(std::span<const std::byte>(slice.data(), n));
    if (!s.ok()) return s;
  }
  auto content = (*writer)->Finish();
  if (!content.ok()) return content.status();
  if (content->size != size) return absl::InternalError("size mismatch");
  CreateFileOptions options;
  options.replace_existing = true;
  return client.CreateFile(dir, name, *content, options);
}

// Reads the whole file `inode` in slices (into `buffer`, which may be
// registered) and compares with the expected content.
::testing::AssertionResult VerifyFile(Client& client, uint64_t inode_id,
                                      uint64_t seed, uint64_t size,
                                      std::span<std::byte> buffer) {
  auto inode = client.GetAttr(inode_id, true);
  if (!inode.ok()) return ::testing::AssertionFailure() << inode.status();
  if (inode->size() != size) {
    return ::testing::AssertionFailure()
           << "inode " << inode_id << " size " << inode->size() << " want " << size;
  }
  std::vector<std::byte> expected(buffer.size());
  for (uint64_t offset = 0; offset < size; offset += buffer.size()) {
    const size_t want = std::min<uint64_t>(buffer.size(), size - offset);
    auto n = client.Read(*inode, offset, buffer.subspan(0, want));
    if (!n.ok()) return ::testing::AssertionFailure() << n.status();
    if (*n != want) {
      return ::testing::AssertionFailure() << "short read " << *n << " at " << offset;
    }
    Fill(seed, offset, std::span<std::byte>(expected.data(), want));
    if (std::memcmp(buffer.data(), expected.data(), want) != 0) {
      return ::testing::AssertionFailure()
             << "inode " << inode_id << " differs in [" << offset << ", +" << want << ")";
    }
  }
  // Reads past the end are short, at the end empty.
  std::byte tail[16];
  auto n = client.Read(*inode, size, std::span<std::byte>(tail, sizeof(tail)));
  if (!n.ok() || *n != 0) {
    return ::testing::AssertionFailure() << "read at EOF: " << n.status();
  }
  return ::testing::AssertionSuccess();
}

struct TestFile {
  std::string name;
  uint64_t seed;
  uint64_t size;
  uint64_t inode = 0;
};

std::vector<TestFile> MakeFiles(size_t count, uint64_t first_seed,
                                std::vector<uint64_t> fixed_sizes) {
  std::vector<TestFile> files;
  std::mt19937_64 random(first_seed);
  for (size_t i = 0; i < count; ++i) {
    uint64_t size;
    if (i < fixed_sizes.size()) {
      size = fixed_sizes[i];
    } else if (i % 10 == 0) {
      size = random() % (12 * kMiB);  // a few multi-piece files
    } else {
      size = random() % (700 * 1024);  // DICOM-slice sized
    }
    files.push_back({absl::StrFormat("f%03d", i), first_seed + i, size});
  }
  return files;
}

class ClusterTest : public ::testing::Test {
 protected:
  void StartCluster(int chunkservers = 3) {
    TestClusterOptions options;
    options.chunkservers = chunkservers;
    options.replication = 2;
    options.max_chunk_bytes = kChunk;
    options.dead_server_seconds = 3;
    auto cluster = TestCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    auto client = Client::Connect(TestClientOptions(cluster_->meta_address()));
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  // Writes `files` into folder `dir_name` using `threads` threads.
  void WriteAll(std::vector<TestFile>& files, const std::string& dir_name,
                int threads) {
    auto dir = client_->MkDir(kRootInode, dir_name, 0755, 0, 0);
    ASSERT_TRUE(dir.ok()) << dir.status();
    std::atomic<size_t> next{0};
    std::vector<std::string> errors(files.size());
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        for (size_t i; (i = next.fetch_add(1)) < files.size();) {
          auto inode = WriteFile(*client_, dir->id(), files[i].name,
                                 files[i].seed, files[i].size);
          if (inode.ok()) {
            files[i].inode = inode->id();
          } else {
            errors[i] = inode.status().ToString();
          }
        }
      });
    }
    for (auto& w : workers) w.join();
    for (size_t i = 0; i < files.size(); ++i) {
      EXPECT_EQ(errors[i], "") << files[i].name << " size " << files[i].size;
    }
  }

  void VerifyAll(const std::vector<TestFile>& files, std::span<std::byte> buffer) {
    for (const TestFile& f : files) {
      EXPECT_TRUE(VerifyFile(*client_, f.inode, f.seed, f.size, buffer))
          << f.name << " size " << f.size;
    }
  }

  void TearDown() override {
    if (!HasFailure() || cluster_ == nullptr) return;
    for (int i = 0; i < cluster_->chunkserver_count(); ++i) {
      if (cluster_->chunkserver(i) == nullptr) continue;
      std::cerr << "--- chunkserver " << i << " log tail\n"
                << cluster_->chunkserver(i)->LogTail(3000) << "\n";
    }
  }

  std::unique_ptr<TestCluster> cluster_;
  std::unique_ptr<Client> client_;
};

TEST_F(ClusterTest, PutGetTwoHundredFilesByteIdentical) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  const std::vector<uint64_t> boundaries = {
      0, 1, 4095, 4096, 65535, 65536, 65537, kMiB, 4 * kMiB - 1, 4 * kMiB,
      4 * kMiB + 1, kChunk - 1, kChunk, kChunk + 1, 2 * kChunk,
      2 * kChunk + 1, 3 * kChunk + 3, 64 * kMiB - 1, 64 * kMiB,
      64 * kMiB + 1, 100 * kMiB + 7, 200 * kMiB};
  std::vector<TestFile> files = MakeFiles(200, 1000, boundaries);
  WriteAll(files, "put", 3);
  // Bounce-buffer reads (unregistered destination) ...
  std::vector<std::byte> plain(24 * kMiB + 4096);
  VerifyAll(files, std::span<std::byte>(plain));
  // ... and RMA straight into a registered destination, at an odd offset.
  std::vector<std::byte> registered(16 * kMiB + 8);
  ASSERT_TRUE(client_->RegisterBuffer(registered.data(), registered.size()).ok());
  VerifyAll(files, std::span<std::byte>(registered).subspan(8));
}

TEST_F(ClusterTest, ReadsAtOffsetsAcrossChunkBoundariesAndHoles) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  const uint64_t size = 3 * kChunk + 12345;
  auto inode = WriteFile(*client_, kRootInode, "big", 7, size);
  ASSERT_TRUE(inode.ok()) << inode.status();
  auto attributes = client_->GetAttr(inode->id(), true);
  ASSERT_TRUE(attributes.ok());
  struct Range { uint64_t offset, length, want; };
  const Range ranges[] = {
      {0, 10, 10}, {kChunk - 5, 10, 10}, {4 * kMiB - 3, 4 * kMiB + 6, 4 * kMiB + 6},
      {size - 7, 100, 7}, {size, 10, 0}, {size + 100, 10, 0}, {12345, 3 * kChunk, 3 * kChunk}};
  for (const Range& r : ranges) {
    std::vector<std::byte> got(r.length), want(r.want + 8);
    auto n = client_->Read(*attributes, r.offset, std::span<std::byte>(got));
    ASSERT_TRUE(n.ok()) << n.status();
    ASSERT_EQ(*n, r.want) << "offset " << r.offset;
    const uint64_t aligned = r.offset & ~uint64_t{7};
    Fill(7, aligned, std::span<std::byte>(want.data(), r.want + 8));
    EXPECT_EQ(std::memcmp(got.data(), want.data() + (r.offset - aligned), r.want), 0)
        << "offset " << r.offset;
  }
  // A sparse file: extended with SetAttr reads the new range as zeros.
  v1::SetAttrRequest grow;
  grow.set_inode(inode->id());
  grow.set_set_size(true);
  grow.set_size(size + kMiB);
  auto grown = client_->SetAttr(grow);
  ASSERT_TRUE(grown.ok()) << grown.status();
  auto sparse = client_->GetAttr(inode->id(), true);
  ASSERT_TRUE(sparse.ok());
  std::vector<std::byte> got(2 * kMiB, std::byte{0xff});
  auto n = client_->Read(*sparse, size - 100, std::span<std::byte>(got));
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(*n, kMiB + 100);
  for (size_t i = 100; i < *n; ++i) ASSERT_EQ(got[i], std::byte{0}) << i;
}

TEST_F(ClusterTest, GetAttrWithLocationsNamesTheReplicasOfEveryChunk) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  auto inode = WriteFile(*client_, kRootInode, "located", 11, 2 * kChunk + 99);
  ASSERT_TRUE(inode.ok()) << inode.status();
  MetaClientOptions options;
  options.address = cluster_->meta_address();
  MetaClient meta(NewMetaChannel(options), options);
  v1::GetAttrRequest request;
  request.set_inode(inode->id());
  request.set_with_locations(true);
  auto reply = meta.GetAttrReply(request);
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_GE(reply->inode().extents_size(), 3);  // with_locations implies extents
  v1::GetChunkLocationsRequest locate;  // each chunk once, in extent order
  for (const v1::Extent& e : reply->inode().extents()) {
    const auto& ids = locate.chunk_ids();
    if (std::find(ids.begin(), ids.end(), e.chunk_id()) == ids.end()) {
      locate.add_chunk_ids(e.chunk_id());
    }
  }
  auto located = meta.GetChunkLocations(locate);
  ASSERT_TRUE(located.ok()) << located.status();
  ASSERT_GE(located->chunks_size(), 3);
  ASSERT_EQ(reply->locations_size(), located->chunks_size());
  for (int i = 0; i < located->chunks_size(); ++i) {
    EXPECT_EQ(reply->locations(i).SerializeAsString(),
              located->chunks(i).SerializeAsString());
    EXPECT_EQ(reply->locations(i).replicas_size(), 2);
  }
  request.set_with_locations(false);  // plain GetAttr: no extents, no replicas
  reply = meta.GetAttrReply(request);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->inode().extents_size(), 0);
  EXPECT_EQ(reply->locations_size(), 0);
  // The client library reads with the replicas it got along.
  auto fresh = Client::Connect(TestClientOptions(cluster_->meta_address()));
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  auto attributes = (*fresh)->GetAttr(inode->id(), true);
  ASSERT_TRUE(attributes.ok()) << attributes.status();
  std::vector<std::byte> got(2 * kChunk + 99), want(2 * kChunk + 104);
  auto n = (*fresh)->Read(*attributes, 0, std::span<std::byte>(got));
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(*n, got.size());
  Fill(11, 0, std::span<std::byte>(want));
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size()), 0);
}

TEST_F(ClusterTest, LookupCarriesExtentsAndReplicasOfSmallFilesOnly) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  auto inode = WriteFile(*client_, kRootInode, "three-chunks", 13, 2 * kChunk + 7);
  ASSERT_TRUE(inode.ok()) << inode.status();
  auto whole = client_->GetAttr(inode->id(), true);
  ASSERT_TRUE(whole.ok()) << whole.status();
  const uint32_t extents = whole->extents_size();
  ASSERT_GE(extents, 3u);
  MetaClientOptions options;
  options.address = cluster_->meta_address();
  MetaClient meta(NewMetaChannel(options), options);
  v1::LookupRequest request;
  request.set_parent(kRootInode);
  request.set_name("three-chunks");
  for (uint32_t up_to : {0u, extents - 1}) {  // off, or more extents than asked for
    request.set_extents_up_to(up_to);
    auto reply = meta.LookupReply(request);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_FALSE(reply->has_extents()) << up_to;
    EXPECT_EQ(reply->inode().extents_size(), 0) << up_to;
    EXPECT_EQ(reply->locations_size(), 0) << up_to;
  }
  request.set_extents_up_to(extents);
  auto reply = meta.LookupReply(request);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_TRUE(reply->has_extents());
  EXPECT_EQ(reply->inode().SerializeAsString(), whole->SerializeAsString());
  ASSERT_GE(reply->locations_size(), 3);  // one per chunk
  for (const v1::ChunkLocation& location : reply->locations()) {
    EXPECT_EQ(location.replicas_size(), 2);
  }
  // A directory never carries extents.
  ASSERT_TRUE(client_->MkDir(kRootInode, "folder", 0755, 0, 0).ok());
  request.set_name("folder");
  reply = meta.LookupReply(request);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_FALSE(reply->has_extents());
  // ReadDir with attributes does the same per entry.
  for (uint32_t up_to : {extents - 1, extents}) {
    v1::ReadDirRequest list;
    list.set_dir(kRootInode);
    list.set_with_attributes(true);
    list.set_extents_up_to(up_to);
    auto listed = meta.ReadDir(list);
    ASSERT_TRUE(listed.ok()) << listed.status();
    ASSERT_EQ(listed->entries_size(), 2);  // "folder", "three-chunks"
    const v1::ReadDirEntry& folder = listed->entries(0);
    const v1::ReadDirEntry& file = listed->entries(1);
    EXPECT_FALSE(folder.has_extents());
    EXPECT_EQ(file.has_extents(), up_to == extents);
    if (up_to == extents) {
      EXPECT_EQ(file.attributes().SerializeAsString(), whole->SerializeAsString());
      EXPECT_GE(listed->locations_size(), 3);
    } else {
      EXPECT_EQ(file.attributes().extents_size(), 0);
      EXPECT_EQ(listed->locations_size(), 0);
    }
  }

  // A client that looked the file up opens and reads it without meta: kill
  // meta after the lookup and the read still succeeds, from the caches.
  ClientOptions client_options = TestClientOptions(cluster_->meta_address());
  client_options.attribute_cache_ttl = absl::Minutes(10);
  client_options.lookup_extents_up_to = extents;
  auto fresh = Client::Connect(client_options);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  ASSERT_TRUE((*fresh)->Lookup(kRootInode, "three-chunks").ok());
  ASSERT_TRUE(cluster_->KillMeta().ok());
  auto attributes = (*fresh)->GetAttr(inode->id(), true);
  ASSERT_TRUE(attributes.ok()) << attributes.status();
  std::vector<std::byte> got(2 * kChunk + 7), want(2 * kChunk + 8);
  auto n = (*fresh)->Read(*attributes, 0, std::span<std::byte>(got));
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(*n, got.size());
  Fill(13, 0, std::span<std::byte>(want));
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size()), 0);
  ASSERT_TRUE(cluster_->RestartMeta().ok());
}

TEST_F(ClusterTest, FabricOpenedOnFirstChunkIoWhenAskedTo) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  auto inode = WriteFile(*client_, kRootInode, "lazy", 17, 12345);
  ASSERT_TRUE(inode.ok()) << inode.status();
  // A provider that does not exist: Connect and metadata calls work, the
  // first chunk read names the endpoint and the provider.
  ClientOptions options = TestClientOptions(cluster_->meta_address());
  options.fabric_provider = "no-such-provider";
  options.open_fabric_at_connect = false;
  auto lazy = Client::Connect(options);
  ASSERT_TRUE(lazy.ok()) << lazy.status();
  auto looked_up = (*lazy)->Lookup(kRootInode, "lazy");
  ASSERT_TRUE(looked_up.ok()) << looked_up.status();
  std::vector<std::byte> got(12345);
  auto n = (*lazy)->Read(*looked_up, 0, std::span<std::byte>(got));
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.status().message().find("open fabric endpoint (provider no-such-provider)"),
            std::string::npos)
      << n.status();
  options.open_fabric_at_connect = true;  // the default: Connect itself fails
  auto eager = Client::Connect(options);
  ASSERT_FALSE(eager.ok());
  EXPECT_NE(eager.status().message().find("no-such-provider"), std::string::npos)
      << eager.status();
  // With a real provider the lazily opened endpoint reads the file.
  options.fabric_provider = TestClientOptions(cluster_->meta_address()).fabric_provider;
  options.open_fabric_at_connect = false;
  auto working = Client::Connect(options);
  ASSERT_TRUE(working.ok()) << working.status();
  auto attributes = (*working)->GetAttr(inode->id(), true);
  ASSERT_TRUE(attributes.ok()) << attributes.status();
  n = (*working)->Read(*attributes, 0, std::span<std::byte>(got));
  ASSERT_TRUE(n.ok()) << n.status();
  std::vector<std::byte> want(12345 + 8);
  Fill(17, 0, std::span<std::byte>(want));
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size()), 0);
}

// CreateFile's reply carries the parent folder as the create left it: the
// client caches it, so the folder's next GetAttr needs no meta (here: meta
// is gone by then) and shows the new entry.
TEST_F(ClusterTest, CreateLeavesTheParentsNewAttributesCached) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  ClientOptions options = TestClientOptions(cluster_->meta_address());
  options.attribute_cache_ttl = absl::Hours(1);
  options.meta_retry_budget = absl::Seconds(1);
  auto client = Client::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status();
  auto dir = (*client)->MkDir(kRootInode, "wcc", 0755, 0, 0);
  ASSERT_TRUE(dir.ok()) << dir.status();
  auto before = (*client)->GetAttr(dir->id(), false);
  ASSERT_TRUE(before.ok()) << before.status();
  auto created = (*client)->CreateFile(dir->id(), "new", FileContent{}, CreateFileOptions{});
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_TRUE(cluster_->KillMeta().ok());
  auto after = (*client)->GetAttr(dir->id(), false);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->entry_count(), before->entry_count() + 1);
  EXPECT_GE(after->mtime_ns(), before->mtime_ns());
  EXPECT_GT(after->ctime_ns(), 0);
  ASSERT_TRUE(cluster_->RestartMeta().ok());
}

TEST_F(ClusterTest, UnknownChunkIsNotFound) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  v1::Inode fake;
  fake.set_id(424242);
  fake.set_type(v1::FILE_TYPE_REGULAR);
  fake.set_size(100);
  v1::Extent* e = fake.add_extents();
  e->set_chunk_id(0xdeadbeef);
  e->set_length(100);
  std::vector<std::byte> buffer(100);
  auto n = client_->Read(fake, 0, std::span<std::byte>(buffer));
  EXPECT_EQ(n.status().code(), absl::StatusCode::kNotFound) << n.status();
  EXPECT_NE(n.status().message().find("3735928559"), std::string::npos)
      << n.status();
}

TEST_F(ClusterTest, KilledChunkserverAndRestartedMeta) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  std::vector<TestFile> files =
      MakeFiles(30, 5000, {0, 100, kChunk, kChunk + 1, 3 * kChunk + 5, 40 * kMiB});
  WriteAll(files, "before", 2);
  ASSERT_TRUE(cluster_->KillChunkserver(0).ok());
  // Writes right after the kill (meta still places chunks on the dead
  // server until it misses its heartbeats) fail over to the live ones.
  std::vector<TestFile> after =
      MakeFiles(10, 9000, {5 * kMiB, 30 * kMiB, 20 * kMiB, 12 * kMiB});
  WriteAll(after, "after", 2);
  std::vector<std::byte> buffer(16 * kMiB);
  VerifyAll(files, std::span<std::byte>(buffer));
  VerifyAll(after, std::span<std::byte>(buffer));
  // Meta restarts: calls retry until it is back.
  ASSERT_TRUE(cluster_->KillMeta().ok());
  std::thread restarter([&] {
    absl::SleepFor(absl::Milliseconds(500));  // a delay, not a sync
    EXPECT_TRUE(cluster_->RestartMeta().ok());
  });
  client_->InvalidateAttributes(files[5].inode);
  auto attributes = client_->GetAttr(files[5].inode, true);
  restarter.join();
  ASSERT_TRUE(attributes.ok()) << attributes.status();
  EXPECT_EQ(attributes->size(), files[5].size);
  VerifyAll(files, std::span<std::byte>(buffer));
}

// Path of chunk `id`'s file on chunkserver `server` (chunkserver/FORMAT.md).
std::string ChunkPath(TestCluster& cluster, int server, uint64_t id) {
  return absl::StrFormat("%s/chunks/%02x/%016x", cluster.chunkserver_dir(server),
                         id % 256, id);
}

void FlipByte(const std::string& path, off_t offset) {
  int fd = open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  unsigned char b;
  ASSERT_EQ(pread(fd, &b, 1, offset), 1);
  b ^= 0x10;
  ASSERT_EQ(pwrite(fd, &b, 1, offset), 1);
  close(fd);
}

TEST_F(ClusterTest, CorruptReplicaServedFromTheOtherAllCorruptIsDataLoss) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  const uint64_t size = 3 * kMiB;  // one chunk
  auto inode = WriteFile(*client_, kRootInode, "victim", 77, size);
  ASSERT_TRUE(inode.ok()) << inode.status();
  auto attributes = client_->GetAttr(inode->id(), true);
  ASSERT_TRUE(attributes.ok());
  ASSERT_EQ(attributes->extents_size(), 1);
  const uint64_t chunk = attributes->extents(0).chunk_id();
  std::vector<std::string> replicas;
  for (int i = 0; i < cluster_->chunkserver_count(); ++i) {
    if (fs::exists(ChunkPath(*cluster_, i, chunk))) {
      replicas.push_back(ChunkPath(*cluster_, i, chunk));
    }
  }
  ASSERT_EQ(replicas.size(), 2u);
  const off_t data_byte = 8192 + 1000;
  std::vector<std::byte> buffer(4 * kMiB);
  for (const std::string& bad : replicas) {  // each replica alone corrupt
    FlipByte(bad, data_byte);
    EXPECT_TRUE(VerifyFile(*client_, inode->id(), 77, size, buffer)) << bad;
    FlipByte(bad, data_byte);
  }
  for (const std::string& bad : replicas) FlipByte(bad, data_byte);
  auto n = client_->Read(*attributes, 0, std::span<std::byte>(buffer));
  EXPECT_EQ(n.status().code(), absl::StatusCode::kDataLoss) << n.status();
}

TEST_F(ClusterTest, FullChunkFolderFailsOverWithoutCorruption) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  // Chunkserver 2 moves onto a 12 MiB tmpfs: room for one chunk, while
  // meta places chunks on it until its heartbeat reports it full.
  const std::string dir = cluster_->chunkserver_dir(2);
  const std::string saved = cluster_->root() + "/cs2-saved";
  ASSERT_TRUE(cluster_->KillChunkserver(2, 15).ok());
  fs::copy(dir, saved, fs::copy_options::recursive);
  ASSERT_EQ(mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=12m"), 0)
      << "mount tmpfs: " << strerror(errno);
  struct Unmount {
    std::string dir;
    TestCluster* cluster;
    ~Unmount() {
      (void)cluster->KillChunkserver(2, 15);
      umount2(dir.c_str(), MNT_DETACH);
    }
  } unmount{dir, cluster_.get()};
  fs::copy(saved, dir, fs::copy_options::recursive |
                           fs::copy_options::overwrite_existing);
  ASSERT_TRUE(cluster_->RestartChunkserver(2).ok());
  // Wait until meta knows the new incarnation (it reports the tmpfs size).
  bool registered = false;
  for (absl::Time give_up = absl::Now() + absl::Seconds(30);
       !registered && absl::Now() < give_up;
       absl::SleepFor(absl::Milliseconds(100))) {
    auto status = client_->ClusterStatus();
    ASSERT_TRUE(status.ok()) << status.status();
    for (const v1::ServerRecord& server : status->servers()) {
      registered |= server.state() == v1::SERVER_STATE_UP &&
                    server.capacity_bytes() < 64 * kMiB;
    }
  }
  ASSERT_TRUE(registered) << "the tmpfs chunkserver did not register";
  std::vector<TestFile> files =
      MakeFiles(12, 700, {30 * kMiB, 24 * kMiB, 17 * kMiB, 9 * kMiB});
  WriteAll(files, "full", 4);
  std::vector<std::byte> buffer(16 * kMiB);
  VerifyAll(files, std::span<std::byte>(buffer));
}

}  // namespace
}  // namespace medfs::client
