// Test helpers for real mounts: waiting for a mount to appear in
// /proc/self/mountinfo, unmounting (lazily when a clean unmount fails, so
// nothing stays mounted), and medfs-mount as a child process.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/integration/test_cluster.h"

namespace medfs::fuse::testing {

// True when `path` is a mount point in /proc/self/mountinfo.
bool IsMounted(const std::string& path);
// Polls mountinfo until `path` is mounted; fails early when `process`
// (may be null) exits, with its log tail.
absl::Status WaitForMount(const std::string& path, medfs::testing::ChildProcess* process,
                          absl::Duration timeout);
// fusermount3 -u (and -uz when that fails, returning the first error).
absl::Status Unmount(const std::string& path, bool lazy = false);
// A fresh empty folder under $TMPDIR.
std::string MakeTempDir(const std::string& prefix);

// medfs-mount (from $MEDFS_BIN_DIR) running in the foreground as a child.
class MountProcess {
 public:
  static absl::StatusOr<std::unique_ptr<MountProcess>> Start(
      const std::string& meta_address, const std::vector<std::string>& extra_flags = {});
  ~MountProcess();  // unmounts (lazily if busy), stops the process, removes the folder
  const std::string& path() const { return path_; }
  medfs::testing::ChildProcess* process() { return process_.get(); }
  std::string LogTail() const { return process_->LogTail(); }

 private:
  std::string path_;
  std::string log_path_;
  std::unique_ptr<medfs::testing::ChildProcess> process_;
};

}  // namespace medfs::fuse::testing
