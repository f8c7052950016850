// Moving one file's bytes between the local file system and medfs, with
// progress lines on stderr for big files.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cli/cli.h"

namespace medfs::cli {

// Files at least this big get progress lines (bytes).
inline constexpr uint64_t kProgressBytes = 64ull << 20;

// Uploads local file `local` as `name` in folder `parent` (shown as
// `remote`), replacing an existing file atomically.
absl::Status PutFile(CommandContext& c, const std::string& local,
                     uint64_t parent, const std::string& name,
                     const std::string& remote);

// Reads medfs files through one registered buffer (RMA lands straight in
// it), reused for every file.
class Downloader {
 public:
  static absl::StatusOr<std::unique_ptr<Downloader>> Create(CommandContext& c);
  ~Downloader();
  // Writes file `inode` (shown as `remote`) to `local` via a temporary
  // file renamed into place.
  absl::Status ToFile(uint64_t inode, const std::string& remote,
                      const std::string& local);
  // Writes file `inode` to `fd`.
  absl::Status ToFd(uint64_t inode, const std::string& remote, int fd);

 private:
  explicit Downloader(CommandContext& c) : c_(c) {}
  CommandContext& c_;
  std::byte* buffer_ = nullptr;
  size_t buffer_bytes_ = 0;
};

}  // namespace medfs::cli
