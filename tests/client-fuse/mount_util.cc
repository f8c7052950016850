#include "tests/client-fuse/mount_util.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/status.h"

namespace medfs::fuse::testing {

bool IsMounted(const std::string& path) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mountinfo, line)) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    if (fields.size() > 4 && fields[4] == path) return true;
  }
  return false;
}

absl::Status WaitForMount(const std::string& path, medfs::testing::ChildProcess* process,
                          absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!IsMounted(path)) {
    if (process != nullptr && !process->running()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "medfs-mount exited before mounting ", path, "; log:\n", process->LogTail()));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("no mount at ", path, " after ",
                                                      absl::FormatDuration(timeout)));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::OkStatus();
}

namespace {
int RunCommand(const std::vector<std::string>& argv) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
}  // namespace

absl::Status Unmount(const std::string& path, bool lazy) {
  if (!IsMounted(path)) return absl::OkStatus();
  int rc = RunCommand({"fusermount3", lazy ? "-uz" : "-u", path});
  if (rc == 0) return absl::OkStatus();
  absl::Status first = absl::FailedPreconditionError(
      absl::StrCat("fusermount3 -u ", path, " exited with ", rc));
  if (!lazy) RunCommand({"fusermount3", "-uz", path});
  return first;
}

std::string MakeTempDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = absl::StrCat(tmp ? tmp : "/tmp", "/", prefix, "-XXXXXX");
  char* made = ::mkdtemp(pattern.data());
  if (made == nullptr) return std::string();
  ::chmod(made, 0755);  // other users (permission tests) must reach the mount
  return std::string(made);
}

absl::StatusOr<std::unique_ptr<MountProcess>> MountProcess::Start(
    const std::string& meta_address, const std::vector<std::string>& extra_flags) {
  auto mount = std::make_unique<MountProcess>();
  const std::string root = MakeTempDir("medfs-mount");
  if (root.empty()) return absl::InternalError("mkdtemp for the mount point failed");
  mount->path_ = root + "/mnt";
  std::filesystem::create_directory(mount->path_);
  mount->log_path_ = root + "/mount.log";
  std::vector<std::string> argv = {medfs::testing::TestCluster::BinaryPath("medfs-mount"),
                                   absl::StrCat("--meta=", meta_address), "--foreground",
                                   "--allow_other", "--temp_dir=" + root};
  for (const std::string& flag : extra_flags) argv.push_back(flag);
  argv.push_back(mount->path_);
  ASSIGN_OR_RETURN(mount->process_, medfs::testing::ChildProcess::Start(argv, mount->log_path_));
  RETURN_IF_ERROR(WaitForMount(mount->path_, mount->process_.get(), absl::Seconds(60)));
  return mount;
}

MountProcess::~MountProcess() {
  if (!path_.empty()) (void)Unmount(path_);
  process_.reset();  // SIGTERM, then SIGKILL after 10 s
  if (!path_.empty() && !IsMounted(path_)) {
    std::error_code ignored;
    std::filesystem::remove_all(std::filesystem::path(path_).parent_path(), ignored);
  }
}

}  // namespace medfs::fuse::testing
