// medfs-chunkserver as a real process: a cluster of medfs-meta and two
// chunkservers on loopback (tests/integration/test_cluster.h), driven over
// the data-plane protocol from this process; chunkservers are killed and
// restarted.
#include <algorithm>
#include <csignal>
#include <fstream>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/status.h"
#include "common/dataplane/protocol.h"
#include "common/fabric/buffer_pool.h"
#include "common/fabric/endpoint.h"
#include "gtest/gtest.h"
#include "tests/testing/pattern.h"
#include "tests/integration/test_cluster.h"

namespace medfs::chunkserver {
namespace {

using dataplane::Op;

constexpr absl::Duration kTimeout = absl::Seconds(20);

using ::medfs::testing::Pattern;

class ChunkserverProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    medfs::testing::TestClusterOptions options;
    options.chunkservers = 2;
    auto cluster = medfs::testing::TestCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    fabric::EndpointOptions endpoint_options;
    auto endpoint = fabric::Endpoint::Open(endpoint_options);
    ASSERT_TRUE(endpoint.ok()) << endpoint.status();
    endpoint_ = *std::move(endpoint);
    auto pool = fabric::BufferPool::Create(endpoint_.get(), {1, 4 << 20});
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
  }

  // The record meta holds for chunkserver i of the cluster (found by the
  // uuid in its data folder).
  v1::ServerRecord Record(int i) {
    std::ifstream in(cluster_->chunkserver_dir(i) + "/server.uuid");
    std::string uuid;
    std::getline(in, uuid);
    auto status = cluster_->Status();
    EXPECT_TRUE(status.ok()) << status.status();
    for (const v1::ServerRecord& server : status->servers()) {
      if (server.uuid() == uuid) return server;
    }
    ADD_FAILURE() << "meta does not know chunkserver " << i << " (" << uuid
                  << ")";
    return v1::ServerRecord();
  }

  absl::StatusOr<dataplane::Reply> Call(const v1::ServerRecord& server, Op op,
                                        const std::string& request) {
    ASSIGN_OR_RETURN(fabric::PeerId peer,
                     endpoint_->Connect(server.fabric_address()));
    ASSIGN_OR_RETURN(std::string payload,
                     endpoint_->CallAndWait(peer, request, kTimeout));
    if (op == Op::kRead && payload.empty()) {
      return dataplane::Reply::FromStatus(op, absl::OkStatus());
    }
    return dataplane::DecodeReply(op, payload);
  }

  std::unique_ptr<medfs::testing::TestCluster> cluster_;
  std::unique_ptr<fabric::Endpoint> endpoint_;
  std::unique_ptr<fabric::BufferPool> pool_;
};

TEST_F(ChunkserverProcessTest, SealedChunksSurviveKillAndPartialOnesVanish) {
  std::vector<v1::ServerRecord> servers = {Record(0), Record(1)};
  auto buffer = pool_->Acquire(kTimeout);
  ASSERT_TRUE(buffer.ok());
  const std::string data = Pattern(3 << 20, 1);
  std::memcpy(buffer->data(), data.data(), data.size());
  // Chunk 1001: written and sealed through the chain 0 -> 1.
  dataplane::WriteRequest write;
  write.chunk_id = 1001;
  write.length = data.size();
  write.flags = dataplane::kWriteFirst | dataplane::kWriteSeal;
  write.total_length = data.size();
  write.source = buffer->Remote(0, data.size());
  write.chain = {{servers[1].id(), servers[1].fabric_address()}};
  auto sealed = Call(servers[0], Op::kWrite, dataplane::EncodeRequest(write));
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  ASSERT_TRUE(sealed->status().ok()) << sealed->status();
  EXPECT_EQ(sealed->server_id, servers[0].id());
  EXPECT_EQ(sealed->chunk.crc32c, Crc32c(data.data(), data.size()));
  // Chunk 1002: only a first piece, never sealed.
  write.chunk_id = 1002;
  write.flags = dataplane::kWriteFirst;
  write.length = 1 << 20;
  write.chain.clear();
  auto partial = Call(servers[0], Op::kWrite, dataplane::EncodeRequest(write));
  ASSERT_TRUE(partial.ok() && partial->status().ok());

  ASSERT_TRUE(cluster_->KillChunkserver(0, SIGKILL).ok());
  ASSERT_TRUE(cluster_->RestartChunkserver(0).ok());
  // Await the new registration: same id, new fabric address.
  const std::string old_address = servers[0].fabric_address();
  while (Record(0).fabric_address() == old_address) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(Record(0).id(), servers[0].id());
  servers = {Record(0), Record(1)};

  for (const v1::ServerRecord& server : servers) {
    std::memset(buffer->data(), 0, data.size());
    dataplane::ReadRequest read;
    read.chunk_id = 1001;
    read.length = data.size();
    read.destination = buffer->Remote(0, data.size());
    auto reply = Call(server, Op::kRead, dataplane::EncodeRequest(read));
    ASSERT_TRUE(reply.ok()) << reply.status() << "\n"
                            << cluster_->chunkserver(0)->LogTail() << "\n"
                            << cluster_->chunkserver(1)->LogTail();
    ASSERT_TRUE(reply->status().ok()) << reply->status();
    EXPECT_EQ(std::string(buffer->data(), data.size()), data)
        << "server " << server.id();
  }
  auto stat = Call(servers[0], Op::kStat,
                   dataplane::EncodeRequest(dataplane::StatRequest{1002}));
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_FALSE(stat->chunk.exists);
  EXPECT_EQ(Record(0).chunk_count(), 1u);
}

}  // namespace
}  // namespace medfs::chunkserver
