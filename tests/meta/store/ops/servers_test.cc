// Cluster membership: registration by uuid, heartbeats, dead detection,
// capacity sums.
#include "gtest/gtest.h"
#include "tests/meta/store/test_util.h"

namespace medfs::meta {
namespace {

using testing::StoreTest;

class ServersTest : public StoreTest {
 public:
  absl::StatusOr<v1::RegisterServerReply> Register(const std::string& uuid,
                                                   const std::string& address) {
    v1::ServerRecord server;
    server.set_uuid(uuid);
    server.set_fabric_address(address);
    server.set_data_endpoint(address);
    server.set_capacity_bytes(1000ull << 20);
    server.set_free_bytes(600ull << 20);
    return store_->RegisterServer(server);
  }

  v1::HeartbeatReply Heartbeat(uint64_t id, uint64_t free_bytes = 500ull << 20) {
    v1::HeartbeatRequest r;
    r.set_server_id(id);
    r.set_capacity_bytes(1000ull << 20);
    r.set_free_bytes(free_bytes);
    r.set_chunk_count(7);
    auto reply = store_->Heartbeat(r);
    EXPECT_TRUE(reply.ok()) << reply.status();
    return reply.ok() ? *reply : v1::HeartbeatReply();
  }

  v1::ServerRecord Server(uint64_t id) {
    auto status = store_->ClusterStatus();
    EXPECT_TRUE(status.ok()) << status.status();
    for (const auto& s : status->servers()) {
      if (s.id() == id) return s;
    }
    ADD_FAILURE() << "no server " << id;
    return {};
  }
};

TEST_F(ServersTest, RegistrationIsByUuid) {
  auto a = Register("uuid-a", "addr-a");
  auto b = Register("uuid-b", "addr-b");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->server_id(), 1u);
  EXPECT_EQ(b->server_id(), 2u);
  EXPECT_EQ(a->heartbeat_interval_ms(), 1000u);
  auto again = Register("uuid-a", "addr-a2");  // restarted on a new address
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->server_id(), 1u);
  EXPECT_EQ(Server(1).fabric_address(), "addr-a2");
  Reopen();
  EXPECT_EQ(Register("uuid-b", "addr-b")->server_id(), 2u);
  EXPECT_EQ(Register("uuid-c", "addr-c")->server_id(), 3u);
  EXPECT_EQ(Server(1).fabric_address(), "addr-a2");
  EXPECT_EQ(store_->RegisterServer(v1::ServerRecord()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ServersTest, HeartbeatUpdatesAndUnknownIdsReregister) {
  uint64_t id = Register("uuid-a", "addr-a")->server_id();
  v1::HeartbeatReply reply = Heartbeat(id, 123);
  EXPECT_FALSE(reply.reregister());
  v1::ServerRecord server = Server(id);
  EXPECT_EQ(server.free_bytes(), 123u);
  EXPECT_EQ(server.chunk_count(), 7u);
  EXPECT_EQ(server.last_heartbeat_ns(), clock_.NowNs());
  EXPECT_TRUE(Heartbeat(4242).reregister());
}

TEST_F(ServersTest, SilentServersDieAndComeBack) {
  uint64_t a = Register("uuid-a", "addr-a")->server_id();
  uint64_t b = Register("uuid-b", "addr-b")->server_id();
  clock_.Advance(absl::ToInt64Nanoseconds(absl::Seconds(6)));
  Heartbeat(b);
  clock_.Advance(absl::ToInt64Nanoseconds(absl::Seconds(6)));
  ASSERT_TRUE(store_->RunMaintenance().ok());
  EXPECT_EQ(Server(a).state(), v1::SERVER_STATE_DEAD);
  EXPECT_EQ(Server(b).state(), v1::SERVER_STATE_UP);
  v1::AllocateChunksRequest r;
  r.set_count(1);
  r.set_replication(2);
  auto allocation = store_->AllocateChunks(r);
  EXPECT_EQ(allocation.status().code(), absl::StatusCode::kResourceExhausted);
  Heartbeat(a);
  EXPECT_EQ(Server(a).state(), v1::SERVER_STATE_UP);
  EXPECT_TRUE(store_->AllocateChunks(r).ok());
}

TEST_F(ServersTest, StatFsSumsLiveServers) {
  uint64_t a = Register("uuid-a", "addr-a")->server_id();
  uint64_t b = Register("uuid-b", "addr-b")->server_id();
  Heartbeat(a, 100);
  Heartbeat(b, 200);
  auto statfs = store_->StatFs();
  ASSERT_TRUE(statfs.ok());
  EXPECT_EQ(statfs->capacity_bytes(), 2000ull << 20);
  EXPECT_EQ(statfs->free_bytes(), 300u);
  EXPECT_EQ(statfs->used_bytes(), (2000ull << 20) - 300);
  EXPECT_EQ(statfs->inode_count(), 1u);
  EXPECT_EQ(statfs->max_name_length(), 255u);
  clock_.Advance(absl::ToInt64Nanoseconds(absl::Seconds(5)));
  Heartbeat(b, 200);
  clock_.Advance(absl::ToInt64Nanoseconds(absl::Seconds(6)));
  ASSERT_TRUE(store_->RunMaintenance().ok());
  EXPECT_EQ(store_->StatFs()->free_bytes(), 200u);
  auto cluster = store_->ClusterStatus();
  ASSERT_TRUE(cluster.ok());
  EXPECT_EQ(cluster->servers_size(), 2);
  EXPECT_EQ(cluster->default_replication(), 2u);
  EXPECT_EQ(cluster->max_chunk_bytes(), 1u << 20);
}

}  // namespace
}  // namespace medfs::meta
