// medfs-mount: mounts a medfs cluster as a local folder.
//
//   medfs-mount --meta HOST:PORT [--foreground] [--allow_other] [--read_only] MOUNT_POINT
//
// Unmount with `fusermount3 -u MOUNT_POINT` or `umount MOUNT_POINT`.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "client-fuse/file_system.h"
#include "client-fuse/fuse_mount.h"
#include "client/client.h"
#include "common/logging.h"
#include "common/status.h"

ABSL_FLAG(std::string, meta, "", "medfs-meta address, HOST:PORT (required)");
ABSL_FLAG(bool, foreground, false, "stay in the foreground (default: daemon)");
ABSL_FLAG(std::string, log_file, "", "daemon mode: append logs here (default: none)");
ABSL_FLAG(bool, allow_other, false, "let other users in (modes still enforced)");
ABSL_FLAG(bool, read_only, false,
          "read-only dataset mount: long entry/attribute timeouts, page cache kept");
ABSL_FLAG(bool, debug_fuse, false, "print every FUSE request (libfuse debug)");
ABSL_FLAG(double, entry_timeout_s, -1, "name cache seconds (default 1, read-only 3600)");
ABSL_FLAG(double, attr_timeout_s, -1, "attribute cache seconds (default 1, read-only 3600)");
ABSL_FLAG(double, negative_timeout_s, -1, "'no such name' cache seconds (default 1, read-only 3600)");
ABSL_FLAG(uint64_t, read_cache_mb, 256, "read cache (readahead blocks) bound, MiB");
ABSL_FLAG(uint64_t, readahead_mb, 32, "bytes loaded ahead of a sequential reader, MiB");
ABSL_FLAG(uint64_t, read_block_kb, 4096, "readahead unit, KiB");
ABSL_FLAG(uint64_t, loader_threads, 8, "threads loading readahead blocks");
ABSL_FLAG(uint64_t, scan_prefetch_files, 8,
          "small files loaded ahead of a reader going through a folder in name order "
          "(0: off)");
ABSL_FLAG(uint64_t, client_io_buffers, 32, "client I/O buffers of 4 MiB (write/read staging)");
ABSL_FLAG(uint64_t, attribute_cache_entries, 65536, "client attribute cache entries");
ABSL_FLAG(double, meta_retry_s, 30, "seconds a metadata call is retried while meta is down");
ABSL_FLAG(double, chunk_timeout_s, 5, "seconds before a chunk request fails over");
ABSL_FLAG(std::string, temp_dir, "/var/tmp", "folder for spilled random writes");
ABSL_FLAG(std::string, fabric_provider, "tcp;ofi_rxm", "libfabric provider");
ABSL_FLAG(std::string, fabric_node, "127.0.0.1", "local address of the fabric endpoint");
ABSL_FLAG(uint64_t, kernel_readahead_kb, 8192, "kernel readahead of the mount, KiB (0: leave)");
ABSL_FLAG(uint64_t, max_threads, 32, "FUSE worker threads at most");
ABSL_FLAG(uint32_t, replication, 0, "replication of new files (0: cluster default)");

namespace medfs::fuse {
namespace {

double TimeoutFlag(double value, bool read_only) {
  if (value >= 0) return value;
  return read_only ? 3600.0 : 1.0;
}

client::ClientOptions ClientOptionsFromFlags() {
  client::ClientOptions options;
  options.meta_address = absl::GetFlag(FLAGS_meta);
  options.fabric_provider = absl::GetFlag(FLAGS_fabric_provider);
  options.fabric_node = absl::GetFlag(FLAGS_fabric_node);
  options.meta_retry_budget = absl::Seconds(absl::GetFlag(FLAGS_meta_retry_s));
  options.chunk_call_timeout = absl::Seconds(absl::GetFlag(FLAGS_chunk_timeout_s));
  options.attribute_cache_entries = absl::GetFlag(FLAGS_attribute_cache_entries);
  options.attribute_cache_ttl =
      absl::Seconds(TimeoutFlag(absl::GetFlag(FLAGS_attr_timeout_s), absl::GetFlag(FLAGS_read_only)));
  options.io_buffer_count = absl::GetFlag(FLAGS_client_io_buffers);
  options.replication = absl::GetFlag(FLAGS_replication);
  // What the mount reads lands in this node's page cache (keep_cache):
  // chunkservers need not cache a second copy.
  options.reads_cached_by_caller = true;
  return options;
}

FileSystemOptions FileSystemOptionsFromFlags() {
  const bool read_only = absl::GetFlag(FLAGS_read_only);
  FileSystemOptions options;
  options.read_only = read_only;
  options.entry_timeout_s = TimeoutFlag(absl::GetFlag(FLAGS_entry_timeout_s), read_only);
  options.attr_timeout_s = TimeoutFlag(absl::GetFlag(FLAGS_attr_timeout_s), read_only);
  options.negative_timeout_s = TimeoutFlag(absl::GetFlag(FLAGS_negative_timeout_s), read_only);
  options.read_block_bytes = absl::GetFlag(FLAGS_read_block_kb) << 10;
  options.read_cache_bytes = absl::GetFlag(FLAGS_read_cache_mb) << 20;
  options.readahead.readahead_bytes = absl::GetFlag(FLAGS_readahead_mb) << 20;
  options.loader_threads = absl::GetFlag(FLAGS_loader_threads);
  options.scan_prefetch.files_ahead = absl::GetFlag(FLAGS_scan_prefetch_files);
  options.scan_prefetch.entry_fresh_for =
      absl::Seconds(std::min(options.entry_timeout_s, options.attr_timeout_s));
  options.write.temp_dir = absl::GetFlag(FLAGS_temp_dir);
  return options;
}

// Daemon mode, before any thread exists: the parent waits until the child
// reports the mount (exit 0) or its failure (exit 1, the child printed why).
absl::StatusOr<int> Daemonize() {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return ErrnoToStatus(errno, "daemonize: pipe");
  const pid_t pid = ::fork();
  if (pid < 0) return ErrnoToStatus(errno, "daemonize: fork");
  if (pid > 0) {
    ::close(pipe_fds[1]);
    char mounted = 0;
    const bool ok = ::read(pipe_fds[0], &mounted, 1) == 1 && mounted == 1;
    ::_exit(ok ? 0 : 1);
  }
  ::close(pipe_fds[0]);
  ::setsid();
  return pipe_fds[1];
}

// Tells the waiting parent the mount is up, then detaches from the terminal.
void FinishDaemonize(int notify_fd, const std::string& log_file) {
  const int null_fd = ::open("/dev/null", O_RDWR);
  const int log_fd = log_file.empty()
                         ? null_fd
                         : ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  ::dup2(null_fd, 0);
  ::dup2(null_fd, 1);
  ::dup2(log_fd >= 0 ? log_fd : null_fd, 2);
  const char mounted = 1;
  (void)!::write(notify_fd, &mounted, 1);
  ::close(notify_fd);
  if (::chdir("/") != 0) MEDFS_LOG(WARNING) << "chdir /: " << std::strerror(errno);
}

int Run(const std::string& mount_point) {
  const bool foreground = absl::GetFlag(FLAGS_foreground);
  absl::Status usable = CheckMountPoint(mount_point);
  if (!usable.ok()) {
    MEDFS_LOG(ERROR) << usable;
    return 1;
  }
  int notify_fd = -1;
  if (!foreground) {
    absl::StatusOr<int> fd = Daemonize();
    if (!fd.ok()) {
      MEDFS_LOG(ERROR) << fd.status();
      return 1;
    }
    notify_fd = *fd;
  }
  const client::ClientOptions client_options = ClientOptionsFromFlags();
  MEDFS_LOG(INFO) << "connecting to medfs-meta at " << client_options.meta_address;
  absl::StatusOr<std::unique_ptr<client::Client>> client =
      client::Client::Connect(client_options);
  if (!client.ok()) {
    MEDFS_LOG(ERROR) << "connect to medfs-meta at " << client_options.meta_address << ": "
                     << client.status();
    return 1;
  }
  const FileSystemOptions fs_options = FileSystemOptionsFromFlags();
  auto fs = std::make_unique<FileSystem>(client->get(), fs_options);
  MountConfig config;
  config.mount_point = mount_point;
  config.allow_other = absl::GetFlag(FLAGS_allow_other);
  config.read_only = fs_options.read_only;
  config.debug = absl::GetFlag(FLAGS_debug_fuse);
  config.max_threads = absl::GetFlag(FLAGS_max_threads);
  config.kernel_readahead_kb = absl::GetFlag(FLAGS_kernel_readahead_kb);
  config.fs_name = absl::StrCat("medfs:", client_options.meta_address);
  absl::StatusOr<std::unique_ptr<FuseMount>> mount = FuseMount::Mount(fs.get(), config);
  if (!mount.ok()) {
    MEDFS_LOG(ERROR) << mount.status();
    return 1;
  }
  absl::StatusOr<v1::ClusterStatusReply> cluster = (*client)->ClusterStatus();
  MEDFS_LOG(INFO) << "medfs mounted at " << mount_point << " (meta "
                  << client_options.meta_address << ", "
                  << (cluster.ok() ? absl::StrCat(cluster->servers_size(), " chunkservers")
                                   : std::string("chunkservers unknown"))
                  << ", fabric " << client_options.fabric_provider
                  << (fs_options.read_only ? ", read-only" : "") << "; memory bound: read cache "
                  << (fs_options.read_cache_bytes >> 20) << " MiB + client I/O buffers "
                  << client_options.io_buffer_count * 4 << " MiB)";
  if (!foreground) FinishDaemonize(notify_fd, absl::GetFlag(FLAGS_log_file));
  absl::Status handled = (*mount)->HandleSignals();
  if (!handled.ok()) MEDFS_LOG(WARNING) << handled;
  absl::Status served = (*mount)->Loop();
  // Unwind in reverse: unmount, commit what writers still hold, disconnect.
  mount->reset();
  fs.reset();
  MEDFS_LOG(INFO) << "medfs unmounted from " << mount_point;
  if (!served.ok()) {
    MEDFS_LOG(ERROR) << served;
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace medfs::fuse

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "medfs-mount --meta HOST:PORT [flags] MOUNT_POINT: mount a medfs cluster");
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() != 2) {
    std::fprintf(stderr, "usage: medfs-mount --meta HOST:PORT [flags] MOUNT_POINT\n");
    return 2;
  }
  if (absl::GetFlag(FLAGS_meta).empty()) {
    std::fprintf(stderr, "medfs-mount: --meta HOST:PORT is required\n");
    return 2;
  }
  char resolved[PATH_MAX];
  std::string mount_point = positional[1];
  if (::realpath(positional[1], resolved) != nullptr) mount_point = resolved;
  return medfs::fuse::Run(mount_point);
}
