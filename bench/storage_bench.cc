// medfs_bench_storage: end-to-end chunk I/O throughput of the client
// library against a real local cluster, beside the fabric loopback limit.
//
// Starts medfs-meta and 3 medfs-chunkservers (R=2) on loopback, writes one
// --bytes file through a FileWriter, reads it back twice into a registered
// buffer (the second read has the servers' page cache warm and is the one
// reported), runs medfs_bench_fabric_loopback for the transport's limit in
// the same run, and prints one machine-readable line:
//   storage_bench read_gibps=.. write_gibps=.. loopback_gibps=..
//     read_ratio=.. write_ratio=.. chunkserver_peak_rss_mib=..
//     meta_peak_rss_mib=.. ... disk_gibps=.. write_limit_gibps=..
//     write_ratio_vs_limit=..
// read_ratio compares with the loopback's RMA write (the read path: server
// writes into the client), write_ratio with its RMA read (the write path:
// server pulls from the client); loopback_gibps is the RMA write figure.
// The disk is measured too (disk_gibps: `replicas` concurrent writers of
// --disk_probe_mib each, 4 MiB direct writes + fdatasync, in the cluster's
// folder after the run): every replica lands on that one disk here, so
// write_limit_gibps = min(loopback_read_gibps, disk_gibps / replicas) and
// write_ratio_vs_limit = write_gibps / write_limit_gibps. Each chunkserver's
// "write path:" timings (ms summed over WRITEs) go to stderr.
// Use --parent_dir=/dev/shm to take the disk (fdatasync on seal) out.
// Binaries come from $MEDFS_BIN_DIR, else the folder of this executable.
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "common/logging.h"
#include "common/status.h"
#include "tests/integration/test_cluster.h"

ABSL_FLAG(int64_t, mib, 1024, "file size (MiB)");
ABSL_FLAG(int64_t, read_buffer_mib, 256, "registered read buffer (MiB)");
ABSL_FLAG(int, parallel_pieces, 16, "client max_parallel_pieces");
ABSL_FLAG(int, write_stripes, 4, "client write_stripes");
ABSL_FLAG(int64_t, write_chunk_mib, 16, "client write_chunk_bytes (MiB)");
ABSL_FLAG(int, io_buffers, 32, "client io_buffer_count");
ABSL_FLAG(int, replication, 0, "replicas per chunk of the written file (0: cluster default, 2)");
ABSL_FLAG(std::string, loopback_bytes, "1G", "bytes per loopback direction");
ABSL_FLAG(std::string, parent_dir, "", "where the cluster's folder goes");
ABSL_FLAG(std::string, chunkserver_flags, "",
          "extra flags for every chunkserver, comma-separated");
ABSL_FLAG(int64_t, disk_probe_mib, 1024,
          "MiB each of the disk probe's writers writes (0: no probe)");

namespace medfs {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

std::string BinDir() {
  const char* env = std::getenv("MEDFS_BIN_DIR");
  if (env != nullptr && *env != '\0') return env;
  return std::filesystem::read_symlink("/proc/self/exe").parent_path();
}

// Runs the fabric loopback bench; returns {rma_write_gibps, rma_read_gibps}.
absl::StatusOr<std::pair<double, double>> Loopback() {
  const std::string command =
      absl::StrCat(BinDir(), "/medfs_bench_fabric_loopback --bytes=",
                   absl::GetFlag(FLAGS_loopback_bytes), " 2>/dev/null");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError("popen loopback bench");
  std::string output;
  char line[4096];
  while (fgets(line, sizeof(line), pipe) != nullptr) output += line;
  pclose(pipe);
  double write = 0, read = 0;
  for (absl::string_view field : absl::StrSplit(output, absl::ByAnyChar(" \n"))) {
    std::pair<std::string, std::string> kv = absl::StrSplit(field, '=');
    if (kv.first == "rma_write_gibps") (void)absl::SimpleAtod(kv.second, &write);
    if (kv.first == "rma_read_gibps") (void)absl::SimpleAtod(kv.second, &read);
  }
  if (write <= 0 || read <= 0) {
    return absl::UnavailableError(
        absl::StrCat("loopback bench printed no result: ", output));
  }
  return std::make_pair(write, read);
}

double GiBps(uint64_t bytes, absl::Duration elapsed) {
  return static_cast<double>(bytes) / (1ull << 30) /
         absl::ToDoubleSeconds(elapsed);
}

// Writes `bytes` to a new file at `path` in 4 MiB pwrites the way the
// chunkservers write (direct I/O, except on tmpfs: through the page cache), then fdatasyncs it and removes it.
absl::Status WriteDurably(const std::string& path, uint64_t bytes) {
  constexpr size_t kBlock = 4 * kMiB;
  std::unique_ptr<char, decltype(&std::free)> block(
      static_cast<char*>(std::aligned_alloc(4096, kBlock)), &std::free);
  for (size_t i = 0; i < kBlock; ++i) block.get()[i] = static_cast<char>(i * 131);
  const int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("disk probe: open ", path));
  struct statfs fs;
  if (fstatfs(fd, &fs) == 0 && fs.f_type != TMPFS_MAGIC) {
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_DIRECT);
  }
  bool ok = true;
  for (uint64_t at = 0; at < bytes && ok; at += kBlock) {
    ok = pwrite(fd, block.get(), kBlock, at) == static_cast<ssize_t>(kBlock);
  }
  ok = ok && fdatasync(fd) == 0;
  close(fd);
  unlink(path.c_str());
  if (!ok) return absl::InternalError(absl::StrCat("disk probe: writing ", path));
  return absl::OkStatus();
}

// The durable bandwidth of the disk under `dir`, as the write path uses it:
// `writers` processes' worth of concurrent streams (one per replica), each
// writing `bytes` and fdatasyncing. Returns the aggregate GiB/s.
absl::StatusOr<double> DiskLimit(const std::string& dir, int writers,
                                 uint64_t bytes) {
  std::vector<absl::Status> results(writers);
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  for (int i = 0; i < writers; ++i) {
    threads.emplace_back([&, i] {
      results[i] = WriteDurably(absl::StrCat(dir, "/disk_probe.", getpid(), ".", i),
                                bytes);
    });
  }
  for (std::thread& t : threads) t.join();
  const absl::Duration elapsed = absl::Now() - start;
  for (const absl::Status& s : results) RETURN_IF_ERROR(s);
  return GiBps(bytes * writers, elapsed);
}

absl::StatusOr<std::pair<v1::Inode, double>> WriteFile(client::Client& c,
                                                       uint64_t bytes) {
  std::vector<std::byte> source(64 * kMiB);
  for (size_t i = 0; i < source.size(); i += 8) {
    const uint64_t v = i * 0x9e3779b97f4a7c15ULL;
    std::memcpy(source.data() + i, &v, 8);
  }
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(auto writer, c.NewWriter());
  for (uint64_t done = 0; done < bytes;) {
    const size_t n = std::min<uint64_t>(source.size(), bytes - done);
    RETURN_IF_ERROR(writer->Append(std::span<const std::byte>(source.data(), n)));
    done += n;
  }
  ASSIGN_OR_RETURN(client::FileContent content, writer->Finish());
  client::CreateFileOptions options;
  options.replace_existing = true;
  ASSIGN_OR_RETURN(v1::Inode inode,
                   c.CreateFile(client::kRootInode, "bench", content, options));
  const double gibps = GiBps(bytes, absl::Now() - start);
  ASSIGN_OR_RETURN(v1::Inode with_extents, c.GetAttr(inode.id(), true));
  return std::make_pair(with_extents, gibps);
}

absl::StatusOr<double> ReadFile(client::Client& c, const v1::Inode& inode,
                                std::span<std::byte> buffer) {
  const absl::Time start = absl::Now();
  for (uint64_t offset = 0; offset < inode.size();) {
    ASSIGN_OR_RETURN(size_t n, c.Read(inode, offset, buffer));
    if (n == 0) return absl::DataLossError("short file");
    offset += n;
  }
  return GiBps(inode.size(), absl::Now() - start);
}

absl::Status Run() {
  testing::TestClusterOptions cluster_options;
  cluster_options.chunkservers = 3;
  cluster_options.replication = 2;
  cluster_options.parent_dir = absl::GetFlag(FLAGS_parent_dir);
  for (absl::string_view flag :
       absl::StrSplit(absl::GetFlag(FLAGS_chunkserver_flags), ',',
                      absl::SkipEmpty())) {
    cluster_options.chunkserver_flags.emplace_back(flag);
  }
  setenv("MEDFS_BIN_DIR", BinDir().c_str(), 0);
  ASSIGN_OR_RETURN(auto cluster, testing::TestCluster::Start(cluster_options));

  client::ClientOptions options;
  options.meta_address = cluster->meta_address();
  options.max_parallel_pieces = absl::GetFlag(FLAGS_parallel_pieces);
  options.write_stripes = absl::GetFlag(FLAGS_write_stripes);
  options.write_chunk_bytes = absl::GetFlag(FLAGS_write_chunk_mib) * kMiB;
  options.io_buffer_count = absl::GetFlag(FLAGS_io_buffers);
  options.replication = absl::GetFlag(FLAGS_replication);
  ASSIGN_OR_RETURN(auto client, client::Client::Connect(options));

  const uint64_t bytes = absl::GetFlag(FLAGS_mib) * kMiB;
  ASSIGN_OR_RETURN(auto written, WriteFile(*client, bytes));
  std::vector<std::byte> buffer(absl::GetFlag(FLAGS_read_buffer_mib) * kMiB);
  std::memset(buffer.data(), 1, buffer.size());  // fault in, outside timing
  RETURN_IF_ERROR(client->RegisterBuffer(buffer.data(), buffer.size()));
  ASSIGN_OR_RETURN(double cold, ReadFile(*client, written.first, buffer));
  ASSIGN_OR_RETURN(double warm, ReadFile(*client, written.first, buffer));

  uint64_t cs_rss = 0;
  for (int i = 0; i < cluster->chunkserver_count(); ++i) {
    cs_rss = std::max(cs_rss, cluster->chunkserver(i)->PeakResidentBytes());
  }
  const uint64_t meta_rss = cluster->meta()->PeakResidentBytes();
  // Each chunkserver logs where its WRITE time went when it stops.
  for (int i = 0; i < cluster->chunkserver_count(); ++i) {
    cluster->chunkserver(i)->Kill(SIGTERM);
    const std::string tail = cluster->chunkserver(i)->LogTail(2000);
    const size_t at = tail.find("write path:");
    if (at != std::string::npos) {
      std::fprintf(stderr, "chunkserver %d %s\n", i,
                   tail.substr(at, tail.find('\n', at) - at).c_str());
    }
  }
  const std::string probe_dir = cluster->root();
  client.reset();
  // Each written byte crosses the fabric once per replica (client -> first
  // replica -> second ...): write_ratio_per_replica scales by that. All
  // replicas share one disk here, so each written byte is stored `replicas`
  // times on it: the disk caps write_gibps at disk_gibps / replicas.
  const int replicas = options.replication != 0 ? options.replication
                                                : cluster_options.replication;
  double disk = 0;
  if (absl::GetFlag(FLAGS_disk_probe_mib) > 0) {
    ASSIGN_OR_RETURN(disk, DiskLimit(probe_dir, replicas,
                                     absl::GetFlag(FLAGS_disk_probe_mib) * kMiB));
  }
  cluster.reset();
  ASSIGN_OR_RETURN(auto loopback, Loopback());
  // The write path's limit: the fabric (one pull per replica, in parallel
  // along the chain) or the disk, whichever is lower.
  const double write_limit =
      disk > 0 ? std::min(loopback.second, disk / replicas) : loopback.second;
  std::printf(
      "storage_bench read_gibps=%.2f write_gibps=%.2f loopback_gibps=%.2f "
      "read_ratio=%.2f write_ratio=%.2f chunkserver_peak_rss_mib=%.0f "
      "meta_peak_rss_mib=%.0f cold_read_gibps=%.2f loopback_read_gibps=%.2f "
      "replicas=%d write_ratio_per_replica=%.2f bytes=%llu disk_gibps=%.2f "
      "write_limit_gibps=%.2f write_ratio_vs_limit=%.2f\n",
      warm, written.second, loopback.first, warm / loopback.first,
      written.second / loopback.second, cs_rss / double(kMiB),
      meta_rss / double(kMiB), cold, loopback.second, replicas,
      written.second * replicas / loopback.second,
      static_cast<unsigned long long>(bytes), disk, write_limit,
      written.second / write_limit);
  return absl::OkStatus();
}

}  // namespace
}  // namespace medfs

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  medfs::SetMinLogLevel(medfs::LogLevel::WARNING);
  absl::Status status = medfs::Run();
  if (!status.ok()) {
    std::fprintf(stderr, "medfs_bench_storage: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
