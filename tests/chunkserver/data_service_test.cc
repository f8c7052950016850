// DataService over real fabric endpoints (tcp;ofi_rxm on loopback): two
// chunkservers and a client in one process.
#include "chunkserver/data_service.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "chunkserver/server_metrics.h"
#include "common/crc32c.h"
#include "common/dataplane/protocol.h"
#include "common/fabric/buffer_pool.h"
#include "common/fabric/endpoint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/pattern.h"
#include "tests/chunkserver/fault_file_system.h"

namespace medfs::chunkserver {
namespace {

using dataplane::Op;

constexpr uint64_t kBlock = dataplane::kBlockBytes;
constexpr absl::Duration kTimeout = absl::Seconds(20);

using ::medfs::testing::Pattern;
using ::testing::HasSubstr;
using ::testing::Not;

fabric::EndpointOptions LoopbackOptions() {
  fabric::EndpointOptions options;
  options.provider = "tcp;ofi_rxm";
  options.node = "127.0.0.1";
  options.service = "0";
  return options;
}

// One in-process chunkserver: store, endpoint, pool, service.
struct Server {
  uint64_t id = 0;
  std::string dir;
  bool zero_copy_reads = false;
  testing::FaultFileSystem fs;
  std::unique_ptr<MappingArena> arena;  // with zero_copy_reads
  std::unique_ptr<ChunkStore> store;
  std::unique_ptr<fabric::Endpoint> endpoint;
  std::unique_ptr<fabric::BufferPool> pool;
  std::unique_ptr<DataService> service;

  ~Server() {
    service.reset();
    pool.reset();
    endpoint.reset();
  }
};

class DataServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string base = std::filesystem::temp_directory_path() /
                       "medfs-data-service-XXXXXX";
    ASSERT_NE(::mkdtemp(base.data()), nullptr);
    root_ = base;
    for (uint64_t id : {100, 200}) {
      auto server = std::make_unique<Server>();
      server->id = id;
      server->dir = absl::StrCat(root_, "/server", id);
      ASSERT_NO_FATAL_FAILURE(StartServer(*server));
      servers_.push_back(std::move(server));
    }
    auto client = fabric::Endpoint::Open(LoopbackOptions());
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    auto pool = fabric::BufferPool::Create(
        client_.get(), {2, DataService::kBufferBytes});
    ASSERT_TRUE(pool.ok()) << pool.status();
    client_pool_ = *std::move(pool);
    for (auto& server : servers_) {
      auto peer = client_->Connect(server->endpoint->address());
      ASSERT_TRUE(peer.ok()) << peer.status();
      peers_.push_back(*peer);
    }
  }

  void TearDown() override {
    client_pool_.reset();
    client_.reset();
    servers_.clear();
    std::filesystem::remove_all(root_);
  }

  void StartServer(Server& server) {
    ChunkStoreOptions store_options;
    store_options.data_dirs = {server.dir};
    store_options.file_system = &server.fs;
    if (server.zero_copy_reads) {
      auto arena = MappingArena::Reserve(
          kChunkHeaderBytes + store_options.max_chunk_bytes, 8);
      ASSERT_TRUE(arena.ok()) << arena.status();
      server.arena = *std::move(arena);
      store_options.mapping_arena = server.arena.get();
    }
    auto store = ChunkStore::Open(store_options);
    ASSERT_TRUE(store.ok()) << store.status();
    server.store = *std::move(store);
    auto endpoint = fabric::Endpoint::Open(LoopbackOptions());
    ASSERT_TRUE(endpoint.ok()) << endpoint.status();
    server.endpoint = *std::move(endpoint);
    auto pool = fabric::BufferPool::Create(server.endpoint.get(),
                                           {4, DataService::kBufferBytes});
    ASSERT_TRUE(pool.ok()) << pool.status();
    server.pool = *std::move(pool);
    DataServiceOptions options = service_options_;
    if (server.arena != nullptr) {
      auto region = server.endpoint->Register(server.arena->data(),
                                              server.arena->size());
      ASSERT_TRUE(region.ok()) << region.status();
      options.mapped_region = *region;
    }
    auto service = DataService::Start(server.endpoint.get(), server.store.get(),
                                      server.pool.get(), options);
    ASSERT_TRUE(service.ok()) << service.status();
    server.service = *std::move(service);
    server.service->set_server_id(server.id);
  }

  // Sends raw bytes to server i; returns the reply payload.
  absl::StatusOr<std::string> CallRaw(int i, const std::string& request) {
    return client_->CallAndWait(peers_[i], request, kTimeout);
  }

  absl::StatusOr<dataplane::Reply> CallFor(int i, Op op,
                                           const std::string& request) {
    auto payload = CallRaw(i, request);
    if (!payload.ok()) return payload.status();
    return dataplane::DecodeReply(op, *payload);
  }

  // READs [offset, offset+length) of `chunk` from server i into the client
  // buffer. Returns the bytes, or the error the server replied.
  absl::StatusOr<std::string> Read(int i, uint64_t chunk, uint64_t offset,
                                   uint32_t length, uint32_t flags = 0) {
    auto buffer = client_pool_->Acquire(kTimeout);
    if (!buffer.ok()) return buffer.status();
    dataplane::ReadRequest read;
    read.chunk_id = chunk;
    read.offset = offset;
    read.length = length;
    read.flags = flags;
    read.destination = buffer->Remote(0, length);
    auto payload = CallRaw(i, dataplane::EncodeRequest(read));
    if (!payload.ok()) return payload.status();
    if (payload->empty()) return std::string(buffer->data(), length);
    auto reply = dataplane::DecodeReply(Op::kRead, *payload);
    if (!reply.ok()) return reply.status();
    if (reply->status().ok()) {
      return absl::InternalError("READ answered OK without the data");
    }
    return reply->status();
  }

  // WRITEs `data` as chunk `chunk` through server i with the given chain,
  // in pieces of `piece` bytes. Returns the last reply.
  absl::StatusOr<dataplane::Reply> Write(
      int i, uint64_t chunk, const std::string& data,
      std::vector<dataplane::ChainLink> chain, size_t piece = 4 << 20) {
    auto buffer = client_pool_->Acquire(kTimeout);
    if (!buffer.ok()) return buffer.status();
    dataplane::Reply reply;
    size_t at = 0;
    do {
      const size_t n = std::min(piece, data.size() - at);
      std::memcpy(buffer->data(), data.data() + at, n);
      dataplane::WriteRequest write;
      write.chunk_id = chunk;
      write.offset = at;
      write.length = static_cast<uint32_t>(n);
      write.flags = (at == 0 ? dataplane::kWriteFirst : 0) |
                    (at + n == data.size() ? dataplane::kWriteSeal : 0);
      write.total_length = data.size();
      write.source = buffer->Remote(0, n);
      write.chain = chain;
      auto decoded = CallFor(i, Op::kWrite, dataplane::EncodeRequest(write));
      if (!decoded.ok()) return decoded.status();
      reply = *decoded;
      if (!reply.status().ok()) return reply;
      at += n;
    } while (at < data.size());
    return reply;
  }

  // Writes `data` as sealed chunk `id` straight into `store`.
  static void StoreChunk(ChunkStore& store, uint64_t id, const std::string& data) {
    ASSERT_TRUE(store.Create(id).ok());
    ASSERT_TRUE(store.Append(id, 0, data.data(), data.size()).ok());
    ASSERT_TRUE(store.Seal(id, data.size()).ok());
  }

  // READs ranges of `chunk` (holding `data`, longer than 6 blocks) from
  // server i that start and end inside, across and on block boundaries,
  // and one past its end; expects the bytes back and kOutOfRange. Returns
  // how many ranges read correctly (kRangesRead when all did).
  static constexpr size_t kRangesRead = 5;
  size_t ExpectRangesRead(int i, uint64_t chunk, const std::string& data) {
    struct Range {
      uint64_t offset;
      uint32_t length;
    };
    const Range ranges[kRangesRead] = {{0, 1}, {kBlock - 3, 10}, {5, 5 * kBlock},
                                       {0, static_cast<uint32_t>(data.size())},
                                       {6 * kBlock, static_cast<uint32_t>(data.size() - 6 * kBlock)}};
    size_t read = 0;
    for (const Range& r : ranges) {
      auto back = Read(i, chunk, r.offset, r.length);
      EXPECT_TRUE(back.ok()) << r.offset << "+" << r.length << ": " << back.status();
      if (!back.ok()) continue;
      EXPECT_TRUE(*back == data.substr(r.offset, r.length)) << r.offset << "+" << r.length;
      if (*back == data.substr(r.offset, r.length)) ++read;
    }
    EXPECT_EQ(Read(i, chunk, data.size() - 1, 2).status().code(),
              absl::StatusCode::kOutOfRange);
    return read;
  }

  // Starts one more server (id `id`) with zero-copy reads; returns its index.
  int AddZeroCopyServer(uint64_t id) {
    auto server = std::make_unique<Server>();
    server->id = id;
    server->dir = absl::StrCat(root_, "/server", id);
    server->zero_copy_reads = true;
    StartServer(*server);
    auto peer = client_->Connect(server->endpoint->address());
    EXPECT_TRUE(peer.ok()) << peer.status();
    peers_.push_back(*peer);
    servers_.push_back(std::move(server));
    return static_cast<int>(peers_.size()) - 1;
  }

  // Stores `data` as chunk `id` on server i, out of the page cache.
  void StoreUncached(int i, uint64_t id, const std::string& data) {
    ASSERT_NO_FATAL_FAILURE(StoreChunk(*servers_[i]->store, id, data));
    const std::string path =
        absl::StrFormat("%s/chunks/%02x/%016x", servers_[i]->dir, id % 256, id);
    int fd = ::open(path.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0) << path;
    ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    ::close(fd);
  }

  dataplane::ChainLink LinkTo(int i) {
    return dataplane::ChainLink{servers_[i]->id,
                                servers_[i]->endpoint->address()};
  }

  DataServiceOptions service_options_{.io_threads = 2,
                                      .forward_timeout = kTimeout};
  std::string root_;
  std::vector<std::unique_ptr<Server>> servers_;
  std::unique_ptr<fabric::Endpoint> client_;
  std::unique_ptr<fabric::BufferPool> client_pool_;
  std::vector<fabric::PeerId> peers_;
};

TEST_F(DataServiceTest, PingCarriesServerId) {
  auto reply = CallFor(1, Op::kPing, dataplane::EncodeRequest(
                                         dataplane::PingRequest{}));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_TRUE(reply->status().ok());
  EXPECT_EQ(reply->server_id, 200u);
}

TEST_F(DataServiceTest, ReadsRangesOfAStoredChunk) {
  const std::string data = Pattern(6 * kBlock + 123, 1);
  ASSERT_NO_FATAL_FAILURE(StoreChunk(*servers_[0]->store, 1, data));
  EXPECT_EQ(ExpectRangesRead(0, 1, data), kRangesRead);
}

// With a mapping arena registered, a READ of cached data goes out straight
// from the chunk file's mapping, verified in place: a flipped bit is still
// kDataLoss. Data not in the page cache is read with a copy (which caches
// it), so the next READ of it is zero-copy, and served on the progress
// thread since the chunk's file is open and mapped by then.
TEST_F(DataServiceTest, ZeroCopyReadsSendCachedDataVerifiedInPlace) {
  auto server = std::make_unique<Server>();
  server->id = 300;
  server->dir = absl::StrCat(root_, "/server300");
  server->zero_copy_reads = true;
  ASSERT_NO_FATAL_FAILURE(StartServer(*server));
  auto peer = client_->Connect(server->endpoint->address());
  ASSERT_TRUE(peer.ok()) << peer.status();
  peers_.push_back(*peer);
  const int i = static_cast<int>(peers_.size()) - 1;
  servers_.push_back(std::move(server));
  Server& s = *servers_.back();

  const std::string data = Pattern(6 * kBlock + 123, 3);
  ASSERT_NO_FATAL_FAILURE(StoreChunk(*s.store, 3, data));
  const std::string path =
      absl::StrFormat("%s/chunks/%02x/%016x", s.dir, 3 % 256, 3);
  // Out of the page cache: the first READ copies (and caches).
  int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
  ::close(fd);
  auto cold = Read(i, 3, 0, static_cast<uint32_t>(data.size()));
  ASSERT_TRUE(cold.ok()) << cold.status();
  EXPECT_TRUE(*cold == data);
  EXPECT_EQ(s.service->stats().zero_copy_reads, 0u);

  EXPECT_EQ(ExpectRangesRead(i, 3, data), kRangesRead);
  EXPECT_EQ(s.service->stats().zero_copy_reads, kRangesRead);
  // The cold READ opened and mapped the chunk: the warm ones were served on
  // the progress thread without a worker.
  EXPECT_EQ(s.service->stats().inline_reads, kRangesRead);

  // A bit flipped on disk (through the page cache the mapping shares).
  fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char c = 0;
  const off_t at = kChunkHeaderBytes + 4 * kBlock + 9;
  ASSERT_EQ(::pread(fd, &c, 1, at), 1);
  c ^= 0x10;
  ASSERT_EQ(::pwrite(fd, &c, 1, at), 1);
  ::close(fd);
  auto bad = Read(i, 3, 4 * kBlock, 100);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss) << bad.status();
  auto good = Read(i, 3, 0, 4 * kBlock);
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_TRUE(*good == data.substr(0, 4 * kBlock));
}

// READs flagged kReadCachedByReader (the FUSE mount's) of blocks the
// server does not have cached go around its page cache, so they stay
// uncached; a READ without the flag caches them, and flagged READs of
// cached blocks are then zero-copy. page_cache_for_caching_readers turns it off.
TEST_F(DataServiceTest, CachingReadersReadUncachedBlocksAroundThePageCache) {
  const int i = AddZeroCopyServer(300);
  DataService& service = *servers_[i]->service;
  const std::string data = Pattern(6 * kBlock + 123, 5);
  ASSERT_NO_FATAL_FAILURE(StoreUncached(i, 4, data));
  const uint32_t length = static_cast<uint32_t>(data.size());
  for (int round = 0; round < 2; ++round) {
    auto back = Read(i, 4, 0, length, dataplane::kReadCachedByReader);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(*back == data);
  }
  EXPECT_EQ(service.stats().around_cache_reads, 2u) << "still not cached";
  EXPECT_EQ(service.stats().zero_copy_reads, 0u);
  auto plain = Read(i, 4, 0, length);  // a reader without a cache: caches
  ASSERT_TRUE(plain.ok()) << plain.status();
  auto cached = Read(i, 4, kBlock, 100, dataplane::kReadCachedByReader);
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_TRUE(*cached == data.substr(kBlock, 100));
  EXPECT_EQ(service.stats().around_cache_reads, 2u);
  EXPECT_EQ(service.stats().zero_copy_reads, 1u);

  service_options_.page_cache_for_caching_readers = true;
  const int j = AddZeroCopyServer(400);
  ASSERT_NO_FATAL_FAILURE(StoreUncached(j, 4, data));
  auto through = Read(j, 4, 0, length, dataplane::kReadCachedByReader);
  ASSERT_TRUE(through.ok()) << through.status();
  EXPECT_TRUE(*through == data);
  EXPECT_EQ(servers_[j]->service->stats().around_cache_reads, 0u);
}

TEST_F(DataServiceTest, UnknownChunkIsNotFound) {
  auto back = Read(0, 77, 0, 10);
  EXPECT_EQ(back.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(back.status().message(), "chunk 77: not on this server");
  dataplane::DeleteRequest del{.chunk_id = 77};
  auto reply = CallFor(0, Op::kDelete, dataplane::EncodeRequest(del));
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->code, absl::StatusCode::kNotFound);
}

TEST_F(DataServiceTest, WriteThroughAChainOfTwoServers) {
  const std::string data = Pattern((9 << 20) + 1000, 2);
  auto reply = Write(0, 5, data, {LinkTo(1)});
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_TRUE(reply->status().ok()) << reply->status();
  EXPECT_TRUE(reply->chunk.sealed);
  EXPECT_EQ(reply->chunk.length, data.size());
  EXPECT_EQ(reply->chunk.crc32c, Crc32c(data.data(), data.size()));
  for (int i = 0; i < 2; ++i) {
    ChunkState state = servers_[i]->store->Stat(5);
    EXPECT_TRUE(state.sealed) << "server " << i;
    EXPECT_EQ(state.crc32c, reply->chunk.crc32c) << "server " << i;
    auto back = Read(i, 5, (4 << 20) - 7, 4 << 20);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(*back == data.substr((4 << 20) - 7, 4 << 20));
  }
  dataplane::StatRequest stat{.chunk_id = 5};
  auto stat_reply = CallFor(1, Op::kStat, dataplane::EncodeRequest(stat));
  ASSERT_TRUE(stat_reply.ok());
  EXPECT_EQ(stat_reply->chunk, reply->chunk);
  // DELETE removes it.
  dataplane::DeleteRequest del{.chunk_id = 5};
  auto deleted = CallFor(1, Op::kDelete, dataplane::EncodeRequest(del));
  ASSERT_TRUE(deleted.ok());
  EXPECT_TRUE(deleted->status().ok()) << deleted->status();
  EXPECT_FALSE(servers_[1]->store->Stat(5).exists);
}

// The /metrics of a server (chunkserver/server_metrics.h) follow what it
// served: a chained WRITE (sealed), two READs, a malformed request.
TEST_F(DataServiceTest, MetricsCountWhatTheServerDid) {
  MetricsRegistry registry;
  RegisterServerMetrics(&registry, servers_[0]->store.get(), servers_[0]->service.get());
  const std::string data = Pattern(3 * kBlock + 5, 4);
  auto written = Write(0, 6, data, {LinkTo(1)});
  ASSERT_TRUE(written.ok() && written->status().ok());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(Read(0, 6, 0, data.size()).ok());
  ASSERT_TRUE(CallRaw(0, std::string("\x01")).ok());
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("medfs_chunkserver_chunks 1\n"));
  EXPECT_THAT(text, HasSubstr("medfs_chunkserver_requests_total{op=\"read\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("medfs_chunkserver_requests_total{op=\"write\"} 1\n"));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("medfs_chunkserver_read_bytes_total ",
                                           2 * data.size(), "\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("medfs_chunkserver_write_bytes_total ",
                                           data.size(), "\n")));
  EXPECT_THAT(text, HasSubstr("medfs_chunkserver_seals_total 1\n"));
  EXPECT_THAT(text, HasSubstr("medfs_chunkserver_malformed_requests_total 1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE medfs_chunkserver_write_seconds_total counter\n"));
  EXPECT_THAT(text, HasSubstr("medfs_chunkserver_write_seconds_total{stage=\"seal\"} "));
  EXPECT_THAT(text, Not(HasSubstr("medfs_chunkserver_capacity_bytes 0\n")));
}

TEST_F(DataServiceTest, DownstreamFailureIsUnavailableNamingTheServer) {
  struct Case {
    const char* name;
    uint64_t chunk;
    bool disk_full_downstream;
  };
  const Case cases[] = {{"chunk exists downstream", 6, false},
                        {"disk full downstream", 7, true}};
  // Chunk 6 already exists on server 1.
  ASSERT_TRUE(servers_[1]->store->Create(6).ok());
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    if (c.disk_full_downstream) servers_[1]->fs.FailWrites(".part", ENOSPC);
    auto reply = Write(0, c.chunk, Pattern(3 * kBlock, c.chunk), {LinkTo(1)});
    servers_[1]->fs.FailWrites("", 0);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->code, absl::StatusCode::kUnavailable) << reply->message;
    EXPECT_EQ(reply->server_id, 200u);
    EXPECT_NE(reply->message.find("server 200"), std::string::npos)
        << reply->message;
    // The first replica dropped its copy.
    EXPECT_FALSE(servers_[0]->store->Stat(c.chunk).exists);
  }
}

TEST_F(DataServiceTest, DeadDownstreamIsUnavailableNamingIt) {
  // Server 0 forwards with a short timeout to an endpoint that is gone.
  Server& server = *servers_[0];
  server.service.reset();
  auto service = DataService::Start(
      server.endpoint.get(), server.store.get(), server.pool.get(),
      {.io_threads = 1, .forward_timeout = absl::Seconds(2)});
  ASSERT_TRUE(service.ok()) << service.status();
  server.service = *std::move(service);
  server.service->set_server_id(server.id);
  std::string gone_address;
  {
    auto gone = fabric::Endpoint::Open(LoopbackOptions());
    ASSERT_TRUE(gone.ok()) << gone.status();
    gone_address = (*gone)->address();
  }
  auto reply = Write(0, 12, Pattern(kBlock, 12), {{300, gone_address}});
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->code, absl::StatusCode::kUnavailable) << reply->message;
  EXPECT_EQ(reply->server_id, 300u);
  EXPECT_FALSE(server.store->Stat(12).exists);
}

TEST_F(DataServiceTest, EmptyChunkCanBeWrittenAndSealed) {
  auto reply = Write(0, 13, "", {LinkTo(1)});
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_TRUE(reply->status().ok()) << reply->status();
  EXPECT_TRUE(reply->chunk.sealed);
  EXPECT_EQ(reply->chunk.length, 0u);
  EXPECT_TRUE(servers_[1]->store->Stat(13).sealed);
}

TEST_F(DataServiceTest, LocalDiskFullIsResourceExhausted) {
  servers_[0]->fs.FailWrites(".part", ENOSPC);
  auto reply = Write(0, 8, Pattern(kBlock, 8), {});
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->code, absl::StatusCode::kResourceExhausted);
  EXPECT_NE(reply->message.find(servers_[0]->dir), std::string::npos)
      << reply->message;
}

TEST_F(DataServiceTest, MalformedRequestsGetErrorRepliesAndServiceSurvives) {
  dataplane::WriteRequest write;
  write.chunk_id = 9;
  write.length = kBlock;
  write.source = fabric::RemoteBuffer{1, 2, kBlock};
  const std::string valid = dataplane::EncodeRequest(write);
  const std::string cases[] = {
      std::string("\x01"),                    // truncated header
      std::string("\x07\x02", 2),             // unknown version
      std::string("\x01\x09", 2),             // unknown op
      valid.substr(0, valid.size() - 3),      // truncated WRITE
      valid + "junk",                         // trailing bytes
      Pattern(300, 9),                        // garbage
  };
  for (const std::string& request : cases) {
    auto payload = CallRaw(0, request);
    ASSERT_TRUE(payload.ok()) << payload.status();
    dataplane::Reply reply;
    ASSERT_TRUE(reply.DecodeFrom(*payload).ok());
    EXPECT_EQ(reply.code, absl::StatusCode::kInvalidArgument) << reply.message;
  }
  EXPECT_GE(servers_[0]->service->stats().malformed, std::size(cases));
  auto ping = CallFor(0, Op::kPing, dataplane::EncodeRequest(
                                        dataplane::PingRequest{}));
  ASSERT_TRUE(ping.ok());
  EXPECT_TRUE(ping->status().ok());
}

TEST_F(DataServiceTest, FullQueueAnswersBusyAtOnce) {
  // One worker, one queue slot: a blocked write, a queued STAT, then busy.
  Server& server = *servers_[0];
  server.service.reset();
  auto service = DataService::Start(
      server.endpoint.get(), server.store.get(), server.pool.get(),
      {.io_threads = 1, .queue_depth = 1, .forward_timeout = kTimeout});
  ASSERT_TRUE(service.ok()) << service.status();
  server.service = *std::move(service);
  auto buffer = client_pool_->Acquire(kTimeout);
  ASSERT_TRUE(buffer.ok());
  dataplane::WriteRequest write;
  write.chunk_id = 11;
  write.length = kBlock;
  write.flags = dataplane::kWriteFirst;
  write.source = buffer->Remote(0, kBlock);
  server.fs.BlockWrites(true);
  absl::Notification write_done, stat_done;
  absl::StatusOr<std::string> write_reply, stat_reply;
  client_->Call(peers_[0], dataplane::EncodeRequest(write), kTimeout,
                [&](absl::StatusOr<std::string> r) {
                  write_reply = std::move(r);
                  write_done.Notify();
                });
  server.fs.AwaitBlockedWriters(1);
  const std::string stat =
      dataplane::EncodeRequest(dataplane::StatRequest{.chunk_id = 11});
  client_->Call(peers_[0], stat, kTimeout, [&](absl::StatusOr<std::string> r) {
    stat_reply = std::move(r);
    stat_done.Notify();
  });
  // Await the STAT in the queue; the next request finds it full.
  while (server.service->stats().queued < 1) absl::SleepFor(absl::Milliseconds(1));
  auto busy = CallFor(0, Op::kStat, stat);
  ASSERT_TRUE(busy.ok()) << busy.status();
  EXPECT_EQ(busy->code, absl::StatusCode::kResourceExhausted);
  EXPECT_NE(busy->message.find("busy"), std::string::npos) << busy->message;
  server.fs.BlockWrites(false);
  write_done.WaitForNotification();
  stat_done.WaitForNotification();
  ASSERT_TRUE(write_reply.ok()) << write_reply.status();
  auto decoded = dataplane::DecodeReply(Op::kWrite, *write_reply);
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->status().ok()) << decoded->status();
  EXPECT_EQ(decoded->chunk.length, kBlock);
  EXPECT_GE(server.service->stats().busy_replies, 1u);
}

TEST_F(DataServiceTest, StoppedServiceAnswersUnavailable) {
  servers_[0]->service->Stop();
  auto reply = CallFor(0, Op::kStat, dataplane::EncodeRequest(
                                         dataplane::StatRequest{.chunk_id = 1}));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->code, absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace medfs::chunkserver
