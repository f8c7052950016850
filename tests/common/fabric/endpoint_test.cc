// Endpoint over real libfabric on 127.0.0.1: two endpoints in one process.
#include "common/fabric/endpoint.h"

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "common/fabric/mapped_memory.h"
#include "common/logging.h"
#include "gtest/gtest.h"
#include "tests/common/fabric/fabric_test_util.h"

namespace medfs::fabric {
namespace {

using testing::DecodeRemote;
using testing::EncodeRemote;
using testing::FillPattern;
using testing::LoopbackOptions;

constexpr size_t kBufferBytes = 4 << 20;
constexpr absl::Duration kTimeout = absl::Seconds(20);

uint64_t Fnv(const char* data, size_t length) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < length; ++i) {
    h = (h ^ static_cast<unsigned char>(data[i])) * 1099511628211ull;
  }
  return h;
}

// A server endpoint whose handler implements a tiny test protocol; the
// first payload byte picks the operation.
class TestServer {
 public:
  explicit TestServer(const EndpointOptions& options) {
    auto endpoint = Endpoint::Open(options);
    EXPECT_TRUE(endpoint.ok()) << endpoint.status();
    if (!endpoint.ok()) return;
    endpoint_ = std::move(*endpoint);
    memory_ = *MappedMemory::Allocate(kBufferBytes);
    region_ = *endpoint_->Register(memory_.data(), memory_.size());
    endpoint_->SetRequestHandler(
        [this](std::unique_ptr<IncomingRequest> r) { Handle(std::move(r)); });
  }
  ~TestServer() {
    worker_.reset();
    endpoint_.reset();
  }

  Endpoint& endpoint() { return *endpoint_; }
  char* memory() { return memory_.data(); }
  size_t stashed() {
    absl::MutexLock lock(&mu_);
    return stash_.size();
  }
  void AwaitStashed(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stash_.size() >= n;
    };
    mu_.Await(absl::Condition(&enough));
  }
  // Outcomes of the async writes' completions so far.
  void AwaitAsyncDone(int n, int* ok) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return async_done_ >= n;
    };
    mu_.Await(absl::Condition(&enough));
    *ok = async_ok_;
  }
  // Replies "released" to the oldest stashed request.
  void ReleaseOne() {
    std::unique_ptr<IncomingRequest> request;
    {
      absl::MutexLock lock(&mu_);
      request = std::move(stash_.front());
      stash_.erase(stash_.begin());
    }
    EXPECT_TRUE(request->Reply("released").ok());
  }

 private:
  void Handle(std::unique_ptr<IncomingRequest> request) {
    const absl::string_view payload = request->payload();
    const char op = payload.empty() ? '?' : payload[0];
    const absl::string_view rest = payload.substr(payload.empty() ? 0 : 1);
    switch (op) {
      case 'e':
        EXPECT_TRUE(request->Reply(absl::StrCat("echo:", rest)).ok());
        return;
      case 's': {
        absl::MutexLock lock(&mu_);
        stash_.push_back(std::move(request));
        return;
      }
      case 'd':
        return;  // dropped without a reply
      case 'i': {
        // Blocking RMA on the progress thread must be refused.
        absl::Status s = request->ReplyWithWrite(*region_, memory(), 16,
                                                 DecodeRemote(rest));
        EXPECT_TRUE(request->Reply(absl::StrCat(s.code(), ":", s.message())).ok());
        return;
      }
      case 'a': {
        // 'a' + remote + u32 seed + u32 extra: on the progress thread, fill
        // and ReplyWithWriteAsync remote.length + extra bytes; a write that
        // cannot start is answered "error:<code>" from its completion.
        const RemoteBuffer remote = DecodeRemote(rest.substr(0, sizeof(RemoteBuffer)));
        uint32_t seed = 0, extra = 0;
        std::memcpy(&seed, rest.data() + sizeof(RemoteBuffer), 4);
        std::memcpy(&extra, rest.data() + sizeof(RemoteBuffer) + 4, 4);
        FillPattern(memory(), remote.length, seed);
        IncomingRequest& r = *request;
        r.ReplyWithWriteAsync(
            *region_, memory(), remote.length + extra, remote,
            [this, request = std::move(request)](absl::Status status) {
              if (!status.ok()) {
                EXPECT_TRUE(request->Reply(absl::StrCat("error:", status.code())).ok());
              }
              absl::MutexLock lock(&mu_);
              ++async_done_;
              if (status.ok()) ++async_ok_;
            });
        return;
      }
      case 'm':
        EXPECT_TRUE(
            request->Reply(EncodeRemote(region_->Remote(0, kBufferBytes))).ok());
        return;
      default:
        worker_->Post([this, r = std::shared_ptr<IncomingRequest>(
                                 std::move(request))]() mutable {
          HandleBlocking(*r);
        });
    }
  }

  // 'w' + remote + u32 seed: fill and ReplyWithWrite. 'p' + remote: pull
  // and reply with the FNV hash of the pulled bytes.
  void HandleBlocking(IncomingRequest& request) {
    const absl::string_view payload = request.payload();
    const RemoteBuffer remote =
        DecodeRemote(payload.substr(1, sizeof(RemoteBuffer)));
    if (payload[0] == 'w') {
      uint32_t seed = 0;
      std::memcpy(&seed, payload.data() + 1 + sizeof(RemoteBuffer), 4);
      FillPattern(memory(), remote.length, seed);
      absl::Status s =
          request.ReplyWithWrite(*region_, memory(), remote.length, remote);
      EXPECT_TRUE(s.ok()) << s;
      return;
    }
    absl::Status s =
        request.PullFromCaller(*region_, memory(), remote.length, remote);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_TRUE(
        request.Reply(absl::StrCat(Fnv(memory(), remote.length))).ok());
  }

  std::unique_ptr<Endpoint> endpoint_;
  MappedMemory memory_;
  const MemoryRegion* region_ = nullptr;
  std::unique_ptr<testing::Worker> worker_ =
      std::make_unique<testing::Worker>();
  absl::Mutex mu_;
  std::vector<std::unique_ptr<IncomingRequest>> stash_ ABSL_GUARDED_BY(mu_);
  int async_done_ ABSL_GUARDED_BY(mu_) = 0;
  int async_ok_ ABSL_GUARDED_BY(mu_) = 0;
};

std::string ProviderName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name) {
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

class EndpointTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    server_ = std::make_unique<TestServer>(LoopbackOptions(GetParam()));
    client_ = Open(LoopbackOptions(GetParam()));
    ASSERT_NE(client_, nullptr);
    absl::StatusOr<PeerId> peer =
        client_->Connect(server_->endpoint().address());
    ASSERT_TRUE(peer.ok()) << peer.status();
    server_peer_ = *peer;
    memory_ = *MappedMemory::Allocate(kBufferBytes);
    region_ = *client_->Register(memory_.data(), memory_.size());
  }

  static std::unique_ptr<Endpoint> Open(const EndpointOptions& options) {
    absl::StatusOr<std::unique_ptr<Endpoint>> endpoint =
        Endpoint::Open(options);
    EXPECT_TRUE(endpoint.ok()) << endpoint.status();
    return endpoint.ok() ? std::move(*endpoint) : nullptr;
  }

  absl::StatusOr<std::string> Call(absl::string_view request,
                                   absl::Duration timeout = kTimeout) {
    return client_->CallAndWait(server_peer_, request, timeout);
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<Endpoint> client_;
  PeerId server_peer_ = 0;
  MappedMemory memory_;
  const MemoryRegion* region_ = nullptr;
};

TEST_P(EndpointTest, RequestReplyRoundTrip) {
  MEDFS_LOG(INFO) << client_->DescribeProvider();
  EXPECT_EQ(client_->provider(), GetParam());
  absl::StatusOr<std::string> reply = Call("ehello");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "echo:hello");
  // Largest request that fits in max_message_bytes (16 KiB).
  const std::string big(16 * 1024 - 16 - client_->address().size() - 1, 'x');
  reply = Call("e" + big);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->size(), big.size() + 5);
}

TEST_P(EndpointTest, ConnectIsCached) {
  absl::StatusOr<PeerId> again = client_->Connect(server_->endpoint().address());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, server_peer_);
  EXPECT_EQ(client_->Connect("").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(EndpointTest, ManyConcurrentCallsGetTheirOwnReplies) {
  constexpr int kThreads = 8;
  constexpr int kCallsPerThread = 125;
  absl::BlockingCounter remaining(kThreads * kCallsPerThread);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCallsPerThread; ++i) {
        std::string body = absl::StrCat("t", t, "-i", i);
        client_->Call(server_peer_, "e" + body, kTimeout,
                      [&, body](absl::StatusOr<std::string> reply) {
                        if (!reply.ok() || *reply != "echo:" + body) {
                          ++mismatches;
                        }
                        remaining.DecrementCount();
                      });
      }
    });
  }
  for (auto& thread : threads) thread.join();
  remaining.Wait();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_P(EndpointTest, ReplyWithWriteDeliversBytesAndCompletesCall) {
  for (size_t length : {size_t{1}, size_t{4096}, size_t{1 << 20}, kBufferBytes}) {
    std::memset(memory_.data(), 0, kBufferBytes);
    const uint32_t seed = static_cast<uint32_t>(length);
    std::string request = "w" + EncodeRemote(region_->Remote(0, length));
    request.append(reinterpret_cast<const char*>(&seed), 4);
    absl::StatusOr<std::string> reply = Call(request);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(*reply, "");
    std::string expected(length, '\0');
    FillPattern(expected.data(), length, seed);
    EXPECT_EQ(std::memcmp(memory_.data(), expected.data(), length), 0)
        << length;
    if (length < kBufferBytes) {
      EXPECT_EQ(memory_.data()[length], 0) << "wrote past " << length;
    }
  }
}

std::string AsyncWriteRequest(const RemoteBuffer& remote, uint32_t seed,
                              uint32_t extra) {
  std::string request = "a" + EncodeRemote(remote);
  request.append(reinterpret_cast<const char*>(&seed), 4);
  request.append(reinterpret_cast<const char*>(&extra), 4);
  return request;
}

TEST_P(EndpointTest, AsyncReplyWithWriteOnProgressThreadDeliversBytes) {
  int round = 0;
  for (size_t length : {size_t{1}, size_t{1 << 20}, kBufferBytes}) {
    std::memset(memory_.data(), 0, kBufferBytes);
    const uint32_t seed = static_cast<uint32_t>(length) + 5;
    absl::StatusOr<std::string> reply =
        Call(AsyncWriteRequest(region_->Remote(0, length), seed, 0));
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(*reply, "");
    std::string expected(length, '\0');
    FillPattern(expected.data(), length, seed);
    EXPECT_EQ(std::memcmp(memory_.data(), expected.data(), length), 0) << length;
    int ok = 0;
    server_->AwaitAsyncDone(++round, &ok);  // the local completion ran too
    EXPECT_EQ(ok, round);
  }
}

TEST_P(EndpointTest, AsyncReplyWithWriteThatCannotStartLeavesRequestUnanswered) {
  // One byte more than the caller's buffer: refused before posting, so the
  // completion runs at once with kInvalidArgument and can still reply.
  absl::StatusOr<std::string> reply =
      Call(AsyncWriteRequest(region_->Remote(0, 4096), 1, 1));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, absl::StrCat("error:", absl::StatusCode::kInvalidArgument));
  int ok = -1;
  server_->AwaitAsyncDone(1, &ok);
  EXPECT_EQ(ok, 0);
}

TEST_P(EndpointTest, PullFromCallerReadsCallersBytes) {
  for (size_t length : {size_t{1}, size_t{65536}, kBufferBytes}) {
    FillPattern(memory_.data(), length, 99);
    absl::StatusOr<std::string> reply =
        Call("p" + EncodeRemote(region_->Remote(0, length)));
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(*reply, absl::StrCat(Fnv(memory_.data(), length))) << length;
  }
}

TEST_P(EndpointTest, WriteAndReadFourMiBByteExact) {
  absl::StatusOr<std::string> reply = Call("m");
  ASSERT_TRUE(reply.ok()) << reply.status();
  const RemoteBuffer remote = DecodeRemote(*reply);
  ASSERT_EQ(remote.length, kBufferBytes);
  FillPattern(memory_.data(), kBufferBytes, 7);
  ASSERT_TRUE(client_->Write(server_peer_, *region_, memory_.data(),
                             kBufferBytes, remote)
                  .ok());
  EXPECT_EQ(std::memcmp(server_->memory(), memory_.data(), kBufferBytes), 0);
  FillPattern(server_->memory(), kBufferBytes, 8);
  std::memset(memory_.data(), 0, kBufferBytes);
  absl::Status read =
      client_->Read(server_peer_, *region_, memory_.data(), kBufferBytes, remote);
  ASSERT_TRUE(read.ok()) << read;
  EXPECT_EQ(std::memcmp(server_->memory(), memory_.data(), kBufferBytes), 0);
}

TEST_P(EndpointTest, RmaOutsideBuffersIsRejected) {
  const RemoteBuffer remote = region_->Remote(0, 100);
  EXPECT_EQ(client_->Write(server_peer_, *region_, memory_.data(), 101, remote)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->Read(server_peer_, *region_, memory_.data() + kBufferBytes,
                          1, remote)
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(EndpointTest, BlockingRmaOnProgressThreadIsRefused) {
  absl::StatusOr<std::string> reply =
      Call("i" + EncodeRemote(region_->Remote(0, 16)));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->rfind(absl::StrCat(absl::StatusCode::kFailedPrecondition), 0),
            0u)
      << *reply;
}

TEST_P(EndpointTest, CallToSilentServerTimesOut) {
  absl::StatusOr<std::string> reply = Call("s", absl::Milliseconds(200));
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(reply.status().message().find("timed out after 200ms"),
            absl::string_view::npos)
      << reply.status();
  EXPECT_EQ(client_->stats().calls_timed_out, 1u);
  // The late reply is dropped and counted; later calls are unaffected.
  server_->ReleaseOne();
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (client_->stats().unmatched_replies == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));  // stats are not awaitable
  }
  EXPECT_EQ(client_->stats().unmatched_replies, 1u);
  EXPECT_TRUE(Call("elate").ok());
}

TEST_P(EndpointTest, RequestDroppedWithoutReplyFailsFast) {
  absl::StatusOr<std::string> reply = Call("d");
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(reply.status().message().find("without a reply"),
            absl::string_view::npos)
      << reply.status();
}

TEST_P(EndpointTest, ServerWithoutHandlerAnswersWithError) {
  std::unique_ptr<Endpoint> bare = Open(LoopbackOptions(GetParam()));
  PeerId peer = *client_->Connect(bare->address());
  absl::StatusOr<std::string> reply =
      client_->CallAndWait(peer, "ehello", kTimeout);
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(bare->stats().unhandled_requests, 1u);
}

TEST_P(EndpointTest, OversizedRequestIsRejected) {
  absl::StatusOr<std::string> reply = Call(std::string(16 * 1024, 'e'));
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(EndpointTest, OutstandingCallsAreBounded) {
  EndpointOptions options = LoopbackOptions(GetParam());
  options.max_outstanding_calls = 2;
  std::unique_ptr<Endpoint> client = Open(options);
  PeerId peer = *client->Connect(server_->endpoint().address());
  absl::BlockingCounter replies(3);
  auto count = [&](absl::StatusOr<std::string> r) {
    EXPECT_TRUE(r.ok()) << r.status();
    replies.DecrementCount();
  };
  client->Call(peer, "s", kTimeout, count);
  client->Call(peer, "s", kTimeout, count);
  server_->AwaitStashed(2);
  std::atomic<bool> third_sent{false};
  std::thread third([&] {
    client->Call(peer, "s", kTimeout, count);
    third_sent = true;
  });
  EXPECT_FALSE(third_sent.load());  // blocked while two are outstanding
  EXPECT_EQ(server_->stashed(), 2u);
  server_->ReleaseOne();
  server_->AwaitStashed(2);  // the third request arrived
  third.join();
  server_->ReleaseOne();
  server_->ReleaseOne();
  replies.Wait();
}

TEST_P(EndpointTest, ShutdownCancelsPendingCalls) {
  absl::Notification done;
  absl::Status status;
  client_->Call(server_peer_, "s", kTimeout,
                [&](absl::StatusOr<std::string> r) {
                  status = r.status();
                  done.Notify();
                });
  server_->AwaitStashed(1);
  client_.reset();
  ASSERT_TRUE(done.HasBeenNotified());
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
}

TEST_P(EndpointTest, RegistrationCacheReusesEnclosingRegion) {
  absl::StatusOr<const MemoryRegion*> inner =
      client_->Register(memory_.data() + 4096, 8192);
  ASSERT_TRUE(inner.ok());
  EXPECT_EQ(*inner, region_);
  EXPECT_EQ(*client_->Register(memory_.data(), kBufferBytes), region_);
  // Overhanging the end needs a new registration.
  MappedMemory other = *MappedMemory::Allocate(1 << 20);
  const MemoryRegion* a = *client_->Register(other.data(), 4096);
  const MemoryRegion* b = *client_->Register(other.data(), 1 << 20);
  EXPECT_NE(a, b);
  EXPECT_EQ(*client_->Register(other.data() + 8192, 4096), b);
  client_->Deregister(b);
  EXPECT_EQ(*client_->Register(other.data(), 100), a);
  EXPECT_EQ(client_->Register(nullptr, 10).status().code(),
            absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Providers, EndpointTest,
                         ::testing::Values("tcp;ofi_rxm", "shm"),
                         ProviderName);

// Not run on shm: libfabric 1.17's shm provider crashes (SIGSEGV in
// fi_send) when the peer's shared-memory region is gone; see README.md.
using TcpEndpointTest = EndpointTest;

TEST_P(TcpEndpointTest, CallToClosedPeerFailsInsteadOfHanging) {
  std::unique_ptr<Endpoint> doomed = Open(LoopbackOptions(GetParam()));
  const std::string address = doomed->address();
  doomed.reset();
  PeerId peer = *client_->Connect(address);
  absl::StatusOr<std::string> reply =
      client_->CallAndWait(peer, "ehello", absl::Seconds(3));
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable)
      << reply.status();
  // The endpoint still works for live peers.
  EXPECT_TRUE(Call("ealive").ok());
}

INSTANTIATE_TEST_SUITE_P(Providers, TcpEndpointTest,
                         ::testing::Values("tcp;ofi_rxm"), ProviderName);

TEST(EndpointOpenTest, UnknownProviderNamesItInTheError) {
  EndpointOptions options;
  options.provider = "no-such-provider";
  absl::StatusOr<std::unique_ptr<Endpoint>> endpoint = Endpoint::Open(options);
  ASSERT_FALSE(endpoint.ok());
  EXPECT_EQ(endpoint.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(endpoint.status().message().find(
                "fi_getinfo(provider=no-such-provider, node=127.0.0.1"),
            absl::string_view::npos)
      << endpoint.status();
}

TEST(EndpointOpenTest, BindsTheRequestedPort) {
  EndpointOptions options = LoopbackOptions("tcp;ofi_rxm");
  auto first = Endpoint::Open(options);
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string described = (*first)->DescribeAddress();
  const std::string port = described.substr(described.rfind(':') + 1);
  ASSERT_NE(port, "0") << described;
  // A second endpoint on the same port must fail rather than share it.
  options.service = port;
  auto second = Endpoint::Open(options);
  EXPECT_FALSE(second.ok()) << (*second)->DescribeAddress();
}

TEST(EndpointOpenTest, RejectsTinyMessages) {
  EndpointOptions options = LoopbackOptions("tcp;ofi_rxm");
  options.max_message_bytes = 64;
  EXPECT_EQ(Endpoint::Open(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace medfs::fabric
