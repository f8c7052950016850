// The endpoint against a server in another process, and against a raw
// libfabric sender that puts malformed frames on the wire.
#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/fabric/endpoint.h"
#include "common/fabric/fi_util.h"
#include "common/fabric/wire.h"
#include "gtest/gtest.h"
#include "tests/common/fabric/fabric_test_util.h"

namespace medfs::fabric {
namespace {

using internal::FidPtr;
using internal::InfoPtr;

// A child process running fabric_test_echo_server.
class EchoServerProcess {
 public:
  explicit EchoServerProcess(const std::string& provider) {
    const char* bin = std::getenv("MEDFS_BIN_DIR");
    const std::string path =
        absl::StrCat(bin ? bin : ".", "/fabric_test_echo_server");
    int in[2], out[2];
    EXPECT_EQ(pipe(in), 0);
    EXPECT_EQ(pipe(out), 0);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      close(in[1]);
      close(out[0]);
      execl(path.c_str(), path.c_str(), provider.c_str(), nullptr);
      std::_Exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_child_ = in[1];
    FILE* from = fdopen(out[0], "r");
    char line[1024] = "";
    EXPECT_NE(fgets(line, sizeof(line), from), nullptr) << "no " << path;
    fclose(from);
    std::string hex(line);
    while (!hex.empty() && hex.back() == '\n') hex.pop_back();
    address_ = absl::HexStringToBytes(hex);
  }
  ~EchoServerProcess() { Stop(); }

  const std::string& address() const { return address_; }
  // Closes the child's stdin and waits for it to exit; returns its status.
  int Stop() {
    if (pid_ <= 0) return status_;
    close(to_child_);
    waitpid(pid_, &status_, 0);
    pid_ = -1;
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int to_child_ = -1;
  int status_ = -1;
  std::string address_;
};

TEST(CrossProcessTest, CallsAnotherProcessThenFailsWhenItExits) {
  EchoServerProcess server("tcp;ofi_rxm");
  ASSERT_FALSE(server.address().empty());
  auto client = Endpoint::Open(testing::LoopbackOptions("tcp;ofi_rxm"));
  ASSERT_TRUE(client.ok()) << client.status();
  PeerId peer = *(*client)->Connect(server.address());
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<std::string> reply =
        (*client)->CallAndWait(peer, absl::StrCat("m", i), absl::Seconds(20));
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(*reply, absl::StrCat("echo:m", i));
  }
  ASSERT_EQ(server.Stop(), 0);
  absl::StatusOr<std::string> reply =
      (*client)->CallAndWait(peer, "gone", absl::Seconds(3));
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable)
      << reply.status();
}

// A bare libfabric RDM endpoint that sends arbitrary bytes.
class RawSender {
 public:
  absl::Status Open(const std::string& peer_address) {
    InfoPtr hints(fi_allocinfo());
    hints->ep_attr->type = FI_EP_RDM;
    hints->caps = FI_MSG;
    hints->fabric_attr->prov_name = strdup("tcp;ofi_rxm");
    fi_info* info = nullptr;
    int rc = fi_getinfo(FI_VERSION(1, 17), "127.0.0.1", nullptr, FI_SOURCE,
                        hints.get(), &info);
    if (rc != 0) return internal::FiError("raw fi_getinfo", rc);
    info_.reset(info);
    fid_fabric* fabric;
    fid_domain* domain;
    fid_cq* cq;
    fid_av* av;
    fid_ep* ep;
    fi_cq_attr cq_attr{};
    cq_attr.format = FI_CQ_FORMAT_CONTEXT;
    fi_av_attr av_attr{};
    if ((rc = fi_fabric(info_->fabric_attr, &fabric, nullptr)) != 0 ||
        (fabric_.reset(fabric), rc = fi_domain(fabric, info, &domain, nullptr)) != 0 ||
        (domain_.reset(domain), rc = fi_cq_open(domain, &cq_attr, &cq, nullptr)) != 0 ||
        (cq_.reset(cq), rc = fi_av_open(domain, &av_attr, &av, nullptr)) != 0 ||
        (av_.reset(av), rc = fi_endpoint(domain, info, &ep, nullptr)) != 0) {
      return internal::FiError("raw open", rc);
    }
    ep_.reset(ep);
    fi_ep_bind(ep, &cq->fid, FI_TRANSMIT | FI_RECV);
    fi_ep_bind(ep, &av->fid, 0);
    if ((rc = fi_enable(ep)) != 0) return internal::FiError("raw enable", rc);
    if (fi_av_insert(av, peer_address.data(), 1, &peer_, 0, nullptr) != 1) {
      return absl::InternalError("raw av insert");
    }
    return absl::OkStatus();
  }

  // Sends `bytes` and waits for the local completion (error or not).
  void Send(const std::string& bytes) {
    fi_context2 context;
    ssize_t rc;
    do {
      rc = fi_send(ep_.get(), bytes.data(), bytes.size(), nullptr, peer_,
                   &context);
      if (rc == -FI_EAGAIN) Drain(nullptr);
    } while (rc == -FI_EAGAIN);
    ASSERT_EQ(rc, 0) << fi_strerror(static_cast<int>(-rc));
    Drain(&context);
  }

 private:
  void Drain(void* until) {
    fi_cq_entry entry;
    while (true) {
      ssize_t n = fi_cq_read(cq_.get(), &entry, 1);
      if (n == 1 && (until == nullptr || entry.op_context == until)) return;
      if (n == -FI_EAVAIL) {
        fi_cq_err_entry err{};
        fi_cq_readerr(cq_.get(), &err, 0);
        return;
      }
      if (n == -FI_EAGAIN && until == nullptr) return;
    }
  }

  InfoPtr info_;
  FidPtr<fid_fabric> fabric_;
  FidPtr<fid_domain> domain_;
  FidPtr<fid_cq> cq_;
  FidPtr<fid_av> av_;
  FidPtr<fid_ep> ep_;
  fi_addr_t peer_ = FI_ADDR_UNSPEC;
};

TEST(MalformedFramesTest, AreDroppedCountedAndTheEndpointKeepsServing) {
  auto server = Endpoint::Open(testing::LoopbackOptions("tcp;ofi_rxm"));
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->SetRequestHandler([](std::unique_ptr<IncomingRequest> r) {
    r->Reply("ok").IgnoreError();
  });
  RawSender raw;
  ASSERT_TRUE(raw.Open((*server)->address()).ok());
  const std::string good = wire::Encode(
      {wire::MessageKind::kRequest, 5, "not-a-real-address", "payload"});
  std::string bad_magic = good;
  bad_magic[0] = 'X';
  std::string bad_version = good;
  bad_version[4] = 9;
  const std::string frames[] = {
      "",                                   // empty
      "junk",                               // shorter than a header
      bad_magic,
      bad_version,
      good.substr(0, good.size() - 3),      // truncated
      good + "trailing",                    // longer than announced
      std::string(64 * 1024, 'z'),          // over the posted buffer size
  };
  for (const std::string& frame : frames) raw.Send(frame);
  const uint64_t expected = std::size(frames);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while ((*server)->stats().malformed_messages < expected &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));  // stats are not awaitable
  }
  EXPECT_EQ((*server)->stats().malformed_messages, expected);
  // Still serving: a well-formed call from a real endpoint works.
  auto client = Endpoint::Open(testing::LoopbackOptions("tcp;ofi_rxm"));
  ASSERT_TRUE(client.ok());
  PeerId peer = *(*client)->Connect((*server)->address());
  absl::StatusOr<std::string> reply =
      (*client)->CallAndWait(peer, "hello", absl::Seconds(20));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "ok");
}

}  // namespace
}  // namespace medfs::fabric
