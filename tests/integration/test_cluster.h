// A real medfs cluster for integration tests: medfs-meta and N
// medfs-chunkservers started as separate processes on loopback, each with
// its own folder under a fresh temporary directory, with the tcp;ofi_rxm
// provider. Tests kill (SIGKILL) and restart any of them.
//
// Binaries come from $MEDFS_BIN_DIR (set by CTest). Logs of each process
// are kept in <root>/logs/<name>.log and printed when startup fails.
//
// Thread safety: not thread safe; drive it from the test's main thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/proto/medfs.pb.h"

namespace medfs::testing {

// A child process with its output in a log file.
class ChildProcess {
 public:
  // Starts `argv` (argv[0] is the binary path) with stdout+stderr appended
  // to `log_path`.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(
      std::vector<std::string> argv, const std::string& log_path);
  // Sends SIGTERM, waits up to 10 s, then SIGKILLs.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  bool running();
  // Sends `signal` and reaps the process.
  void Kill(int signal);
  // Peak RSS (VmHWM) in bytes while running, 0 when unknown.
  uint64_t PeakResidentBytes() const;
  const std::string& log_path() const { return log_path_; }
  // Last `bytes` of the log, for failure messages.
  std::string LogTail(size_t bytes = 4000) const;

 private:
  ChildProcess(pid_t pid, std::string log_path)
      : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_;
  bool reaped_ = false;
  std::string log_path_;
};

struct TestClusterOptions {
  int chunkservers = 3;
  uint32_t replication = 2;
  uint64_t max_chunk_bytes = 64ull << 20;
  std::string fabric_provider = "tcp;ofi_rxm";
  // Seconds of silence before meta declares a chunkserver dead.
  int dead_server_seconds = 5;
  // Extra flags for every chunkserver / for meta.
  std::vector<std::string> chunkserver_flags;
  std::vector<std::string> meta_flags;
  // Where to create the cluster's folder; empty: $TMPDIR or /tmp.
  std::string parent_dir;
};

class TestCluster {
 public:
  // Starts meta and the chunkservers and waits (up to 60 s) until meta
  // reports every chunkserver UP.
  static absl::StatusOr<std::unique_ptr<TestCluster>> Start(
      const TestClusterOptions& options);
  ~TestCluster();  // stops everything and removes the folder

  const std::string& meta_address() const { return meta_address_; }
  const std::string& root() const { return root_; }
  // Data folder of chunkserver i.
  std::string chunkserver_dir(int i) const;
  ChildProcess* meta() { return meta_.get(); }
  ChildProcess* chunkserver(int i) { return chunkservers_[i].get(); }
  int chunkserver_count() const { return static_cast<int>(chunkservers_.size()); }

  absl::Status KillChunkserver(int i, int signal = 9);
  absl::Status RestartChunkserver(int i);
  absl::Status KillMeta(int signal = 9);
  absl::Status RestartMeta();

  // Polls ClusterStatus until `count` servers are UP (or, with up=false,
  // until at most `count` are UP), failing with kDeadlineExceeded.
  absl::Status WaitForServersUp(int count, absl::Duration timeout,
                                bool up = true);
  // Polls until meta answers a call.
  absl::Status WaitForMeta(absl::Duration timeout);
  absl::StatusOr<v1::ClusterStatusReply> Status();

  // Path of a binary in $MEDFS_BIN_DIR.
  static std::string BinaryPath(const std::string& name);
  // "<bin>/medfs --meta=<this meta>": the CLI's command line, to append
  // a command and its arguments to.
  std::string CliCommand() const;

 private:
  explicit TestCluster(TestClusterOptions options) : options_(std::move(options)) {}
  absl::Status StartMeta();
  absl::Status StartChunkserver(int i);

  TestClusterOptions options_;
  std::string root_;
  std::string meta_address_;
  std::unique_ptr<ChildProcess> meta_;
  std::vector<std::unique_ptr<ChildProcess>> chunkservers_;
};

// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
int PickFreePort();

}  // namespace medfs::testing
