// Mounting a FileSystem with libfuse's low-level session: mount point
// checks, the session, the multi-threaded loop, unmounting. Used by
// medfs-mount's main and by tests that mount in-process.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client-fuse/file_system.h"
#include "client-fuse/fuse_ops.h"

struct fuse_session;

namespace medfs::fuse {

struct MountConfig {
  std::string mount_point;
  // Let other users than the mounting one in (POSIX modes still apply).
  bool allow_other = false;
  bool read_only = false;
  // libfuse's debug output of every request.
  bool debug = false;
  // FUSE worker threads: at most / kept idle. Defaults 32 / 8.
  unsigned max_threads = 32;
  unsigned max_idle_threads = 8;
  // Kernel readahead for the mount (bdi read_ahead_kb), KiB. 0: leave.
  unsigned kernel_readahead_kb = 8192;
  // Shown as the source in /proc/mounts.
  std::string fs_name = "medfs";
};

// An existing, empty directory; kFailedPrecondition or kNotFound with a
// message saying which and why otherwise.
absl::Status CheckMountPoint(const std::string& path);

class FuseMount {
 public:
  // Checks the mount point and mounts `fs` there (the loop is not running
  // yet: requests wait until Loop()).
  static absl::StatusOr<std::unique_ptr<FuseMount>> Mount(FileSystem* fs,
                                                          const MountConfig& config);
  // Unmounts if still mounted.
  ~FuseMount();
  FuseMount(const FuseMount&) = delete;
  FuseMount& operator=(const FuseMount&) = delete;

  // Installs SIGINT/SIGTERM/SIGHUP handlers that end Loop() (main only).
  absl::Status HandleSignals();
  // Serves requests on several threads until unmounted (fusermount3 -u,
  // umount) or a handled signal. Returns the error that ended it, if any.
  absl::Status Loop();
  fuse_session* session() const { return session_; }

 private:
  FuseMount() = default;
  void SetKernelReadahead(unsigned kb);

  MountConfig config_;
  MountState state_;
  fuse_session* session_ = nullptr;
  bool mounted_ = false;
  bool signals_ = false;
};

}  // namespace medfs::fuse
