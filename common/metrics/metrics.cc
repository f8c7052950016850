#include "common/metrics/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"

namespace medfs {

Histogram::Histogram() {
  for (auto& c : counts_) c.store(0, std::memory_order_relaxed);
}

double Histogram::BucketBound(int i) { return 1e-5 * std::pow(2.0, i); }

void Histogram::Observe(double seconds) {
  int i = 0;
  while (i < kBuckets - 1 && seconds > BucketBound(i)) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_nanos_.fetch_add(static_cast<uint64_t>(seconds * 1e9),
                       std::memory_order_relaxed);
}

double Histogram::sum() const {
  return static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / 1e9;
}

MetricsRegistry::Entry& MetricsRegistry::Add(Kind kind, std::string name,
                                             std::string help,
                                             std::string labels) {
  auto entry = std::make_unique<Entry>();
  entry->kind = kind;
  entry->name = std::move(name);
  entry->help = std::move(help);
  entry->labels = std::move(labels);
  entries_.push_back(std::move(entry));
  return *entries_.back();
}

Counter* MetricsRegistry::AddCounter(std::string name, std::string help,
                                     std::string labels) {
  absl::MutexLock lock(&mu_);
  Entry& e = Add(Kind::kCounter, std::move(name), std::move(help), std::move(labels));
  e.counter = std::make_unique<Counter>();
  return e.counter.get();
}

Gauge* MetricsRegistry::AddGauge(std::string name, std::string help,
                                 std::string labels) {
  absl::MutexLock lock(&mu_);
  Entry& e = Add(Kind::kGauge, std::move(name), std::move(help), std::move(labels));
  e.gauge = std::make_unique<Gauge>();
  return e.gauge.get();
}

Histogram* MetricsRegistry::AddHistogram(std::string name, std::string help,
                                         std::string labels) {
  absl::MutexLock lock(&mu_);
  Entry& e = Add(Kind::kHistogram, std::move(name), std::move(help), std::move(labels));
  e.histogram = std::make_unique<Histogram>();
  return e.histogram.get();
}

void MetricsRegistry::AddGaugeFunction(std::string name, std::string help,
                                       std::function<double()> read,
                                       std::string labels) {
  AddFunction(Kind::kGaugeFunction, std::move(name), std::move(help), std::move(read),
              std::move(labels));
}

void MetricsRegistry::AddCounterFunction(std::string name, std::string help,
                                         std::function<double()> read,
                                         std::string labels) {
  AddFunction(Kind::kCounterFunction, std::move(name), std::move(help), std::move(read),
              std::move(labels));
}

void MetricsRegistry::AddFunction(Kind kind, std::string name, std::string help,
                                  std::function<double()> read, std::string labels) {
  absl::MutexLock lock(&mu_);
  Entry& e = Add(kind, std::move(name), std::move(help), std::move(labels));
  e.read = std::move(read);
}

namespace {

std::string WithLabels(const std::string& name, const std::string& labels,
                       const std::string& extra = "") {
  std::string all = labels;
  if (!extra.empty()) all = all.empty() ? extra : absl::StrCat(all, ",", extra);
  return all.empty() ? name : absl::StrCat(name, "{", all, "}");
}

}  // namespace

std::string MetricsRegistry::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  std::string last_name;
  for (const auto& e : entries_) {
    static constexpr const char* kTypes[] = {"counter", "gauge", "histogram",
                                             "gauge", "counter"};
    if (e->name != last_name) {
      absl::StrAppend(&out, "# HELP ", e->name, " ", e->help, "\n# TYPE ",
                      e->name, " ", kTypes[static_cast<int>(e->kind)], "\n");
      last_name = e->name;
    }
    switch (e->kind) {
      case Kind::kCounter:
        absl::StrAppend(&out, WithLabels(e->name, e->labels), " ",
                        e->counter->value(), "\n");
        break;
      case Kind::kGauge:
        absl::StrAppend(&out, WithLabels(e->name, e->labels), " ",
                        e->gauge->value(), "\n");
        break;
      case Kind::kGaugeFunction:
      case Kind::kCounterFunction:
        absl::StrAppend(&out, WithLabels(e->name, e->labels), " ",
                        absl::StrFormat("%.17g", e->read()), "\n");
        break;
      case Kind::kHistogram: {
        uint64_t cumulative = 0;
        for (int i = 0; i < Histogram::kBuckets; ++i) {
          cumulative += e->histogram->bucket_count(i);
          std::string le = i == Histogram::kBuckets - 1
                               ? "+Inf"
                               : absl::StrFormat("%g", Histogram::BucketBound(i));
          absl::StrAppend(&out,
                          WithLabels(e->name + "_bucket", e->labels,
                                     absl::StrCat("le=\"", le, "\"")),
                          " ", cumulative, "\n");
        }
        absl::StrAppend(&out, WithLabels(e->name + "_sum", e->labels), " ",
                        absl::StrFormat("%.9f", e->histogram->sum()), "\n",
                        WithLabels(e->name + "_count", e->labels), " ",
                        e->histogram->count(), "\n");
        break;
      }
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const MetricsRegistry* registry, const std::string& host, int port) {
  const std::string where = absl::StrCat("metrics endpoint ", host, ":", port);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoToStatus(errno, absl::StrCat("socket for ", where));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": not an IPv4 address"));
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd, 64) != 0) {
    absl::Status status = ErrnoToStatus(errno, absl::StrCat("bind ", where));
    ::close(fd);
    return status;
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  auto server = std::unique_ptr<MetricsHttpServer>(
      new MetricsHttpServer(registry, fd, wake, ntohs(addr.sin_port)));
  return server;
}

MetricsHttpServer::MetricsHttpServer(const MetricsRegistry* registry,
                                     int listen_fd, int wake_fd, int port)
    : registry_(registry), listen_fd_(listen_fd), wake_fd_(wake_fd), port_(port) {
  thread_ = std::thread([this] { Serve(); });
}

MetricsHttpServer::~MetricsHttpServer() {
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_fd_);
}

void MetricsHttpServer::Serve() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    int conn = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    HandleConnection(conn);
    ::close(conn);
  }
}

void MetricsHttpServer::HandleConnection(int fd) {
  timeval timeout{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  char request[2048];
  ssize_t n = ::recv(fd, request, sizeof(request) - 1, 0);
  if (n <= 0) return;
  request[n] = '\0';
  std::string body;
  std::string status = "200 OK";
  if (std::strncmp(request, "GET /metrics", 12) == 0) {
    body = registry_->Render();
  } else if (std::strncmp(request, "GET /healthz", 12) == 0) {
    body = "ok\n";
  } else {
    status = "404 Not Found";
    body = "only /metrics and /healthz are served\n";
  }
  std::string response = absl::StrCat(
      "HTTP/1.0 ", status,
      "\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: ",
      body.size(), "\r\nConnection: close\r\n\r\n", body);
  size_t sent = 0;
  while (sent < response.size()) {
    ssize_t w = ::send(fd, response.data() + sent, response.size() - sent,
                       MSG_NOSIGNAL);
    if (w <= 0) return;
    sent += static_cast<size_t>(w);
  }
}

namespace {
uint64_t ReadStatusKib(const char* field) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  uint64_t kib = 0;
  const size_t field_length = std::strlen(field);
  while (std::fgets(line, sizeof(line), f)) {
    if (std::strncmp(line, field, field_length) == 0) {
      std::sscanf(line + field_length, " %lu", &kib);
      break;
    }
  }
  std::fclose(f);
  return kib * 1024;
}
}  // namespace

uint64_t PeakResidentBytes() { return ReadStatusKib("VmHWM:"); }
uint64_t ResidentBytes() { return ReadStatusKib("VmRSS:"); }

}  // namespace medfs
