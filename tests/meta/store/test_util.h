// Shared fixture of the meta store tests: a MetaStore on a fresh temporary
// database with a fake clock and no maintenance thread.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "meta/store/keys.h"
#include "meta/store/meta_store.h"

namespace medfs::meta::testing {

// A directory removed (with its contents) on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "medfs-meta-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Members are public so that table-driven cases (lambdas) can use them.
class StoreTest : public ::testing::Test {
 public:
  void SetUp() override { Reopen(); }

  MetaStoreOptions Options() {
    MetaStoreOptions options;
    options.db_path = dir_.path() + "/db";
    options.clock = &clock_;
    options.maintenance_interval = absl::ZeroDuration();
    options.placement_seed = 42;
    options.block_cache_bytes = 8 << 20;
    options.max_chunk_bytes = 1 << 20;
    return options;
  }

  // Closes the store (if open) and opens it again on the same database.
  void Reopen() { ReopenWith(Options()); }
  void ReopenWith(const MetaStoreOptions& options) {
    store_.reset();
    auto store = MetaStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  v1::Inode MkDir(uint64_t parent, const std::string& name) {
    v1::MkDirRequest request;
    request.set_parent(parent);
    request.set_name(name);
    request.set_mode(0755);
    auto inode = store_->MkDir(request);
    EXPECT_TRUE(inode.ok()) << inode.status();
    return inode.ok() ? *inode : v1::Inode();
  }

  v1::Inode CreateFile(uint64_t parent, const std::string& name,
                       std::vector<v1::Extent> extents = {}, uint64_t size = 0) {
    v1::CreateFileRequest request;
    request.set_parent(parent);
    request.set_name(name);
    request.set_mode(0644);
    for (auto& e : extents) *request.add_extents() = e;
    request.set_size(size);
    auto inode = store_->CreateFile(request);
    EXPECT_TRUE(inode.ok()) << inode.status();
    return inode.ok() ? *inode : v1::Inode();
  }

  v1::Inode Get(uint64_t id) {
    auto inode = store_->GetAttr(id, /*with_extents=*/true);
    EXPECT_TRUE(inode.ok()) << inode.status();
    return inode.ok() ? *inode : v1::Inode();
  }

  // Registers `n` servers with 1 GiB free each; returns their ids.
  std::vector<uint64_t> AddServers(int n, const std::string& domain_prefix = "") {
    std::vector<uint64_t> ids;
    for (int i = 0; i < n; ++i) {
      v1::ServerRecord server;
      server.set_uuid("uuid-" + std::to_string(next_server_++));
      server.set_host("host" + std::to_string(i));
      if (!domain_prefix.empty()) {
        server.set_failure_domain(domain_prefix + std::to_string(i));
      }
      server.set_capacity_bytes(1ull << 30);
      server.set_free_bytes(1ull << 30);
      auto reply = store_->RegisterServer(server);
      EXPECT_TRUE(reply.ok()) << reply.status();
      ids.push_back(reply.ok() ? reply->server_id() : 0);
    }
    return ids;
  }

  // One allocated chunk id (servers must exist).
  uint64_t AllocateChunk() {
    v1::AllocateChunksRequest request;
    request.set_count(1);
    request.set_replication(1);
    auto reply = store_->AllocateChunks(request);
    EXPECT_TRUE(reply.ok()) << reply.status();
    return reply.ok() ? reply->chunks(0).chunk_id() : 0;
  }

  v1::ChunkRecord Chunk(uint64_t id) {
    auto chunk = store_->GetChunk(id);
    EXPECT_TRUE(chunk.ok()) << chunk.status();
    return chunk.ok() ? *chunk : v1::ChunkRecord();
  }

  static v1::Extent MakeExtent(uint64_t file_offset, uint64_t chunk,
                               uint64_t chunk_offset, uint64_t length) {
    v1::Extent e;
    e.set_file_offset(file_offset);
    e.set_chunk_id(chunk);
    e.set_chunk_offset(chunk_offset);
    e.set_length(length);
    return e;
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<MetaStore> store_;
  int next_server_ = 0;
};

}  // namespace medfs::meta::testing
