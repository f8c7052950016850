#include "tests/integration/test_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/proto/medfs.grpc.pb.h"
#include "common/status.h"
#include "grpcpp/grpcpp.h"

namespace medfs::testing {

namespace fs = std::filesystem;

int PickFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    std::vector<std::string> argv, const std::string& log_path) {
  if (::access(argv[0].c_str(), X_OK) != 0) {
    return absl::NotFoundError(
        absl::StrCat("start ", argv[0], ": not an executable (is MEDFS_BIN_DIR set?)"));
  }
  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return ErrnoToStatus(errno, absl::StrCat("open ", log_path));
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return ErrnoToStatus(errno, "fork");
  }
  if (pid == 0) {
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::setpgid(0, 0);
    ::execv(args[0], args.data());
    std::_Exit(127);
  }
  ::close(log_fd);
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, log_path));
}

ChildProcess::~ChildProcess() {
  if (reaped_) return;
  ::kill(pid_, SIGTERM);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
    absl::SleepFor(absl::Milliseconds(20));  // polling a child's exit
  }
  Kill(SIGKILL);
}

bool ChildProcess::running() {
  if (reaped_) return false;
  int status;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    reaped_ = true;
    return false;
  }
  return true;
}

void ChildProcess::Kill(int signal) {
  if (reaped_) return;
  ::kill(pid_, signal);
  int status;
  ::waitpid(pid_, &status, 0);
  reaped_ = true;
}

uint64_t ChildProcess::PeakResidentBytes() const {
  std::ifstream in(absl::StrCat("/proc/", pid_, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

std::string ChildProcess::LogTail(size_t bytes) const {
  std::ifstream in(log_path_);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string all = buffer.str();
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

std::string TestCluster::BinaryPath(const std::string& name) {
  const char* dir = std::getenv("MEDFS_BIN_DIR");
  return absl::StrCat(dir ? dir : ".", "/", name);
}

std::string TestCluster::CliCommand() const {
  return absl::StrCat(BinaryPath("medfs"), " --meta=", meta_address_);
}

absl::StatusOr<std::unique_ptr<TestCluster>> TestCluster::Start(
    const TestClusterOptions& options) {
  auto cluster = std::unique_ptr<TestCluster>(new TestCluster(options));
  std::string parent = options.parent_dir;
  if (parent.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    parent = tmp ? tmp : "/tmp";
  }
  std::string templ = parent + "/medfs-cluster-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    return ErrnoToStatus(errno, absl::StrCat("mkdtemp ", templ));
  }
  cluster->root_ = templ;
  fs::create_directories(cluster->root_ + "/logs");
  // The meta port is picked before meta binds it; another process may take
  // it in between, so a meta that exits at start is retried on a new port.
  absl::Status meta_up;
  for (int attempt = 0; attempt < 3; ++attempt) {
    cluster->meta_address_ = absl::StrCat("127.0.0.1:", PickFreePort());
    RETURN_IF_ERROR(cluster->StartMeta());
    meta_up = cluster->WaitForMeta(absl::Seconds(30));
    if (meta_up.ok() || cluster->meta_->running()) break;
  }
  RETURN_IF_ERROR(meta_up);
  cluster->chunkservers_.resize(options.chunkservers);
  for (int i = 0; i < options.chunkservers; ++i) {
    RETURN_IF_ERROR(cluster->StartChunkserver(i));
  }
  absl::Status up =
      cluster->WaitForServersUp(options.chunkservers, absl::Seconds(60));
  if (!up.ok()) {
    std::string logs;
    for (auto& cs : cluster->chunkservers_) {
      absl::StrAppend(&logs, "\n--- ", cs->log_path(), "\n", cs->LogTail());
    }
    return Annotate(up, absl::StrCat("start cluster", logs));
  }
  return cluster;
}

TestCluster::~TestCluster() {
  chunkservers_.clear();
  meta_.reset();
  std::error_code ignored;
  if (!root_.empty() && std::getenv("MEDFS_KEEP_TEST_CLUSTER") == nullptr) {
    fs::remove_all(root_, ignored);
  }
}

std::string TestCluster::chunkserver_dir(int i) const {
  return absl::StrCat(root_, "/cs", i);
}

absl::Status TestCluster::StartMeta() {
  std::vector<std::string> argv = {
      BinaryPath("medfs-meta"),
      absl::StrCat("--listen=", meta_address_),
      absl::StrCat("--db=", root_, "/meta"),
      absl::StrCat("--default_replication=", options_.replication),
      absl::StrCat("--max_chunk_bytes=", options_.max_chunk_bytes),
      absl::StrCat("--dead_server_seconds=", options_.dead_server_seconds)};
  for (const std::string& flag : options_.meta_flags) argv.push_back(flag);
  ASSIGN_OR_RETURN(meta_, ChildProcess::Start(argv, root_ + "/logs/meta.log"));
  return absl::OkStatus();
}

absl::Status TestCluster::StartChunkserver(int i) {
  const std::string dir = chunkserver_dir(i);
  fs::create_directories(dir);
  std::vector<std::string> argv = {
      BinaryPath("medfs-chunkserver"),
      absl::StrCat("--meta=", meta_address_),
      absl::StrCat("--data_dirs=", dir),
      absl::StrCat("--fabric_provider=", options_.fabric_provider),
      "--listen_host=127.0.0.1",
      // Port 0: the provider binds a free port and the chunkserver registers
      // the address it got, so parallel tests never race for a port.
      "--listen_port=0",
      absl::StrCat("--failure_domain=fd", i),
      absl::StrCat("--max_chunk_bytes=", options_.max_chunk_bytes)};
  for (const std::string& flag : options_.chunkserver_flags) argv.push_back(flag);
  ASSIGN_OR_RETURN(chunkservers_[i],
                   ChildProcess::Start(argv, absl::StrCat(root_, "/logs/cs", i, ".log")));
  return absl::OkStatus();
}

absl::Status TestCluster::KillChunkserver(int i, int signal) {
  chunkservers_[i]->Kill(signal);
  return absl::OkStatus();
}

absl::Status TestCluster::RestartChunkserver(int i) {
  if (chunkservers_[i]->running()) chunkservers_[i]->Kill(SIGKILL);
  return StartChunkserver(i);
}

absl::Status TestCluster::KillMeta(int signal) {
  meta_->Kill(signal);
  return absl::OkStatus();
}

absl::Status TestCluster::RestartMeta() {
  if (meta_->running()) meta_->Kill(SIGKILL);
  RETURN_IF_ERROR(StartMeta());
  return WaitForMeta(absl::Seconds(30));
}

absl::StatusOr<v1::ClusterStatusReply> TestCluster::Status() {
  auto channel = grpc::CreateChannel(meta_address_, grpc::InsecureChannelCredentials());
  auto stub = v1::MetaService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  v1::Empty request;
  v1::ClusterStatusReply reply;
  grpc::Status status = stub->ClusterStatus(&context, request, &reply);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat("cluster status from ", meta_address_, ": ",
                                     status.error_message()));
  }
  return reply;
}

absl::Status TestCluster::WaitForMeta(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status last;
  while (absl::Now() < deadline) {
    if (!meta_->running()) {
      return absl::InternalError(absl::StrCat("medfs-meta exited during start:\n",
                                              meta_->LogTail()));
    }
    auto status = Status();
    if (status.ok()) return absl::OkStatus();
    last = status.status();
    absl::SleepFor(absl::Milliseconds(50));  // polling readiness, not a wait
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "meta did not answer within ", absl::FormatDuration(timeout), ": ",
      last.message(), "\n", meta_->LogTail()));
}

absl::Status TestCluster::WaitForServersUp(int count, absl::Duration timeout,
                                           bool up) {
  const absl::Time deadline = absl::Now() + timeout;
  int seen = -1;
  while (absl::Now() < deadline) {
    auto status = Status();
    if (status.ok()) {
      seen = 0;
      for (const auto& server : status->servers()) {
        if (server.state() == v1::SERVER_STATE_UP) ++seen;
      }
      if (up ? seen >= count : seen <= count) return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(100));  // polling cluster state
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "waiting for ", up ? "at least " : "at most ", count,
      " chunkservers up: ", seen, " up after ", absl::FormatDuration(timeout)));
}

}  // namespace medfs::testing
