// MetaClient's coalescing against an in-process fake MetaService: calls
// made while an RPC of their kind is outstanding go out as ONE batched RPC,
// each caller gets its own item's outcome (code and message unchanged), an
// error of the batch RPC reaches every caller, and a meta without the batch
// RPCs gets single calls.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/meta_client.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"

namespace medfs::client {
namespace {

// The outcome the fake gives inode (or file name length) `n`: every third
// is NOT_FOUND naming it, the others succeed with id n and size 10 n.
grpc::Status Outcome(uint64_t n, v1::InodeReply* reply) {
  if (n % 3 == 0) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("getattr inode ", n, ": not found"));
  }
  reply->mutable_inode()->set_id(n);
  reply->mutable_inode()->set_size(10 * n);
  return grpc::Status::OK;
}

void SetItem(v1::InodeBatchItem* item, uint64_t n) {
  grpc::Status status = Outcome(n, item->mutable_reply());
  if (!status.ok()) {
    item->clear_reply();
    item->set_code(status.error_code());
    item->set_message(status.error_message());
  }
}

// Single calls can be held until Release(); batch RPCs answer per item, or
// fail as a whole with `batch_failure` when set.
class FakeMeta final : public v1::MetaService::Service {
 public:
  grpc::Status GetAttr(grpc::ServerContext*, const v1::GetAttrRequest* request,
                       v1::InodeReply* reply) override {
    ArriveSingle();
    return Outcome(request->inode(), reply);
  }
  grpc::Status CreateFile(grpc::ServerContext*, const v1::CreateFileRequest* request,
                          v1::InodeReply* reply) override {
    ArriveSingle();
    return Outcome(request->name().size(), reply);
  }
  grpc::Status GetAttrBatch(grpc::ServerContext*, const v1::GetAttrBatchRequest* request,
                            v1::InodeBatchReply* reply) override {
    if (grpc::Status failure = ArriveBatch(request->items_size()); !failure.ok()) {
      return failure;
    }
    for (const auto& item : request->items()) SetItem(reply->add_items(), item.inode());
    return grpc::Status::OK;
  }
  grpc::Status CreateFileBatch(grpc::ServerContext*,
                               const v1::CreateFileBatchRequest* request,
                               v1::InodeBatchReply* reply) override {
    if (grpc::Status failure = ArriveBatch(request->items_size()); !failure.ok()) {
      return failure;
    }
    for (const auto& item : request->items()) SetItem(reply->add_items(), item.name().size());
    return grpc::Status::OK;
  }

  void Hold() {
    absl::MutexLock lock(&mu_);
    held_ = true;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    held_ = false;
  }
  void AwaitSingles(int n) {
    absl::MutexLock lock(&mu_);
    auto arrived = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return singles_ >= n; };
    mu_.Await(absl::Condition(&arrived));
  }
  void FailBatches(grpc::Status failure) {
    absl::MutexLock lock(&mu_);
    batch_failure_ = std::move(failure);
  }
  int singles() {
    absl::MutexLock lock(&mu_);
    return singles_;
  }
  std::vector<int> batch_sizes() {
    absl::MutexLock lock(&mu_);
    return batch_sizes_;
  }

 private:
  void ArriveSingle() {
    absl::MutexLock lock(&mu_);
    ++singles_;
    auto released = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !held_; };
    mu_.Await(absl::Condition(&released));
  }
  grpc::Status ArriveBatch(int items) {
    absl::MutexLock lock(&mu_);
    batch_sizes_.push_back(items);
    return batch_failure_;
  }

  absl::Mutex mu_;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  int singles_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<int> batch_sizes_ ABSL_GUARDED_BY(mu_);
  grpc::Status batch_failure_ ABSL_GUARDED_BY(mu_);
};

class UnimplementedBatches final : public v1::MetaService::Service {
 public:
  grpc::Status GetAttr(grpc::ServerContext*, const v1::GetAttrRequest* request,
                       v1::InodeReply* reply) override {
    calls_.fetch_add(1);
    return Outcome(request->inode(), reply);
  }
  int calls() const { return calls_.load(); }

 private:
  std::atomic<int> calls_{0};
};

std::unique_ptr<grpc::Server> Serve(grpc::Service* service, int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  builder.RegisterService(service);
  return builder.BuildAndStart();
}

std::unique_ptr<MetaClient> NewClient(int port) {
  MetaClientOptions options;
  options.address = absl::StrCat("127.0.0.1:", port);
  options.call_timeout = absl::Seconds(20);
  options.retry_budget = absl::Seconds(5);
  return std::make_unique<MetaClient>(NewMetaChannel(options), options);
}

v1::GetAttrRequest GetAttr(uint64_t inode) {
  v1::GetAttrRequest request;
  request.set_inode(inode);
  return request;
}

v1::CreateFileRequest Create(uint64_t name_length) {
  v1::CreateFileRequest request;
  request.set_parent(1);
  request.set_name(std::string(name_length, 'f'));
  return request;
}

// The outcome the single call for `n` has (from Outcome()).
void ExpectOutcome(uint64_t n, const absl::StatusOr<v1::Inode>& result) {
  SCOPED_TRACE(n);
  if (n % 3 == 0) {
    EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(result.status().message(), absl::StrCat("getattr inode ", n, ": not found"));
  } else {
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->id(), n);
    EXPECT_EQ(result->size(), 10 * n);
  }
}

// Holds call 0 at the server (a single RPC), queues calls 1..n behind it,
// releases it, and returns each call's outcome.
std::vector<absl::StatusOr<v1::Inode>> HeldRound(
    FakeMeta* fake, MetaClient* meta, int n,
    const std::function<absl::StatusOr<v1::Inode>(int)>& call) {
  std::vector<absl::StatusOr<v1::Inode>> results(n + 1, absl::UnknownError("unset"));
  fake->Hold();
  std::vector<std::thread> callers;
  callers.emplace_back([&] { results[0] = call(0); });
  fake->AwaitSingles(1);
  for (int i = 1; i <= n; ++i) callers.emplace_back([&, i] { results[i] = call(i); });
  // The client offers no notification for "queued"; poll its gauge.
  while (meta->stats().waiting_calls < static_cast<uint64_t>(n)) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  fake->Release();
  for (std::thread& caller : callers) caller.join();
  return results;
}

TEST(MetaClientBatchTest, QueuedGetAttrsShareOneRpcEachWithItsOwnOutcome) {
  FakeMeta fake;
  int port = 0;
  auto server = Serve(&fake, &port);
  auto meta = NewClient(port);
  const int kQueued = 9;
  auto results = HeldRound(&fake, meta.get(), kQueued,
                           [&](int i) { return meta->GetAttr(GetAttr(100 + i)); });
  for (int i = 0; i <= kQueued; ++i) ExpectOutcome(100 + i, results[i]);
  EXPECT_EQ(fake.singles(), 1);
  EXPECT_EQ(fake.batch_sizes(), std::vector<int>{kQueued});
  EXPECT_EQ(meta->stats().batch_rpcs, 1u);
  EXPECT_EQ(meta->stats().batched_calls, static_cast<uint64_t>(kQueued));
  server->Shutdown();
}

TEST(MetaClientBatchTest, QueuedCreatesShareOneRpcEachWithItsOwnOutcome) {
  FakeMeta fake;
  int port = 0;
  auto server = Serve(&fake, &port);
  auto meta = NewClient(port);
  const int kQueued = 6;
  auto results = HeldRound(&fake, meta.get(), kQueued,
                           [&](int i) { return meta->CreateFile(Create(1 + i)); });
  for (int i = 0; i <= kQueued; ++i) ExpectOutcome(1 + i, results[i]);
  EXPECT_EQ(fake.batch_sizes(), std::vector<int>{kQueued});
  server->Shutdown();
}

TEST(MetaClientBatchTest, FailedBatchRpcIsEveryItemsOutcome) {
  FakeMeta fake;
  int port = 0;
  auto server = Serve(&fake, &port);
  fake.FailBatches(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "meta busy"));
  auto meta = NewClient(port);
  auto results = HeldRound(&fake, meta.get(), 4,
                           [&](int i) { return meta->GetAttr(GetAttr(1 + i)); });
  ExpectOutcome(1, results[0]);  // the held single call
  for (int i = 1; i <= 4; ++i) {
    EXPECT_EQ(results[i].status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(results[i].status().message(), "meta busy");
  }
  server->Shutdown();
}

TEST(MetaClientBatchTest, NoCoalescingSendsSingles) {
  FakeMeta fake;
  int port = 0;
  auto server = Serve(&fake, &port);
  MetaClientOptions options;
  options.address = absl::StrCat("127.0.0.1:", port);
  options.max_batches_in_flight = 0;
  MetaClient meta(NewMetaChannel(options), options);
  std::vector<std::thread> callers;
  for (int i = 1; i <= 8; ++i) {
    callers.emplace_back([&, i] { ExpectOutcome(i, meta.GetAttr(GetAttr(i))); });
  }
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(fake.singles(), 8);
  EXPECT_TRUE(fake.batch_sizes().empty());
  server->Shutdown();
}

// `callers` threads each make `calls_each` GetAttr calls of distinct inodes
// through `meta` and check every outcome is its own.
void GetAttrsFromThreads(MetaClient* meta, int callers, int calls_each) {
  std::vector<std::thread> threads;
  for (int t = 0; t < callers; ++t) {
    threads.emplace_back([=] {
      for (int c = 0; c < calls_each; ++c) {
        uint64_t n = 1 + t * calls_each + c;
        ExpectOutcome(n, meta->GetAttr(GetAttr(n)));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
}

// Against a meta without GetAttrBatch the client falls back to single calls
// (and keeps doing so).
TEST(MetaClientBatchTest, UnimplementedBatchFallsBackToSingles) {
  UnimplementedBatches fake;
  int port = 0;
  auto server = Serve(&fake, &port);
  auto meta = NewClient(port);
  const int kCallers = 16, kCallsEach = 20;
  GetAttrsFromThreads(meta.get(), kCallers, kCallsEach);
  EXPECT_EQ(fake.calls(), kCallers * kCallsEach);
  EXPECT_EQ(meta->stats().batch_rpcs, 0u);
  server->Shutdown();
}

// Many callers, many rounds: every call is answered with its own outcome.
TEST(MetaClientBatchTest, ManyCallersEachGetTheirOwnAnswer) {
  FakeMeta fake;
  int port = 0;
  auto server = Serve(&fake, &port);
  auto meta = NewClient(port);
  const int kCallers = 16, kCallsEach = 200;
  GetAttrsFromThreads(meta.get(), kCallers, kCallsEach);
  EXPECT_EQ(meta->stats().waiting_calls, 0u);
  int answered = fake.singles();
  for (int size : fake.batch_sizes()) answered += size;
  EXPECT_EQ(answered, kCallers * kCallsEach);
  server->Shutdown();
}

}  // namespace
}  // namespace medfs::client
