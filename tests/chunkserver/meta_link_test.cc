// MetaLink against a fake MetaService (gRPC on loopback).
#include "chunkserver/meta_link.h"

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace medfs::chunkserver {
namespace {

// Answers RegisterServer and Heartbeat as scripted; records what it saw.
class FakeMeta final : public v1::MetaService::Service {
 public:
  grpc::Status RegisterServer(grpc::ServerContext*,
                              const v1::RegisterServerRequest* request,
                              v1::RegisterServerReply* reply) override {
    absl::MutexLock lock(&mu);
    ++registrations;
    last_record = request->server();
    if (fail_registrations > 0) {
      --fail_registrations;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "meta starting");
    }
    if (reject_registrations) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty uuid");
    }
    reply->set_server_id(42);
    reply->set_heartbeat_interval_ms(5);
    return grpc::Status::OK;
  }

  grpc::Status Heartbeat(grpc::ServerContext*,
                         const v1::HeartbeatRequest* request,
                         v1::HeartbeatReply* reply) override {
    absl::MutexLock lock(&mu);
    ++heartbeats;
    last_heartbeat = *request;
    for (uint64_t id : delete_next) reply->add_delete_chunks(id);
    delete_next.clear();
    reply->set_reregister(reregister_next);
    reregister_next = false;
    return grpc::Status::OK;
  }

  absl::Mutex mu;
  int registrations ABSL_GUARDED_BY(mu) = 0;
  int heartbeats ABSL_GUARDED_BY(mu) = 0;
  int fail_registrations ABSL_GUARDED_BY(mu) = 0;
  bool reject_registrations ABSL_GUARDED_BY(mu) = false;
  std::vector<uint64_t> delete_next ABSL_GUARDED_BY(mu);
  bool reregister_next ABSL_GUARDED_BY(mu) = false;
  v1::ServerRecord last_record ABSL_GUARDED_BY(mu);
  v1::HeartbeatRequest last_heartbeat ABSL_GUARDED_BY(mu);
};

class MetaLinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string base =
        std::filesystem::temp_directory_path() / "medfs-meta-link-XXXXXX";
    ASSERT_NE(::mkdtemp(base.data()), nullptr);
    root_ = base;
    ChunkStoreOptions store_options;
    store_options.data_dirs = {root_};
    auto store = ChunkStore::Open(store_options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&meta_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    options_.meta_address = absl::StrCat("127.0.0.1:", port);
    options_.record.set_uuid("00000000-0000-0000-0000-000000000001");
    options_.record.set_fabric_address("raw");
    options_.max_backoff = absl::Milliseconds(20);
  }
  void TearDown() override {
    server_->Shutdown();
    store_.reset();
    std::filesystem::remove_all(root_);
  }

  // Waits until `done` holds for the fake meta.
  void AwaitMeta(bool (*done)(FakeMeta*)) {
    absl::MutexLock lock(&meta_.mu);
    meta_.mu.Await(absl::Condition(done, &meta_));
  }

  std::string root_;
  std::unique_ptr<ChunkStore> store_;
  FakeMeta meta_;
  std::unique_ptr<grpc::Server> server_;
  MetaLinkOptions options_;
};

TEST_F(MetaLinkTest, RegistrationRetriesUntilMetaAnswers) {
  {
    absl::MutexLock lock(&meta_.mu);
    meta_.fail_registrations = 2;
  }
  uint64_t seen_id = 0;
  MetaLink link(options_, store_.get(), [&](uint64_t id) { seen_id = id; });
  auto id = link.Register();
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, 42u);
  EXPECT_EQ(seen_id, 42u);
  EXPECT_EQ(link.server_id(), 42u);
  absl::MutexLock lock(&meta_.mu);
  EXPECT_EQ(meta_.registrations, 3);
  EXPECT_EQ(meta_.last_record.uuid(), options_.record.uuid());
  EXPECT_GT(meta_.last_record.capacity_bytes(), 0u);
}

TEST_F(MetaLinkTest, RejectedRecordIsNotRetried) {
  {
    absl::MutexLock lock(&meta_.mu);
    meta_.reject_registrations = true;
  }
  MetaLink link(options_, store_.get(), nullptr);
  EXPECT_EQ(link.Register().status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(MetaLinkTest, CancelStopsRegistration) {
  {
    absl::MutexLock lock(&meta_.mu);
    meta_.fail_registrations = 1 << 30;
  }
  MetaLink link(options_, store_.get(), nullptr);
  absl::StatusOr<uint64_t> result;
  std::thread registering([&] { result = link.Register(); });
  AwaitMeta(+[](FakeMeta* m) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return m->registrations >= 2;
  });
  link.Cancel();
  registering.join();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
}

TEST_F(MetaLinkTest, HeartbeatsReportDeleteAndReregister) {
  ASSERT_TRUE(store_->Create(7).ok());
  ASSERT_TRUE(store_->Seal(7, 0).ok());
  ASSERT_TRUE(store_->Create(8).ok());
  ASSERT_TRUE(store_->Seal(8, 0).ok());
  MetaLink link(options_, store_.get(), nullptr);
  ASSERT_TRUE(link.Register().ok());
  link.StartHeartbeats();
  AwaitMeta(+[](FakeMeta* m) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return m->heartbeats >= 1;
  });
  {
    absl::MutexLock lock(&meta_.mu);
    EXPECT_EQ(meta_.last_heartbeat.server_id(), 42u);
    EXPECT_EQ(meta_.last_heartbeat.chunk_count(), 2u);
    EXPECT_GT(meta_.last_heartbeat.capacity_bytes(), 0u);
    meta_.delete_next = {7, 99};  // 99 is unknown: ignored
    meta_.reregister_next = true;
  }
  // A heartbeat that carries the deletes, then one that reports them done.
  AwaitMeta(+[](FakeMeta* m) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return m->registrations >= 2 && m->last_heartbeat.chunk_count() == 1;
  });
  link.Stop();
  EXPECT_FALSE(store_->Stat(7).exists);
  EXPECT_TRUE(store_->Stat(8).exists);
}

}  // namespace
}  // namespace medfs::chunkserver
