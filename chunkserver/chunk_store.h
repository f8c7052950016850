// ChunkStore: the chunks of one chunkserver, kept as files on one or more
// local data folders (format: chunkserver/FORMAT.md).
//
// Layout of each data folder:
//   <dir>/tmp/<id hex>.part          chunks being written (removed at Open)
//   <dir>/chunks/<id%256 hex2>/<id hex>   sealed chunks (16 hex digits)
//
// Life of a chunk: Create() (the FIRST piece) makes tmp/<id>.part on the
// folder with most free space; Append() writes pieces in order, computing
// one CRC32C per 64 KiB block as the bytes arrive; Seal() writes the header,
// fdatasyncs, renames the file into chunks/ and fsyncs that folder, so a
// crash never leaves a file under chunks/ that is not complete. Part files
// are written with direct I/O where the file system allows it (see
// ChunkFileSystem::CreateDirect): Append() writes a piece whose address is
// 4096-aligned straight from the caller's buffer (pass pooled, page-aligned
// buffers for speed) and copies anything unaligned. Sealed
// chunks are immutable; Read() verifies every block it touches.
//
// Errors name the chunk and the folder:
//   kNotFound           "chunk <id>: not on this server"
//   kAlreadyExists      Create() of a chunk that exists or is being written
//   kFailedPrecondition Read() of an unsealed chunk; Append() of a sealed one;
//                       a piece out of order
//   kOutOfRange         a read past the sealed length
//   kInvalidArgument    a piece past max_chunk_bytes; misaligned offsets
//   kDataLoss           "chunk <id> block <n> on <dir>: checksum mismatch",
//                       or a corrupt header
//   kResourceExhausted  disk full (ENOSPC/EDQUOT) naming the folder; the
//                       partial chunk is removed, other chunks are untouched
// Any failed write or sync abandons the chunk being written (its part file
// is removed): the writer starts over with a new chunk.
//
// Thread safety: all methods are thread safe. Pieces of one chunk must come
// from one writer, in order (offset == bytes written so far).
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "chunkserver/chunk_format.h"
#include "chunkserver/file_system.h"
#include "chunkserver/mapping_arena.h"

namespace medfs::chunkserver {

struct ChunkStoreOptions {
  // Data folders (created if missing). At least one.
  std::vector<std::string> data_dirs;
  // Largest chunk accepted (bytes); at most kMaxChunkBytes (~127 MiB).
  uint64_t max_chunk_bytes = 64ull << 20;
  // Sealed chunks kept open (file descriptors, headers parsed) in an LRU.
  size_t max_open_chunks = 4096;
  // The OS seam; nullptr: PosixFileSystem(). Not owned.
  ChunkFileSystem* file_system = nullptr;
  // Where ReadMapped() maps sealed chunk files; nullptr: it never maps and
  // readers copy with Read(). Not owned; must outlive the store.
  MappingArena* mapping_arena = nullptr;
};

// Bytes of a sealed chunk read in place, through its file's mapping.
// Keeps the mapping (and so `data`) valid while held: hold it until the
// bytes are sent, then Release() it.
struct MappedRead {
  const char* data = nullptr;  // the requested bytes, inside the arena
  uint64_t length = 0;
  const MappedFile* mapping = nullptr;
  std::shared_ptr<const void> keep_alive;

  // Drops the read's pages from this process's page tables (the page cache
  // keeps them; MappedFile::DropPages) and lets the mapping go.
  void Release() {
    if (mapping != nullptr) mapping->DropPages(data - mapping->data(), length);
    mapping = nullptr;
    keep_alive.reset();
  }
};

// What the store knows about one chunk.
struct ChunkState {
  bool exists = false;
  bool sealed = false;
  uint64_t length = 0;   // bytes written so far; final length once sealed
  uint32_t crc32c = 0;   // CRC32C of all bytes so far / of the whole chunk
};

struct StoreUsage {
  // Sums over the data folders' file systems (statvfs), each counted once.
  uint64_t capacity_bytes = 0;
  uint64_t free_bytes = 0;
  uint64_t chunk_count = 0;     // sealed chunks
};

class ChunkStore {
 public:
  // Creates missing folders, removes leftover part files and scans every
  // folder's chunks/ to rebuild the index (chunks with a corrupt header are
  // logged and left out). kInvalidArgument for bad options; a folder that
  // cannot be created or listed fails with its path.
  static absl::StatusOr<std::unique_ptr<ChunkStore>> Open(
      const ChunkStoreOptions& options);
  ~ChunkStore();

  ChunkStore(const ChunkStore&) = delete;
  ChunkStore& operator=(const ChunkStore&) = delete;

  // Writes, fsyncs, reads back and removes a probe file in every folder.
  // kFailedPrecondition naming the folder that failed.
  absl::Status CheckHealth();

  // Starts chunk `id` on the folder with most free space.
  absl::Status Create(uint64_t id);
  // Appends `length` bytes at `offset` (== bytes written so far; a multiple
  // of the block size). Returns the chunk's state after the piece.
  absl::StatusOr<ChunkState> Append(uint64_t id, uint64_t offset,
                                    const char* data, size_t length);
  // Seals chunk `id` at `total_length` (== bytes written) and makes it
  // durable. Returns its final state (whole-chunk CRC32C).
  absl::StatusOr<ChunkState> Seal(uint64_t id, uint64_t total_length);
  // Abandons an unsealed chunk (removes its part file). kNotFound if there
  // is no such chunk being written.
  absl::Status Abort(uint64_t id);
  // Abandons every unsealed chunk that has seen no piece for `idle`.
  // Returns how many.
  int AbortIdleWrites(absl::Duration idle);

  // Bytes of buffer Read() needs for a range: the whole blocks covering it.
  static size_t CoveringBytes(uint64_t offset, uint64_t length);
  // How Read() treats the page cache.
  enum class Caching {
    // Read through it (it serves what it holds and keeps what is read).
    kUsePageCache,
    // For a reader that keeps the bytes in a cache of its own: when the
    // store can tell the covering blocks are not in the page cache (it has
    // a mapping arena), read them around it (O_DIRECT), neither filling it
    // with a second copy of what the reader caches nor spending the copy;
    // otherwise, or where the file system has no direct I/O, as
    // kUsePageCache.
    kBypassWhenNotCached,
  };
  // Reads [offset, offset+length) of sealed chunk `id`: reads the covering
  // blocks into `buffer` (at least CoveringBytes() bytes, aligned to
  // kDirectIoAlignment for kBypassWhenNotCached to read around the cache),
  // verifies each and returns where the requested bytes start inside
  // `buffer`. `read_around_cache` (optional) tells whether the blocks
  // were read around the page cache.
  absl::StatusOr<const char*> Read(uint64_t id, uint64_t offset,
                                   uint64_t length, char* buffer,
                                   size_t buffer_size,
                                   Caching caching = Caching::kUsePageCache,
                                   bool* read_around_cache = nullptr);
  // As Read(), but without a copy: when the store has a mapping arena and
  // every page of the covering blocks is in the page cache, verifies the
  // blocks where they lie, in the chunk file's mapping, and returns the
  // requested bytes there. nullopt (not an error) when it cannot: no arena
  // (then before any other check), no free slot, a file that cannot be
  // mapped, or pages not cached (read them with Read(), which also caches
  // them). Errors as Read().
  //
  // kOnlyIfMapped: also nullopt when the chunk's file is not open and mapped
  // already, so the call does no disk I/O and never blocks on more than a
  // brief lock, mincore and the checksums: safe on a fabric progress thread.
  enum class MapMode { kOpenAndMap, kOnlyIfMapped };
  absl::StatusOr<std::optional<MappedRead>> ReadMapped(
      uint64_t id, uint64_t offset, uint64_t length,
      MapMode mode = MapMode::kOpenAndMap);

  // Removes chunk `id`, sealed or being written. kNotFound when absent.
  absl::Status Delete(uint64_t id);
  // exists=false (not an error) when the chunk is not here.
  ChunkState Stat(uint64_t id);
  // Ids of all sealed chunks.
  std::vector<uint64_t> ListChunks();
  // Capacity and free space of the folders, sealed chunk count.
  absl::StatusOr<StoreUsage> Usage();
  // Sealed chunks stored.
  size_t chunk_count();
  // Sealed chunks whose files are currently open (the fd cache).
  size_t open_chunk_count();

  const std::vector<std::string>& data_dirs() const { return dirs_; }

 private:
  struct IndexEntry {
    int dir = 0;
    uint64_t length = 0;
    uint32_t crc32c = 0;
  };
  struct OpenChunk;
  struct PendingChunk;
  struct CacheEntry {
    std::shared_ptr<OpenChunk> chunk;
    std::list<uint64_t>::iterator lru;
  };

  ChunkStore(ChunkStoreOptions options, ChunkFileSystem* fs);
  absl::Status OpenDir(int dir);
  void ScanChunkFile(int dir, const std::string& path, absl::string_view name);
  std::string ChunkPath(int dir, uint64_t id) const;
  std::string PartPath(int dir, uint64_t id) const;
  absl::StatusOr<int> PickDir();
  absl::StatusOr<std::shared_ptr<OpenChunk>> GetOpenChunk(uint64_t id);
  // The chunk if its file is open now (and marks it recently used), else
  // nullptr. Never opens a file.
  std::shared_ptr<OpenChunk> FindOpenChunk(uint64_t id);
  absl::StatusOr<std::shared_ptr<OpenChunk>> OpenSealed(uint64_t id,
                                                        int dir);
  absl::StatusOr<std::shared_ptr<PendingChunk>> FindPending(uint64_t id);
  // Removes `pending` from pending_ and deletes its part file.
  // REQUIRES: pending->mu held.
  void DropPending(const std::shared_ptr<PendingChunk>& pending);
  absl::Status FailWrite(const std::shared_ptr<PendingChunk>& pending,
                         const absl::Status& status);
  absl::Status FinishSeal(PendingChunk& pending, const std::string& header);
  absl::Status VerifyBlocks(const OpenChunk& chunk, uint64_t first_block,
                            const char* data, uint64_t bytes);
  // The whole checksum blocks covering [offset, offset+length): the first
  // one's index, and the chunk's byte range [start, end) they span.
  struct BlockSpan {
    uint64_t first_block, start, end;
  };
  static BlockSpan CoveringBlocks(const OpenChunk& chunk, uint64_t offset,
                                  uint64_t length);
  // kOutOfRange unless [offset, offset+length) lies inside the chunk.
  static absl::Status CheckRange(const OpenChunk& chunk, uint64_t offset,
                                 uint64_t length);
  // The chunk file's mapping, made on first use; nullptr when it cannot be.
  const MappedFile* MappingOf(OpenChunk& chunk);

  // Constant after construction.
  const ChunkStoreOptions options_;
  ChunkFileSystem* const fs_;
  const std::vector<std::string> dirs_;

  // Lock order: PendingChunk::mu before mu_; never hold mu_ across disk I/O.
  absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, IndexEntry> index_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::shared_ptr<PendingChunk>> pending_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, CacheEntry> open_ ABSL_GUARDED_BY(mu_);
  std::list<uint64_t> lru_ ABSL_GUARDED_BY(mu_);  // most recent first
};

}  // namespace medfs::chunkserver
