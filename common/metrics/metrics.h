// Prometheus metrics for medfs servers.
//
//   MetricsRegistry registry;
//   Counter* reads = registry.AddCounter("medfs_chunk_reads_total",
//                                        "Chunk read requests served.");
//   reads->Increment();
//   registry.AddGaugeFunction("medfs_chunks", "Chunks stored.",
//                             [&] { return store.chunk_count(); });
//   ASSIGN_OR_RETURN(auto server, MetricsHttpServer::Start(&registry,
//                                                          "127.0.0.1", 9401));
//
// Metric objects are owned by the registry and live as long as it does;
// updating them is lock-free and thread safe. Rendering takes a mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace medfs {

// A monotonically increasing count (Prometheus counter).
class Counter {
 public:
  void Increment(uint64_t delta = 1) {
    value_.fetch_add(delta, std::memory_order_relaxed);
  }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down (Prometheus gauge).
class Gauge {
 public:
  void Set(int64_t value) { value_.store(value, std::memory_order_relaxed); }
  void Add(int64_t delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Latency distribution in seconds with fixed exponential buckets from
// 10 µs to ~10 s (Prometheus histogram).
class Histogram {
 public:
  static constexpr int kBuckets = 21;
  Histogram();
  void Observe(double seconds);
  // Upper bound of bucket i in seconds.
  static double BucketBound(int i);
  uint64_t bucket_count(int i) const {
    return counts_[i].load(std::memory_order_relaxed);
  }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const;

 private:
  std::atomic<uint64_t> counts_[kBuckets];
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_nanos_{0};
};

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // `name` must be a valid Prometheus metric name, unique in the registry;
  // `labels` is an optional rendered label set such as `dir="/data/a"`.
  Counter* AddCounter(std::string name, std::string help,
                      std::string labels = "");
  Gauge* AddGauge(std::string name, std::string help, std::string labels = "");
  Histogram* AddHistogram(std::string name, std::string help,
                          std::string labels = "");
  // A gauge computed when scraped. `read` runs under the registry mutex and
  // must be cheap and thread safe.
  void AddGaugeFunction(std::string name, std::string help,
                        std::function<double()> read, std::string labels = "");
  // A counter kept elsewhere (a component's own statistics), read when
  // scraped; `read` as for AddGaugeFunction, and must never decrease.
  void AddCounterFunction(std::string name, std::string help,
                          std::function<double()> read, std::string labels = "");

  // The Prometheus text exposition format (version 0.0.4).
  std::string Render() const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram, kGaugeFunction, kCounterFunction };
  struct Entry {
    Kind kind;
    std::string name;
    std::string help;
    std::string labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> read;
  };
  Entry& Add(Kind kind, std::string name, std::string help, std::string labels)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A gauge or counter read by `read` when scraped.
  void AddFunction(Kind kind, std::string name, std::string help,
                   std::function<double()> read, std::string labels);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
};

// Serves `GET /metrics` (and `GET /healthz`) over HTTP/1.0 on one thread.
// Stops and joins on destruction.
class MetricsHttpServer {
 public:
  // Binds host:port (port 0: any free port) and starts serving `registry`,
  // which must outlive the server. Fails with the bind error, naming the
  // address.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const MetricsRegistry* registry, const std::string& host, int port);
  ~MetricsHttpServer();

  // The bound port (useful with port 0).
  int port() const { return port_; }

 private:
  MetricsHttpServer(const MetricsRegistry* registry, int listen_fd, int wake_fd,
                    int port);
  void Serve();
  void HandleConnection(int fd);

  // Constant after construction.
  const MetricsRegistry* registry_;
  const int listen_fd_;
  const int wake_fd_;  // eventfd written on shutdown
  const int port_;
  std::thread thread_;
};

// Peak resident set size of this process (VmHWM) in bytes, 0 if unknown.
uint64_t PeakResidentBytes();
// Current resident set size (VmRSS) in bytes, 0 if unknown.
uint64_t ResidentBytes();

}  // namespace medfs
