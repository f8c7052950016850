#include "client-fuse/fuse_mount.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "common/status.h"

namespace medfs::fuse {

absl::Status CheckMountPoint(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(
          absl::StrCat("mount point ", path, " does not exist: create an empty folder first"));
    }
    return ErrnoToStatus(errno, absl::StrCat("mount point ", path));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("mount point ", path, " is not a directory"));
  }
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return ErrnoToStatus(errno, absl::StrCat("mount point ", path));
  std::string first;
  while (dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") {
      first = name;
      break;
    }
  }
  ::closedir(dir);
  if (!first.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "mount point ", path, " is not empty (it holds '", first,
        "' among others): mount medfs on an empty folder"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<FuseMount>> FuseMount::Mount(FileSystem* fs,
                                                            const MountConfig& config) {
  RETURN_IF_ERROR(CheckMountPoint(config.mount_point));
  auto mount = std::unique_ptr<FuseMount>(new FuseMount());
  mount->config_ = config;
  mount->state_.fs = fs;
  mount->state_.read_only = config.read_only;

  std::string options = absl::StrCat("fsname=", config.fs_name,
                                     ",subtype=medfs,default_permissions,max_read=1048576");
  if (config.allow_other) absl::StrAppend(&options, ",allow_other");
  if (config.read_only) absl::StrAppend(&options, ",ro");
  std::vector<std::string> argv = {"medfs-mount", "-o", options};
  if (config.debug) argv.push_back("-d");
  std::vector<char*> raw;
  for (std::string& arg : argv) raw.push_back(arg.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(raw.size()), raw.data());
  mount->session_ = fuse_session_new(&args, &Operations(), sizeof(fuse_lowlevel_ops),
                                     &mount->state_);
  fuse_opt_free_args(&args);
  if (mount->session_ == nullptr) {
    return absl::InternalError(absl::StrCat("create the FUSE session with options ",
                                            options, ": rejected by libfuse"));
  }
  if (fuse_session_mount(mount->session_, config.mount_point.c_str()) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "mount FUSE at ", config.mount_point,
        ": failed (is /dev/fuse there, and are we root or is fusermount3 setuid?)"));
  }
  mount->mounted_ = true;
  mount->state_.session.store(mount->session_);
  if (config.kernel_readahead_kb != 0) mount->SetKernelReadahead(config.kernel_readahead_kb);
  return mount;
}

FuseMount::~FuseMount() {
  if (session_ == nullptr) return;
  if (signals_) fuse_remove_signal_handlers(session_);
  if (mounted_) fuse_session_unmount(session_);
  fuse_session_destroy(session_);
}

absl::Status FuseMount::HandleSignals() {
  if (fuse_set_signal_handlers(session_) != 0) {
    return absl::InternalError("install signal handlers for the FUSE session: failed");
  }
  signals_ = true;
  return absl::OkStatus();
}

absl::Status FuseMount::Loop() {
  fuse_loop_config* loop = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(loop, 1);
  fuse_loop_cfg_set_max_threads(loop, config_.max_threads);
  fuse_loop_cfg_set_idle_threads(loop, config_.max_idle_threads);
  const int rc = fuse_session_loop_mt(session_, loop);
  fuse_loop_cfg_destroy(loop);
  if (rc < 0) {
    return ErrnoToStatus(-rc, absl::StrCat("serve FUSE requests at ", config_.mount_point));
  }
  if (rc > 0) MEDFS_LOG(INFO) << "signal " << rc << " received: unmounting";
  return absl::OkStatus();
}

// The kernel reads ahead 128 KiB by default on a FUSE mount; sequential
// readers want far more. The knob is the mount's bdi in sysfs.
void FuseMount::SetKernelReadahead(unsigned kb) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mountinfo, line)) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    if (fields.size() < 5 || fields[4] != config_.mount_point) continue;
    const std::string path = absl::StrCat("/sys/class/bdi/", fields[2], "/read_ahead_kb");
    std::ofstream knob(path);
    knob << kb;
    knob.flush();
    if (!knob) {
      MEDFS_LOG(WARNING) << "set kernel readahead of " << config_.mount_point << " via "
                         << path << ": not writable; keeping the kernel default";
    }
    return;
  }
}

}  // namespace medfs::fuse
