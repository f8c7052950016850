// A ChunkFileSystem for tests: forwards to the real file system and
// injects faults on request (an errno for writes or syncs of matching
// paths, a fixed free-space figure) and counts the files open through it.
//
// Thread safety: thread safe.
#pragma once

#include <atomic>
#include <string>

#include "absl/synchronization/mutex.h"
#include "chunkserver/file_system.h"

namespace medfs::chunkserver::testing {

class FaultFileSystem : public ChunkFileSystem {
 public:
  explicit FaultFileSystem(ChunkFileSystem* base = PosixFileSystem())
      : base_(base) {}

  // Writes to paths containing `path_part` fail with `error` (0: stop).
  void FailWrites(const std::string& path_part, int error);
  // fdatasync of paths containing `path_part` fails with `error` (0: stop).
  void FailSyncs(const std::string& path_part, int error);
  // Space() reports `free_bytes` free for paths containing `path_part`.
  void SetFreeBytes(const std::string& path_part, uint64_t free_bytes);
  // While blocked, writes wait (counted as blocked writers) until unblocked.
  void BlockWrites(bool block);
  // Waits until `n` writers are blocked.
  void AwaitBlockedWriters(int n);
  // Files currently open through this file system.
  int open_files() const { return open_files_.load(); }
  // Most files that were open at once.
  int peak_open_files() const { return peak_open_files_.load(); }

  absl::StatusOr<std::unique_ptr<ChunkFile>> OpenForRead(
      const std::string& path) override;
  absl::StatusOr<std::unique_ptr<ChunkFile>> Create(
      const std::string& path) override;
  absl::StatusOr<std::unique_ptr<ChunkFile>> CreateDirect(
      const std::string& path) override;
  absl::Status Rename(const std::string& from, const std::string& to) override {
    return base_->Rename(from, to);
  }
  absl::Status Remove(const std::string& path) override {
    return base_->Remove(path);
  }
  absl::Status CreateDir(const std::string& path) override {
    return base_->CreateDir(path);
  }
  absl::Status SyncDir(const std::string& path) override {
    return base_->SyncDir(path);
  }
  absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& path) override {
    return base_->ListDir(path);
  }
  absl::StatusOr<DiskSpace> Space(const std::string& path) override;

  // Used by the file wrapper.
  absl::Status WriteFault(const std::string& path);
  absl::Status SyncFault(const std::string& path);
  void FileClosed() { --open_files_; }

 private:
  std::unique_ptr<ChunkFile> Wrap(std::unique_ptr<ChunkFile> file);

  ChunkFileSystem* const base_;
  std::atomic<int> open_files_{0};
  std::atomic<int> peak_open_files_{0};
  absl::Mutex mu_;
  std::string write_part_ ABSL_GUARDED_BY(mu_);
  int write_error_ ABSL_GUARDED_BY(mu_) = 0;
  std::string sync_part_ ABSL_GUARDED_BY(mu_);
  int sync_error_ ABSL_GUARDED_BY(mu_) = 0;
  std::string space_part_ ABSL_GUARDED_BY(mu_);
  uint64_t space_free_ ABSL_GUARDED_BY(mu_) = 0;
  bool space_set_ ABSL_GUARDED_BY(mu_) = false;
  bool block_writes_ ABSL_GUARDED_BY(mu_) = false;
  int blocked_writers_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace medfs::chunkserver::testing
