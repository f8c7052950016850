// RpcMetrics: the per-method counters and latency histograms medfs-meta
// exposes on /metrics, counted by a gRPC server interceptor on a real
// in-process server.
#include "meta/service/rpc_metrics.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/proto/medfs.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace medfs::meta {
namespace {

// Lookup succeeds, GetAttr fails: enough to see calls and errors apart.
class TwoMethods final : public v1::MetaService::Service {
 public:
  grpc::Status Lookup(grpc::ServerContext*, const v1::LookupRequest*,
                      v1::InodeReply* reply) override {
    reply->mutable_inode()->set_id(7);
    return grpc::Status::OK;
  }
  grpc::Status GetAttr(grpc::ServerContext*, const v1::GetAttrRequest*,
                       v1::InodeReply*) override {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such inode");
  }
};

class RpcMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    builder.experimental().SetInterceptorCreators(metrics_.InterceptorCreators());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::MetaService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  const RpcMetrics::Method& Method(const std::string& name) {
    return metrics_.ForPath(absl::StrCat("/medfs.v1.MetaService/", name).c_str());
  }

  MetricsRegistry registry_;
  RpcMetrics metrics_{&registry_, {v1::MetaService::service_full_name()}};
  TwoMethods service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::MetaService::Stub> stub_;
};

TEST_F(RpcMetricsTest, CountsCallsErrorsAndLatencyPerMethod) {
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext context;
    v1::LookupRequest request;
    v1::InodeReply reply;
    ASSERT_TRUE(stub_->Lookup(&context, request, &reply).ok());
    EXPECT_EQ(reply.inode().id(), 7u);
  }
  grpc::ClientContext context;
  v1::GetAttrRequest request;
  v1::InodeReply reply;
  EXPECT_EQ(stub_->GetAttr(&context, request, &reply).error_code(), grpc::StatusCode::NOT_FOUND);

  // The status is counted before it is sent: the replies above imply it.
  EXPECT_EQ(Method("Lookup").calls->value(), 2u);
  EXPECT_EQ(Method("Lookup").errors->value(), 0u);
  EXPECT_EQ(Method("Lookup").seconds->count(), 2u);
  EXPECT_EQ(Method("GetAttr").calls->value(), 1u);
  EXPECT_EQ(Method("GetAttr").errors->value(), 1u);
  EXPECT_EQ(Method("ReadDir").calls->value(), 0u);
  // An unknown path lands in method="other".
  EXPECT_EQ(&metrics_.ForPath("/no.Such/Method"), &metrics_.ForPath(nullptr));
}

TEST_F(RpcMetricsTest, ExpositionHasEachMetricOnceWithOneSamplePerMethod) {
  grpc::ClientContext context;
  v1::LookupRequest request;
  v1::InodeReply reply;
  ASSERT_TRUE(stub_->Lookup(&context, request, &reply).ok());
  const std::string text = registry_.Render();
  EXPECT_TRUE(absl::StrContains(text, "medfs_rpcs_total{method=\"Lookup\"} 1\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "medfs_rpcs_total{method=\"other\"} 0\n"));
  EXPECT_TRUE(absl::StrContains(text, "medfs_rpc_seconds_count{method=\"Lookup\"} 1\n"));
  for (const char* name : {"medfs_rpcs_total", "medfs_rpc_errors_total", "medfs_rpc_seconds"}) {
    const std::string type_line = absl::StrCat("# TYPE ", name, " ");
    size_t count = 0;
    for (size_t at = text.find(type_line); at != std::string::npos;
         at = text.find(type_line, at + 1)) {
      ++count;
    }
    EXPECT_EQ(count, 1u) << name;
  }
}

}  // namespace
}  // namespace medfs::meta
