// medfs_bench_meta: metadata throughput of medfs-meta over gRPC.
//
// Starts a medfs-meta on a fresh temporary database (or uses --meta), then
// from ONE client library instance (client/meta_client.h, the MetaClient
// every medfs door uses) with --inflight callers, each a thread making one
// blocking call at a time, so --inflight independent requests are
// outstanding:
//   1. creates --files empty files spread over --dirs directories
//      (CreateFile carries the content, so one call is create + commit;
//      --commit adds a separate CommitFile per file),
//   2. GetAttr of every file.
// The client library coalesces concurrent calls into batched RPCs
// (--batches_in_flight 0 turns that off, one RPC per call).
// Prints one line:
//   meta_bench creates_per_s=X getattr_per_s=Y meta_peak_rss_mib=Z ...
// with the server's and this client's CPU per operation, the calls per
// batched RPC, and fsync_us, the median latency of one 4 KiB write +
// fdatasync on the database's disk: with N requests in flight, durable
// creates cannot exceed about N / fsync latency.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/meta_client.h"
#include "common/proto/medfs.pb.h"

ABSL_FLAG(std::string, meta, "",
          "address of a running medfs-meta; empty: start one on a temp db");
ABSL_FLAG(std::string, meta_bin, "",
          "medfs-meta binary; empty: next to this benchmark");
ABSL_FLAG(int, meta_pid, 0, "pid of the --meta server, for its peak RSS");
ABSL_FLAG(int, files, 100000, "files to create");
ABSL_FLAG(int, dirs, 100, "directories to spread them over");
ABSL_FLAG(int, inflight, 16, "requests outstanding at once");
ABSL_FLAG(bool, commit, false, "also CommitFile each file after creating it");
ABSL_FLAG(int, batches_in_flight, medfs::client::MetaClientOptions().max_batches_in_flight,
          "client library coalescing: batched RPCs outstanding per kind; 0: off");
ABSL_FLAG(int, batch_items, medfs::client::MetaClientOptions().max_batch_items,
          "client library coalescing: most calls per batched RPC");

namespace v1 = ::medfs::v1;
using medfs::client::MetaClient;

namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "meta_bench: %s\n", what.c_str());
  std::exit(1);
}

// Peak RSS (VmHWM) of `pid` in MiB, or -1.
double PeakRssMib(int pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return -1;
}

// CPU seconds (user + system) `pid` has used so far, or 0.
double CpuSeconds(int pid) {
  if (pid <= 0) return 0;
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string content((std::istreambuf_iterator<char>(stat)), {});
  size_t paren = content.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(content.substr(paren + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  }
  return ticks / sysconf(_SC_CLK_TCK);
}

// CPU seconds (user + system) this process has used so far.
double OwnCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Median microseconds of one 4 KiB write + fdatasync in `dir`: the floor
// of a synced group commit on this disk right now.
double FsyncMicros(const std::filesystem::path& dir) {
  std::string path = (dir / "fsync-probe").string();
  int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  if (fd < 0) return -1;
  std::string block(4096, 'x');
  std::vector<double> samples;
  for (int i = 0; i < 31; ++i) {
    absl::Time start = absl::Now();
    if (write(fd, block.data(), block.size()) < 0 || fdatasync(fd) != 0) break;
    samples.push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
  }
  close(fd);
  unlink(path.c_str());
  if (samples.empty()) return -1;
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

// A medfs-meta started for the benchmark on a temporary database.
class OwnServer {
 public:
  OwnServer() {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("medfs-meta-bench-", getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::string bin = absl::GetFlag(FLAGS_meta_bin);
    if (bin.empty()) {
      bin = (std::filesystem::read_symlink("/proc/self/exe").parent_path() /
             "medfs-meta").string();
    }
    address_ = absl::StrCat("unix:", (dir_ / "meta.sock").string());
    std::string db = "--db=" + (dir_ / "db").string();
    std::string listen = "--listen=" + address_;
    std::string log = (dir_ / "meta.log").string();
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      execl(bin.c_str(), bin.c_str(), db.c_str(), listen.c_str(), nullptr);
      _exit(127);
    }
  }
  ~OwnServer() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    if (std::getenv("MEDFS_BENCH_KEEP_LOG")) {
      std::ifstream log(dir_ / "meta.log");
      std::string line;
      while (std::getline(log, line)) std::fprintf(stderr, "%s\n", line.c_str());
    }
    std::filesystem::remove_all(dir_);
  }
  const std::string& address() const { return address_; }
  const std::filesystem::path& dir() const { return dir_; }
  int pid() const { return pid_; }

 private:
  std::filesystem::path dir_;
  std::string address_;
  pid_t pid_ = -1;
};

void AwaitReady(MetaClient* meta) {
  absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (absl::Now() < give_up) {
    if (meta->Probe(absl::Milliseconds(500)).ok()) return;
  }
  Die("medfs-meta did not become ready");
}

// Runs calls 0..n-1 from `callers` threads, each making one blocking call
// `call(i)` at a time; returns calls per second. Any error is fatal.
double RunPhase(int n, int callers,
                const std::function<absl::Status(int)>& call) {
  std::atomic<int> next{0};
  auto caller = [&] {
    for (int i = next.fetch_add(1); i < n; i = next.fetch_add(1)) {
      absl::Status status = call(i);
      if (!status.ok()) Die(absl::StrCat("call ", i, ": ", status.ToString()));
    }
  };
  absl::Time begin = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < callers; ++t) threads.emplace_back(caller);
  for (std::thread& thread : threads) thread.join();
  return n / absl::ToDoubleSeconds(absl::Now() - begin);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int files = absl::GetFlag(FLAGS_files);
  const int dirs = absl::GetFlag(FLAGS_dirs);
  const int inflight = absl::GetFlag(FLAGS_inflight);
  std::unique_ptr<OwnServer> own;
  std::string address = absl::GetFlag(FLAGS_meta);
  int meta_pid = absl::GetFlag(FLAGS_meta_pid);
  if (address.empty()) {
    own = std::make_unique<OwnServer>();
    address = own->address();
    meta_pid = own->pid();
  }
  medfs::client::MetaClientOptions options;
  options.address = address;
  options.max_batches_in_flight = absl::GetFlag(FLAGS_batches_in_flight);
  options.max_batch_items = absl::GetFlag(FLAGS_batch_items);
  MetaClient meta(medfs::client::NewMetaChannel(options), options);
  AwaitReady(&meta);

  // The directories, one call each.
  std::string top = absl::StrCat("meta-bench-", getpid(), "-", absl::ToUnixMicros(absl::Now()));
  std::vector<uint64_t> dir_ids;
  for (int d = -1; d < dirs; ++d) {
    v1::MkDirRequest request;
    request.set_parent(d < 0 ? 1 : dir_ids[0]);
    request.set_name(d < 0 ? top : absl::StrCat("d", d));
    request.set_mode(0755);
    absl::StatusOr<v1::Inode> dir = meta.MkDir(request);
    if (!dir.ok()) Die("mkdir: " + dir.status().ToString());
    dir_ids.push_back(dir->id());
  }
  dir_ids.erase(dir_ids.begin());

  std::vector<uint64_t> inodes(files);
  double cpu_start = CpuSeconds(meta_pid), own_start = OwnCpuSeconds();
  double creates = RunPhase(files, inflight, [&](int i) {
    v1::CreateFileRequest create;
    create.set_mode(0644);
    create.set_exclusive(true);
    create.set_parent(dir_ids[i % dirs]);
    create.set_name(absl::StrCat("f", i));
    absl::StatusOr<v1::Inode> inode = meta.CreateFile(create);
    if (!inode.ok()) return inode.status();
    inodes[i] = inode->id();
    return absl::OkStatus();
  });
  double commits = 0;
  if (absl::GetFlag(FLAGS_commit)) {
    commits = RunPhase(files, inflight, [&](int i) {
      v1::CommitFileRequest commit;
      commit.set_inode(inodes[i]);
      return meta.CommitFile(commit).status();
    });
  }
  double cpu_created = CpuSeconds(meta_pid), own_created = OwnCpuSeconds();
  double getattrs = RunPhase(files, inflight, [&](int i) {
    v1::GetAttrRequest getattr;
    getattr.set_inode(inodes[i]);
    absl::StatusOr<v1::Inode> inode = meta.GetAttr(getattr);
    if (!inode.ok()) return inode.status();
    if (inode->id() != inodes[i]) Die("getattr returned the wrong inode");
    return absl::OkStatus();
  });
  double cpu_end = CpuSeconds(meta_pid), own_end = OwnCpuSeconds();
  const int calls = files * (absl::GetFlag(FLAGS_commit) ? 3 : 2);
  medfs::client::MetaClientStats stats = meta.stats();
  double fsync_us = FsyncMicros(own ? own->dir() : std::filesystem::temp_directory_path());
  std::string rss = meta_pid > 0 ? absl::StrCat(PeakRssMib(meta_pid)) : "NA";
  std::printf("meta_bench creates_per_s=%.0f getattr_per_s=%.0f meta_peak_rss_mib=%s",
              creates, getattrs, rss.c_str());
  if (absl::GetFlag(FLAGS_commit)) std::printf(" commits_per_s=%.0f", commits);
  if (meta_pid > 0) {
    std::printf(" meta_cpu_us_per_create=%.1f meta_cpu_us_per_getattr=%.1f",
                (cpu_created - cpu_start) * 1e6 / files,
                (cpu_end - cpu_created) * 1e6 / files);
  }
  std::printf(" client_cpu_us_per_create=%.1f client_cpu_us_per_getattr=%.1f",
              (own_created - own_start) * 1e6 / files,
              (own_end - own_created) * 1e6 / files);
  std::printf(" calls_per_batch_rpc=%.1f batched_calls_pct=%.0f",
              stats.batch_rpcs ? double(stats.batched_calls) / stats.batch_rpcs : 0.0,
              100.0 * stats.batched_calls / calls);
  std::printf(" fsync_us=%.0f files=%d dirs=%d inflight=%d\n", fsync_us, files,
              dirs, inflight);
  return 0;
}
