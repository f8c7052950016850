#include "common/metrics/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medfs {
namespace {

using ::testing::HasSubstr;

std::string HttpGet(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  std::string request = "GET " + path + " HTTP/1.0\r\n\r\n";
  EXPECT_EQ(::send(fd, request.data(), request.size(), 0),
            static_cast<ssize_t>(request.size()));
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0) response.append(buffer, n);
  ::close(fd);
  return response;
}

TEST(MetricsRegistryTest, RendersEveryKind) {
  MetricsRegistry registry;
  registry.AddCounter("medfs_reads_total", "Reads.")->Increment(3);
  registry.AddGauge("medfs_open", "Open.", "dir=\"/a\"")->Set(-2);
  registry.AddGaugeFunction("medfs_answer", "Answer.", [] { return 42.0; });
  registry.AddCounterFunction("medfs_served_total", "Served.", [] { return 7.0; });
  Histogram* latency = registry.AddHistogram("medfs_latency_seconds", "Latency.");
  latency->Observe(0.000001);
  latency->Observe(100.0);
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE medfs_reads_total counter\nmedfs_reads_total 3\n"));
  EXPECT_THAT(text, HasSubstr("medfs_open{dir=\"/a\"} -2\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE medfs_answer gauge\nmedfs_answer 42\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE medfs_served_total counter\nmedfs_served_total 7\n"));
  EXPECT_THAT(text, HasSubstr("medfs_latency_seconds_bucket{le=\"1e-05\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("medfs_latency_seconds_bucket{le=\"+Inf\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("medfs_latency_seconds_count 2\n"));
}

TEST(MetricsHttpServerTest, ServesMetricsAndRejectsOtherPaths) {
  MetricsRegistry registry;
  registry.AddCounter("medfs_things_total", "Things.")->Increment();
  auto server = MetricsHttpServer::Start(&registry, "127.0.0.1", 0);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_THAT(HttpGet((*server)->port(), "/metrics"),
              HasSubstr("medfs_things_total 1"));
  EXPECT_THAT(HttpGet((*server)->port(), "/nope"), HasSubstr("404"));
}

TEST(MetricsHttpServerTest, BadAddressIsAnError) {
  MetricsRegistry registry;
  auto server = MetricsHttpServer::Start(&registry, "not-an-ip", 0);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ResidentBytesTest, ReportsThisProcess) {
  EXPECT_GT(ResidentBytes(), 0u);
  EXPECT_GE(PeakResidentBytes(), ResidentBytes());
}

}  // namespace
}  // namespace medfs
