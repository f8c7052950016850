// medfs_bench_fabric_loopback: the loopback limit of the fabric transport.
//
// Two processes on one host: this one (the client) re-executes itself as
// the server. The client keeps --inflight calls outstanding, each naming a
// --block_bytes slice of its registered buffer:
//   rma_write: the server writes the slice with ReplyWithWrite (like a
//              chunk read: one request message + one RMA write with data);
//   rma_read:  the server pulls the slice with PullFromCaller and replies
//              (like a chunk write).
// Each direction moves --bytes. Prints one machine-readable line:
//   fabric_loopback provider=tcp;ofi_rxm rma_write_gibps=X rma_read_gibps=Y ...
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/fabric/buffer_pool.h"
#include "common/fabric/endpoint.h"
#include "common/fabric/mapped_memory.h"
#include "common/logging.h"
#include "common/status.h"

ABSL_FLAG(std::string, provider, "tcp;ofi_rxm", "libfabric provider");
ABSL_FLAG(std::string, node, "127.0.0.1", "address to bind (not for shm)");
ABSL_FLAG(std::string, bytes, "2G", "bytes per direction (K/M/G suffix)");
ABSL_FLAG(std::string, block_bytes, "4M", "bytes per RMA (K/M/G suffix)");
ABSL_FLAG(int, inflight, 4, "RMA calls in flight");
ABSL_FLAG(std::string, role, "client", "client, or server (internal)");

namespace medfs::fabric {
namespace {

constexpr absl::Duration kCallTimeout = absl::Seconds(60);

absl::StatusOr<uint64_t> ParseBytes(absl::string_view text) {
  uint64_t scale = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'K': case 'k': scale = 1ull << 10; break;
      case 'M': case 'm': scale = 1ull << 20; break;
      case 'G': case 'g': scale = 1ull << 30; break;
      default: break;
    }
    if (scale != 1) text.remove_suffix(1);
  }
  uint64_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value == 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad byte count: ", text));
  }
  return value * scale;
}

EndpointOptions Options() {
  EndpointOptions options;
  options.provider = absl::GetFlag(FLAGS_provider);
  options.node = options.provider == "shm" ? "" : absl::GetFlag(FLAGS_node);
  options.service = options.provider == "shm" ? "" : "0";
  return options;
}

struct Request {
  char op;  // 'w': the server writes into us; 'p': the server pulls from us
  RemoteBuffer remote;
};

// One request at a time per worker thread, each with its own pool buffer.
void ServeRequests(absl::Mutex* mu,
                   std::vector<std::unique_ptr<IncomingRequest>>* queue,
                   BufferPool* pool) {
  while (true) {
    std::unique_ptr<IncomingRequest> r;
    {
      absl::MutexLock lock(mu);
      mu->Await(absl::Condition(
          +[](std::vector<std::unique_ptr<IncomingRequest>>* q) {
            return !q->empty();
          },
          queue));
      r = std::move(queue->back());
      queue->pop_back();
    }
    Request req{};
    std::memcpy(&req, r->payload().data(),
                std::min(sizeof(req), r->payload().size()));
    absl::StatusOr<PooledBuffer> buf = pool->Acquire(kCallTimeout);
    absl::Status s = buf.status();
    if (s.ok() && req.op == 'w') {
      s = r->ReplyWithWrite(buf->region(), buf->data(), req.remote.length,
                            req.remote);
    } else if (s.ok()) {
      s = r->PullFromCaller(buf->region(), buf->data(), req.remote.length,
                            req.remote);
      if (s.ok()) s = r->Reply("");
    }
    if (!s.ok()) MEDFS_LOG(ERROR) << "bench server: " << s;
  }
}

// The server process: prints its address (hex) on stdout, serves until its
// stdin closes (the client exited), then leaves without unwinding.
absl::Status Serve() {
  ASSIGN_OR_RETURN(std::unique_ptr<Endpoint> endpoint,
                   Endpoint::Open(Options()));
  ASSIGN_OR_RETURN(uint64_t block,
                   ParseBytes(absl::GetFlag(FLAGS_block_bytes)));
  const int workers = absl::GetFlag(FLAGS_inflight);
  ASSIGN_OR_RETURN(std::unique_ptr<BufferPool> pool,
                   BufferPool::Create(endpoint.get(),
                                      {static_cast<size_t>(workers), block}));
  absl::Mutex mu;
  std::vector<std::unique_ptr<IncomingRequest>> queue;
  endpoint->SetRequestHandler([&](std::unique_ptr<IncomingRequest> r) {
    absl::MutexLock lock(&mu);
    queue.push_back(std::move(r));
  });
  for (int i = 0; i < workers; ++i) {
    std::thread(ServeRequests, &mu, &queue, pool.get()).detach();
  }
  std::cout << absl::BytesToHexString(endpoint->address()) << std::endl;
  char c;
  while (read(STDIN_FILENO, &c, 1) > 0) {
  }
  std::_Exit(0);
}

// The server child: its stdin (our end kept open) and stdout (its address).
struct Child {
  pid_t pid = -1;
  int to_child = -1;
  FILE* from_child = nullptr;
};

absl::StatusOr<Child> SpawnServer() {
  int in[2], out[2];
  if (pipe(in) != 0 || pipe(out) != 0) return ErrnoToStatus(errno, "pipe");
  const std::vector<std::string> args = {
      "medfs_bench_fabric_loopback", "--role=server",
      "--provider=" + absl::GetFlag(FLAGS_provider),
      "--node=" + absl::GetFlag(FLAGS_node),
      "--block_bytes=" + absl::GetFlag(FLAGS_block_bytes),
      absl::StrCat("--inflight=", absl::GetFlag(FLAGS_inflight))};
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  Child child;
  child.pid = fork();
  if (child.pid < 0) return ErrnoToStatus(errno, "fork");
  if (child.pid == 0) {
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    close(in[1]);
    close(out[0]);
    execv("/proc/self/exe", argv.data());
    std::_Exit(127);
  }
  close(in[0]);
  close(out[1]);
  child.to_child = in[1];
  child.from_child = fdopen(out[0], "r");
  return child;
}

// Moves `total` bytes in `block` calls, `inflight` at a time; GiB/s.
absl::StatusOr<double> Measure(Endpoint& endpoint, PeerId server, char op,
                               const MemoryRegion& region, uint64_t block,
                               uint64_t total, int inflight) {
  std::atomic<int64_t> calls_left((total + block - 1) / block);
  std::atomic<bool> failed{false};
  absl::Status first_error;
  absl::Mutex error_mu;
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int i = 0; i < inflight; ++i) {
    threads.emplace_back([&, i] {
      Request req{op, region.Remote(i * block, block)};
      const std::string payload(reinterpret_cast<const char*>(&req),
                                sizeof(req));
      while (!failed && calls_left.fetch_sub(1) > 0) {
        absl::StatusOr<std::string> r =
            endpoint.CallAndWait(server, payload, kCallTimeout);
        if (!r.ok()) {
          absl::MutexLock lock(&error_mu);
          if (!failed.exchange(true)) first_error = r.status();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  if (failed) return first_error;
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const uint64_t moved = ((total + block - 1) / block) * block;
  return moved / seconds / double(1ull << 30);
}

absl::Status RunClient() {
  const std::string provider = absl::GetFlag(FLAGS_provider);
  ASSIGN_OR_RETURN(uint64_t total, ParseBytes(absl::GetFlag(FLAGS_bytes)));
  ASSIGN_OR_RETURN(uint64_t block,
                   ParseBytes(absl::GetFlag(FLAGS_block_bytes)));
  const int inflight = absl::GetFlag(FLAGS_inflight);
  if (inflight <= 0) return absl::InvalidArgumentError("--inflight must be > 0");
  ASSIGN_OR_RETURN(std::unique_ptr<Endpoint> endpoint,
                   Endpoint::Open(Options()));
  ASSIGN_OR_RETURN(MappedMemory memory,
                   MappedMemory::Allocate(block * inflight));
  ASSIGN_OR_RETURN(const MemoryRegion* region,
                   endpoint->Register(memory.data(), memory.size()));
  ASSIGN_OR_RETURN(Child child, SpawnServer());
  char line[1024] = "";
  if (fgets(line, sizeof(line), child.from_child) == nullptr) {
    return absl::UnavailableError("bench server exited before printing its address");
  }
  std::string hex(line);
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) hex.pop_back();
  ASSIGN_OR_RETURN(PeerId server, endpoint->Connect(absl::HexStringToBytes(hex)));
  // Warm up: connection setup and first touches are not what we measure.
  RETURN_IF_ERROR(Measure(*endpoint, server, 'w', *region, block, block * inflight, inflight).status());
  RETURN_IF_ERROR(Measure(*endpoint, server, 'p', *region, block, block * inflight, inflight).status());
  ASSIGN_OR_RETURN(double write_gibps, Measure(*endpoint, server, 'w', *region,
                                               block, total, inflight));
  ASSIGN_OR_RETURN(double read_gibps, Measure(*endpoint, server, 'p', *region,
                                              block, total, inflight));
  close(child.to_child);
  fclose(child.from_child);
  int status = 0;
  waitpid(child.pid, &status, 0);
  std::printf(
      "fabric_loopback provider=%s rma_write_gibps=%.3f rma_read_gibps=%.3f "
      "bytes=%llu block_bytes=%llu inflight=%d\n",
      provider.c_str(), write_gibps, read_gibps,
      static_cast<unsigned long long>(total),
      static_cast<unsigned long long>(block), inflight);
  return absl::OkStatus();
}

}  // namespace
}  // namespace medfs::fabric

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const bool server = absl::GetFlag(FLAGS_role) == "server";
  if (!server) medfs::SetMinLogLevel(medfs::LogLevel::WARNING);
  absl::Status status =
      server ? medfs::fabric::Serve() : medfs::fabric::RunClient();
  if (!status.ok()) {
    std::fprintf(stderr, "medfs_bench_fabric_loopback: %s\n",
                 status.ToString().c_str());
    return 1;
  }
  return 0;
}
