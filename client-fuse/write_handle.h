// The state of one file opened for writing through the mount, with
// close-to-open, whole-file semantics: nothing is visible to other readers
// until Commit() replaces the file's content in one atomic step.
//
// Content model: the file is `base` (the committed content at open, read
// lazily from its extents; empty after O_TRUNC or for a new file) overlaid
// with the byte ranges written since, clipped or extended to size().
//   - Fast path (cp, rsync, writers of new files): writes that arrive in
//     order from offset 0 of an empty file stream straight into a
//     client::FileWriter; memory stays bounded by the client's buffers.
//   - Any other write (another offset, a rewrite, an append to an existing
//     file) goes to a local temporary file (unlinked, in `temp_dir`), with
//     the written ranges remembered; a stream in progress is first
//     finished and becomes the base. Memory stays bounded; the old content
//     is only read at commit, for the ranges not written.
//   - Commit() streams the resulting content into new chunks (or takes the
//     streamed chunks as they are) and calls Client::CommitFile.
//
// Thread safety: thread safe (one mutex; the kernel may send requests of
// one handle from several threads).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/client.h"

namespace medfs::fuse {

struct WriteHandleOptions {
  // Folder for the temporary file of non-sequential writes.
  std::string temp_dir = "/var/tmp";
  // Bytes moved per step when the content is rebuilt at commit. 4 MiB.
  size_t copy_bytes = 4ull << 20;
};

class WriteHandle {
 public:
  // `base` is the committed inode with extents (content kept unless
  // `truncate`); `truncate` (O_TRUNC) starts empty and marks the handle
  // dirty so that closing commits an empty file.
  WriteHandle(client::Client* client, v1::Inode base, bool truncate,
              WriteHandleOptions options);
  ~WriteHandle();
  WriteHandle(const WriteHandle&) = delete;
  WriteHandle& operator=(const WriteHandle&) = delete;

  // Writes `data` at `offset` (offset beyond size(): the gap reads as
  // zeros). Errors are sticky: kUnavailable/kResourceExhausted from the
  // cluster, kInternal from the temporary file.
  absl::Status Write(uint64_t offset, std::span<const std::byte> data);
  // Reads what the file holds for this handle now (written bytes included).
  absl::StatusOr<size_t> Read(uint64_t offset, std::span<std::byte> dst);
  // Sets the size: cuts or extends with zeros.
  absl::Status Truncate(uint64_t size);
  // Times to set after the next commit (utimens while open, as cp -p does).
  void SetTimesAfterCommit(std::optional<int64_t> atime_ns,
                           std::optional<int64_t> mtime_ns);

  // Makes the content visible atomically. Returns the committed inode, or
  // nullopt when there was nothing to commit. Errors: those of the client
  // (kNotFound when the file was removed meanwhile); the handle stays
  // dirty and a later Commit retries.
  absl::StatusOr<std::optional<v1::Inode>> Commit();

  uint64_t inode_id() const { return inode_id_; }
  uint64_t size() const;
  bool dirty() const;

 private:
  absl::Status FreezeStream() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status EnsureTempFile() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddRange(uint64_t start, uint64_t end) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CutRanges(uint64_t size) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fills dst with the content at [offset, offset + dst.size()).
  absl::Status Fill(uint64_t offset, std::span<std::byte> dst)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<client::FileContent> BuildContent()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  client::Client* const client_;
  const uint64_t inode_id_;
  const WriteHandleOptions options_;

  mutable absl::Mutex mu_;
  v1::Inode base_ ABSL_GUARDED_BY(mu_);          // with extents
  uint64_t base_size_ ABSL_GUARDED_BY(mu_) = 0;  // bytes of base still used
  // Set while base_ is exactly a finished stream (commit it as it is).
  std::optional<client::FileContent> frozen_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<client::FileWriter> stream_ ABSL_GUARDED_BY(mu_);
  int temp_fd_ ABSL_GUARDED_BY(mu_) = -1;
  // Written ranges held in the temp file: start -> end, disjoint, merged.
  std::map<uint64_t, uint64_t> ranges_ ABSL_GUARDED_BY(mu_);
  uint64_t size_ ABSL_GUARDED_BY(mu_) = 0;
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status sticky_error_ ABSL_GUARDED_BY(mu_);
  std::optional<int64_t> pending_atime_ns_ ABSL_GUARDED_BY(mu_);
  std::optional<int64_t> pending_mtime_ns_ ABSL_GUARDED_BY(mu_);
};

}  // namespace medfs::fuse
