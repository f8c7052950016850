// The medfs file system as the FUSE operations see it, apart from FUSE's
// reply plumbing (fuse_ops.cc): each method does the work and returns a
// Status or a value; the operation in fuse_ops.cc replies exactly once.
//
// Inode numbers are medfs inode ids (the root is 1 = FUSE_ROOT_ID). The
// file system keeps no per-inode state that needs lookup counting; its
// state is the open files and directories (one object per FUSE handle),
// the set of open writers per inode, and the content version last opened
// per inode (to decide whether the kernel may keep its page cache).
//
// Semantics (close-to-open, whole-file, as in AFS):
//  - open for reading captures the inode with its extents: the reader sees
//    the version it opened (ReadHandle);
//  - open for writing gets a WriteHandle; flush (close), fsync and release
//    commit the whole content atomically; readers see old or new, never a
//    mix. Write handles are direct I/O so that uncommitted bytes never sit
//    in the kernel's page cache where a reader of the old version could
//    see them;
//  - hard links are refused with EPERM: a medfs file is one versioned
//    object with one name (see README.md).
//
// Thread safety: thread safe. Lock order: mu_ before any handle's mutex.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client-fuse/block_pool.h"
#include "client-fuse/read_handle.h"
#include "client-fuse/scan_prefetch.h"
#include "client-fuse/thread_pool.h"
#include "client-fuse/write_handle.h"
#include "client/client.h"

namespace medfs::fuse {

// Seen-version entries kept before the map is cleared (bounds memory).
inline constexpr size_t kMaxSeenVersions = 1 << 20;
// Directory entries asked from meta per page.
inline constexpr uint32_t kDirPageEntries = 1024;

struct FileSystemOptions {
  // Seconds the kernel may trust a name lookup, attributes, a "no such
  // name" answer. Default 1 s each; --read_only mounts use an hour.
  double entry_timeout_s = 1.0;
  double attr_timeout_s = 1.0;
  double negative_timeout_s = 1.0;
  // Read-only dataset mount: keep the page cache across opens. Default off.
  bool read_only = false;
  // Read block (readahead unit and pooled buffer size). Default 4 MiB.
  size_t read_block_bytes = 4ull << 20;
  // All read blocks together (the read cache bound). Default 256 MiB.
  size_t read_cache_bytes = 256ull << 20;
  ReadaheadOptions readahead;
  // Threads loading readahead blocks. Default 8.
  size_t loader_threads = 8;
  // Loading the next files of a directory read in name order.
  ScanPrefetchOptions scan_prefetch;
  WriteHandleOptions write;
  // st_blksize reported to applications (their I/O size). Default 1 MiB.
  uint32_t io_block_bytes = 1u << 20;
  // Longest name accepted (ENAMETOOLONG past it). Default 255.
  size_t max_name_length = 255;
};

// Credentials of the calling process.
struct Caller {
  uint32_t uid = 0;
  uint32_t gid = 0;
};

// One open file (the FUSE file handle).
struct OpenFile {
  uint64_t inode = 0;
  bool append = false;
  std::unique_ptr<ReadHandle> reader;   // opened O_RDONLY
  uint64_t reader_version = 0;          // content version the reader opened
  std::unique_ptr<WriteHandle> writer;  // opened for writing
};

// One open directory: the listing, loaded page by page as it is read.
struct OpenDirectory {
  uint64_t inode = 0;
  uint64_t parent = 1;
  absl::Mutex mu;
  std::vector<v1::ReadDirEntry> entries ABSL_GUARDED_BY(mu);
  bool complete ABSL_GUARDED_BY(mu) = false;
};

struct OpenResult {
  OpenFile* file = nullptr;  // owned by the FileSystem until Release
  bool keep_cache = false;   // the kernel may keep cached pages
  bool direct_io = false;    // bypass the page cache (writers)
  // The content changed since the kernel last saw it: drop its attributes.
  bool invalidate_attributes = false;
};

class FileSystem {
 public:
  // REQUIRES: `client` outlives the file system.
  FileSystem(client::Client* client, FileSystemOptions options);
  ~FileSystem();  // commits what open writers still hold (best effort)
  FileSystem(const FileSystem&) = delete;
  FileSystem& operator=(const FileSystem&) = delete;

  const FileSystemOptions& options() const { return options_; }
  // Attributes of `inode` as struct stat.
  void FillStat(const v1::Inode& inode, struct stat* st) const;

  // ---- namespace. Errors: kNotFound, kAlreadyExists, kFailedPrecondition
  // ("not empty", "not a directory", "is a directory"), kInvalidArgument
  // ("name too long"), kUnavailable (meta unreachable past its retries).
  absl::StatusOr<v1::Inode> Lookup(uint64_t parent, const std::string& name);
  // `file` (may be null): attributes as that handle sees them.
  absl::StatusOr<v1::Inode> GetAttr(uint64_t inode, OpenFile* file);
  // `to_set`: FUSE_SET_ATTR_* bits of `attr` to apply.
  absl::StatusOr<v1::Inode> SetAttr(uint64_t inode, const struct stat& attr,
                                    int to_set, OpenFile* file);
  absl::StatusOr<std::string> ReadLink(uint64_t inode);
  absl::StatusOr<v1::Inode> MkDir(uint64_t parent, const std::string& name,
                                  uint32_t mode, Caller caller);
  absl::Status Unlink(uint64_t parent, const std::string& name);
  absl::Status RmDir(uint64_t parent, const std::string& name);
  absl::StatusOr<v1::Inode> Symlink(uint64_t parent, const std::string& name,
                                    const std::string& target, Caller caller);
  // `flags`: RENAME_NOREPLACE; RENAME_EXCHANGE is kInvalidArgument.
  absl::Status Rename(uint64_t parent, const std::string& name,
                      uint64_t new_parent, const std::string& new_name,
                      unsigned int flags);
  // Hard links: always kPermissionDenied "operation not permitted".
  absl::Status Link(uint64_t inode, uint64_t new_parent,
                    const std::string& new_name);
  // A regular file only (other types: "operation not permitted").
  absl::StatusOr<v1::Inode> MkNod(uint64_t parent, const std::string& name,
                                  mode_t mode, Caller caller);
  absl::StatusOr<v1::StatFsReply> StatFs();

  // ---- files. `flags` are open(2) flags.
  absl::StatusOr<OpenResult> Open(uint64_t inode, int flags);
  absl::StatusOr<std::pair<v1::Inode, OpenResult>> Create(
      uint64_t parent, const std::string& name, mode_t mode, int flags,
      Caller caller);
  absl::StatusOr<ReadResult> Read(OpenFile* file, uint64_t offset, size_t size);
  absl::Status Write(OpenFile* file, uint64_t offset,
                     std::span<const std::byte> data);
  // Commits a writer's content (flush on close, fsync). Returns true when
  // something was committed (the kernel's view should be invalidated).
  absl::StatusOr<bool> Flush(OpenFile* file);
  // Commits (if still dirty) and frees the handle; commit errors are logged.
  bool Release(OpenFile* file);

  // ---- directories
  absl::StatusOr<OpenDirectory*> OpenDir(uint64_t inode);
  // Entries from index `index` on (0 is the first real entry), loading
  // pages as needed; at most `max` entries. Empty: end of directory.
  absl::StatusOr<std::vector<v1::ReadDirEntry>> ReadDir(OpenDirectory* dir,
                                                        size_t index, size_t max,
                                                        bool with_attributes);
  void ReleaseDir(OpenDirectory* dir);

  // Open handles (for logs at unmount).
  size_t open_files() const;
  ScanPrefetchStats scan_prefetch_stats() const { return prefetcher_.stats(); }

 private:
  absl::Status CheckName(const std::string& name) const;
  absl::StatusOr<OpenResult> OpenForWrite(v1::Inode inode, int flags);
  std::vector<WriteHandle*> WritersOf(uint64_t inode) const;
  absl::StatusOr<bool> CommitWriter(WriteHandle* writer);

  // Constant after construction.
  client::Client* const client_;
  const FileSystemOptions options_;
  BlockPool pool_;
  ThreadPool loaders_;
  ScanPrefetcher prefetcher_;  // after loaders_: destroyed before them

  mutable absl::Mutex mu_;
  absl::flat_hash_map<OpenFile*, std::unique_ptr<OpenFile>> files_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<OpenDirectory*, std::unique_ptr<OpenDirectory>> dirs_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::vector<WriteHandle*>> writers_ ABSL_GUARDED_BY(mu_);
  // Content version last opened per inode (bounded: cleared when large).
  absl::flat_hash_map<uint64_t, uint64_t> seen_versions_ ABSL_GUARDED_BY(mu_);
  // Open read handles per inode and content version. While a reader of an
  // older version is open it may fill the inode's page cache with old bytes,
  // so readers of another version read around the page cache (direct_io).
  absl::flat_hash_map<uint64_t, absl::flat_hash_map<uint64_t, int>> open_readers_
      ABSL_GUARDED_BY(mu_);
  // Inodes seen in more than one version (bounded like seen_versions_):
  // their readers use direct_io.
  absl::flat_hash_set<uint64_t> rewritten_ ABSL_GUARDED_BY(mu_);
};

}  // namespace medfs::fuse
