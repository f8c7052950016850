// medfs_bench_meta: metadata throughput of medfs-meta over gRPC.
//
// Starts a medfs-meta on a fresh temporary database (or uses --meta), then
// from ONE client with --inflight requests outstanding (async gRPC, one
// completion queue):
//   1. creates --files empty files spread over --dirs directories
//      (CreateFile carries the content, so one call is create + commit;
//      --commit adds a separate CommitFile per file),
//   2. GetAttr of every file.
// Prints one line:
//   meta_bench creates_per_s=X getattr_per_s=Y meta_peak_rss_mib=Z ...
// with the server's CPU per operation and fsync_us, the median latency of
// one 4 KiB write + fdatasync on the database's disk: with N requests in
// flight, durable creates cannot exceed about N / fsync latency.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/proto/medfs.grpc.pb.h"
#include "grpcpp/grpcpp.h"

ABSL_FLAG(std::string, meta, "",
          "address of a running medfs-meta; empty: start one on a temp db");
ABSL_FLAG(std::string, meta_bin, "",
          "medfs-meta binary; empty: next to this benchmark");
ABSL_FLAG(int, meta_pid, 0, "pid of the --meta server, for its peak RSS");
ABSL_FLAG(int, files, 100000, "files to create");
ABSL_FLAG(int, dirs, 100, "directories to spread them over");
ABSL_FLAG(int, inflight, 16, "requests outstanding at once");
ABSL_FLAG(bool, commit, false, "also CommitFile each file after creating it");

namespace v1 = ::medfs::v1;

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

void AwaitReady(v1::MetaService::Stub* stub) {
  absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (absl::Now() < give_up) {
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(500));
    v1::StatFsReply reply;
    if (stub->StatFs(&context, v1::Empty(), &reply).ok()) return;
  }
  Die("medfs-meta did not become ready");
}

// Runs `n` calls with `inflight` outstanding on one completion queue.
// `start(i, context, cq, tag)` issues call i; `finish(i)` sees its reply.
template <typename Reply>
double RunPhase(int n, int inflight,
                const std::function<std::unique_ptr<grpc::ClientAsyncResponseReader<Reply>>(
                    int, grpc::ClientContext*, grpc::CompletionQueue*)>& start,
                const std::function<void(int, const Reply&)>& finish) {
  struct Slot {
    int index = -1;
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientAsyncResponseReader<Reply>> reader;
    Reply reply;
    grpc::Status status;
  };
  grpc::CompletionQueue cq;
  std::vector<Slot> slots(inflight);
  int next = 0, done = 0;
  auto issue = [&](Slot& slot) {
    slot.index = next++;
    slot.context = std::make_unique<grpc::ClientContext>();
    slot.reply.Clear();
    slot.reader = start(slot.index, slot.context.get(), &cq);
    slot.reader->Finish(&slot.reply, &slot.status, &slot);
  };
  absl::Time begin = absl::Now();
  for (Slot& slot : slots) {
    if (next < n) issue(slot);
  }
  void* tag = nullptr;
  bool ok = false;
  while (done < n && cq.Next(&tag, &ok)) {
    Slot& slot = *static_cast<Slot*>(tag);
    if (!ok || !slot.status.ok()) {
      Die(absl::StrCat("call ", slot.index, ": ", slot.status.error_message()));
    }
    finish(slot.index, slot.reply);
    ++done;
    if (next < n) issue(slot);
  }
  double seconds = absl::ToDoubleSeconds(absl::Now() - begin);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return n / seconds;
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
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args);
  auto stub = v1::MetaService::NewStub(channel);
  AwaitReady(stub.get());

  // The directories, one synchronous call each.
  std::string top = absl::StrCat("meta-bench-", getpid(), "-", absl::ToUnixMicros(absl::Now()));
  std::vector<uint64_t> dir_ids;
  for (int d = -1; d < dirs; ++d) {
    grpc::ClientContext context;
    v1::MkDirRequest request;
    request.set_parent(d < 0 ? 1 : dir_ids[0]);
    request.set_name(d < 0 ? top : absl::StrCat("d", d));
    request.set_mode(0755);
    v1::InodeReply reply;
    grpc::Status status = stub->MkDir(&context, request, &reply);
    if (!status.ok()) Die("mkdir: " + status.error_message());
    dir_ids.push_back(reply.inode().id());
  }
  dir_ids.erase(dir_ids.begin());

  std::vector<uint64_t> inodes(files);
  double cpu_start = CpuSeconds(meta_pid);
  v1::CreateFileRequest create;
  create.set_mode(0644);
  create.set_exclusive(true);
  double creates = RunPhase<v1::InodeReply>(
      files, inflight,
      [&](int i, grpc::ClientContext* context, grpc::CompletionQueue* cq) {
        create.set_parent(dir_ids[i % dirs]);
        create.set_name(absl::StrCat("f", i));
        return stub->AsyncCreateFile(context, create, cq);
      },
      [&](int i, const v1::InodeReply& reply) { inodes[i] = reply.inode().id(); });
  double commits = 0;
  if (absl::GetFlag(FLAGS_commit)) {
    v1::CommitFileRequest commit;
    commits = RunPhase<v1::InodeReply>(
        files, inflight,
        [&](int i, grpc::ClientContext* context, grpc::CompletionQueue* cq) {
          commit.set_inode(inodes[i]);
          return stub->AsyncCommitFile(context, commit, cq);
        },
        [](int, const v1::InodeReply&) {});
  }
  double cpu_created = CpuSeconds(meta_pid);
  v1::GetAttrRequest getattr;
  double getattrs = RunPhase<v1::InodeReply>(
      files, inflight,
      [&](int i, grpc::ClientContext* context, grpc::CompletionQueue* cq) {
        getattr.set_inode(inodes[i]);
        return stub->AsyncGetAttr(context, getattr, cq);
      },
      [&](int i, const v1::InodeReply& reply) {
        if (reply.inode().id() != inodes[i]) Die("getattr returned the wrong inode");
      });
  double cpu_end = CpuSeconds(meta_pid);
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
  std::printf(" fsync_us=%.0f files=%d dirs=%d inflight=%d\n", fsync_us, files,
              dirs, inflight);
  return 0;
}
