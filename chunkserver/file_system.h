// The seam between the chunk store and the operating system: every disk
// call the chunkserver makes goes through a ChunkFileSystem, so tests can
// run against a wrapper that injects faults (ENOSPC, EIO) or counts open
// files, without a real full or failing disk.
//
// Errors are absl::Status built with ErrnoToStatus ("what: strerror"), so
// ENOSPC/EDQUOT arrive as kResourceExhausted and EIO as kDataLoss; the
// message names the path.
//
// Thread safety: a ChunkFileSystem may be used from any thread. A
// ChunkFile may be used from several threads for positional reads; writes
// to one file come from one thread at a time (the chunk store guarantees it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "chunkserver/mapping_arena.h"

namespace medfs::chunkserver {

// Writes to a file opened with CreateDirect() that bypasses the page cache
// must have their offset, length and buffer address aligned to this.
inline constexpr size_t kDirectIoAlignment = 4096;

// `n` rounded up to a multiple of kDirectIoAlignment.
inline constexpr size_t RoundUpToDirectIo(size_t n) {
  return (n + kDirectIoAlignment - 1) / kDirectIoAlignment * kDirectIoAlignment;
}

// An open file.
class ChunkFile {
 public:
  virtual ~ChunkFile() = default;  // closes the file
  // Reads exactly `length` bytes at `offset`. A short read (end of file) is
  // kDataLoss "<path>: short read".
  virtual absl::Status ReadAt(uint64_t offset, void* data, size_t length) = 0;
  // Reads at least `length` bytes at `offset` around the page cache
  // (O_DIRECT): the cache is neither used nor filled. REQUIRES: offset and
  // data aligned to kDirectIoAlignment, and `capacity` (bytes writable at
  // `data`) at least `length` rounded up to it: the read may fill that much.
  // false (not an error) when the file cannot be read that way (a file
  // system without direct I/O, or this default): read it with ReadAt.
  // A short read (end of file before `length`) is kDataLoss.
  virtual absl::StatusOr<bool> ReadAroundCacheAt(uint64_t offset, void* data,
                                                 size_t length, size_t capacity) {
    return false;
  }
  // Writes exactly `length` bytes at `offset`. REQUIRES: on a direct()
  // file, offset, length and data aligned to kDirectIoAlignment.
  virtual absl::Status WriteAt(uint64_t offset, const void* data,
                               size_t length) = 0;
  // Sets the file's size to `size` bytes (ftruncate).
  virtual absl::Status Truncate(uint64_t size) = 0;
  // True when writes bypass the page cache (O_DIRECT): they reach the
  // device before WriteAt returns; Sync() still makes them durable.
  virtual bool direct() const { return false; }
  // Starts writing back the bytes [offset, offset+length) already written,
  // without waiting for them to reach the disk (sync_file_range WRITE), so
  // that a later Sync() has little left to do. Durability still needs
  // Sync(). The default does nothing (file systems without the call).
  virtual absl::Status StartWriteback(uint64_t offset, size_t length) {
    return absl::OkStatus();
  }
  // fdatasync: the data written so far is durable.
  virtual absl::Status Sync() = 0;
  // Current size in bytes.
  virtual absl::StatusOr<uint64_t> Size() = 0;
  // Maps the file's first `length` bytes read-only into a free slot of
  // `arena` (MappingArena::Map). The default cannot (kUnimplemented): the
  // store then reads with ReadAt, as for a file system of a test that
  // injects faults into ReadAt.
  virtual absl::StatusOr<std::unique_ptr<MappedFile>> MapInto(
      MappingArena& arena, size_t length) {
    return absl::UnimplementedError(path() + ": cannot be mapped");
  }
  virtual const std::string& path() const = 0;
};

struct DiskSpace {
  uint64_t capacity_bytes = 0;
  uint64_t free_bytes = 0;  // available to this (unprivileged) process
  uint64_t fs_id = 0;       // same value: same file system (statvfs f_fsid)
};

class ChunkFileSystem {
 public:
  virtual ~ChunkFileSystem() = default;

  // Opens an existing file read-only. kNotFound when absent.
  virtual absl::StatusOr<std::unique_ptr<ChunkFile>> OpenForRead(
      const std::string& path) = 0;
  // Creates a new file for reading and writing; kAlreadyExists if present.
  virtual absl::StatusOr<std::unique_ptr<ChunkFile>> Create(
      const std::string& path) = 0;
  // Like Create(), but the file's writes bypass the page cache (O_DIRECT)
  // where the file system allows it; the file's direct() says whether they
  // do. The default creates an ordinary file.
  virtual absl::StatusOr<std::unique_ptr<ChunkFile>> CreateDirect(
      const std::string& path) {
    return Create(path);
  }
  // Atomically renames `from` to `to`, replacing `to`.
  virtual absl::Status Rename(const std::string& from,
                              const std::string& to) = 0;
  // Removes a file; kNotFound when absent.
  virtual absl::Status Remove(const std::string& path) = 0;
  // Creates a directory; OK when it exists already.
  virtual absl::Status CreateDir(const std::string& path) = 0;
  // fsyncs a directory, making renames and creations in it durable.
  virtual absl::Status SyncDir(const std::string& path) = 0;
  // Names of the entries of a directory (no "." or ".."). kNotFound when
  // the directory is absent.
  virtual absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& path) = 0;
  // statvfs of the file system holding `path`.
  virtual absl::StatusOr<DiskSpace> Space(const std::string& path) = 0;
};

// The real file system (POSIX calls). Process-wide, never destroyed.
ChunkFileSystem* PosixFileSystem();

}  // namespace medfs::chunkserver
