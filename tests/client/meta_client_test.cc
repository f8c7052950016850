// MetaClient against an in-process fake MetaService: status mapping,
// retries of UNAVAILABLE within the budget, and no retries otherwise.
#include "client/meta_client.h"

#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"

namespace medfs::client {
namespace {

// Fails the first `fail_first` GetAttr calls with `failure`, then answers.
class FakeMeta final : public v1::MetaService::Service {
 public:
  grpc::Status GetAttr(grpc::ServerContext*, const v1::GetAttrRequest* request,
                       v1::InodeReply* reply) override {
    if (calls_.fetch_add(1) < fail_first_) return failure_;
    reply->mutable_inode()->set_id(request->inode());
    reply->mutable_inode()->set_size(123);
    return grpc::Status::OK;
  }
  grpc::Status Unlink(grpc::ServerContext*, const v1::RemoveRequest* request,
                      v1::Empty*) override {
    calls_.fetch_add(1);
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("unlink ", request->name(), ": not found"));
  }

  void FailFirst(int n, grpc::Status failure) {
    fail_first_ = n;
    failure_ = std::move(failure);
  }
  int calls() const { return calls_.load(); }

 private:
  std::atomic<int> calls_{0};
  int fail_first_ = 0;
  grpc::Status failure_;
};

class MetaClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }
  void TearDown() override { server_->Shutdown(); }

  std::unique_ptr<MetaClient> NewClient(absl::Duration budget) {
    MetaClientOptions options;
    options.address = absl::StrCat("127.0.0.1:", port_);
    options.call_timeout = absl::Seconds(5);
    options.retry_budget = budget;
    options.initial_backoff = absl::Milliseconds(1);
    options.max_backoff = absl::Milliseconds(5);
    return std::make_unique<MetaClient>(NewMetaChannel(options), options);
  }

  FakeMeta fake_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

v1::GetAttrRequest GetAttr(uint64_t inode) {
  v1::GetAttrRequest request;
  request.set_inode(inode);
  return request;
}

TEST_F(MetaClientTest, PassesReplyThrough) {
  auto meta = NewClient(absl::Seconds(1));
  absl::StatusOr<v1::Inode> inode = meta->GetAttr(GetAttr(7));
  ASSERT_TRUE(inode.ok()) << inode.status();
  EXPECT_EQ(inode->id(), 7u);
  EXPECT_EQ(inode->size(), 123u);
}

TEST_F(MetaClientTest, MapsCodeAndMessageWithoutRetry) {
  auto meta = NewClient(absl::Seconds(5));
  v1::RemoveRequest request;
  request.set_parent(1);
  request.set_name("x");
  absl::Status status = meta->Unlink(request);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "unlink x: not found");
  EXPECT_EQ(fake_.calls(), 1);
}

TEST_F(MetaClientTest, RetriesUnavailableWithinBudget) {
  fake_.FailFirst(3, grpc::Status(grpc::StatusCode::UNAVAILABLE, "restarting"));
  auto meta = NewClient(absl::Seconds(10));
  absl::StatusOr<v1::Inode> inode = meta->GetAttr(GetAttr(9));
  ASSERT_TRUE(inode.ok()) << inode.status();
  EXPECT_EQ(fake_.calls(), 4);
}

TEST_F(MetaClientTest, DoesNotRetryOtherCodes) {
  fake_.FailFirst(1, grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                  "not a directory"));
  auto meta = NewClient(absl::Seconds(10));
  absl::StatusOr<v1::Inode> inode = meta->GetAttr(GetAttr(9));
  EXPECT_EQ(inode.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(inode.status().message(), "not a directory");
  EXPECT_EQ(fake_.calls(), 1);
}

TEST_F(MetaClientTest, GivesUpAfterBudgetNamingMethodAndAddress) {
  fake_.FailFirst(1 << 30,
                  grpc::Status(grpc::StatusCode::UNAVAILABLE, "restarting"));
  auto meta = NewClient(absl::Milliseconds(100));
  absl::StatusOr<v1::Inode> inode = meta->GetAttr(GetAttr(9));
  EXPECT_EQ(inode.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(inode.status().message(), "GetAttr to meta at 127.0.0.1:"))
      << inode.status();
  EXPECT_TRUE(absl::StrContains(inode.status().message(), "restarting"));
  EXPECT_GT(fake_.calls(), 1);
}

TEST(MetaClientNoServer, UnreachableIsUnavailable) {
  MetaClientOptions options;
  options.address = "127.0.0.1:1";
  options.retry_budget = absl::Milliseconds(200);
  options.initial_backoff = absl::Milliseconds(10);
  MetaClient meta(NewMetaChannel(options), options);
  EXPECT_EQ(meta.GetAttr(GetAttr(1)).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(meta.Probe(absl::Milliseconds(200)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace medfs::client
