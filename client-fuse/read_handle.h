// The state of one file opened for reading through the mount.
//
// A ReadHandle holds the inode *with its extents* as it was when the file
// was opened, so a reader sees exactly the version it opened (close-to-open)
// even while another writer commits a new one.
//
// Sequential readers are detected (a read that starts at or near where the
// previous ones ended); for them the handle keeps a window of whole blocks
// (BlockPool::block_bytes() each, aligned to multiples of it) and loads the
// next `readahead_bytes` ahead in parallel on a thread pool (a block the
// current read waits on and that is not loaded yet is read in the calling
// thread, so a small file costs no thread hand-off): blocks in
// different chunks are fetched from different chunkservers at once, and the
// client fails over to another replica if one dies mid-read. Other reads go
// straight to the client into a pooled buffer.
//
// Thread safety: thread safe (the kernel sends readahead requests of one
// file from several FUSE threads at once).
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client-fuse/block_pool.h"
#include "client-fuse/thread_pool.h"
#include "client/client.h"

namespace medfs::fuse {

struct ReadaheadOptions {
  // Bytes loaded ahead of a sequential reader. Default 32 MiB; 0: off.
  size_t readahead_bytes = 32ull << 20;
  // Blocks of the pool that readahead leaves free for synchronous reads.
  size_t reserve_blocks = 8;
};

// Bytes of one read, as slices of buffers kept alive by this object: reply
// with fuse_reply_iov(iov) and destroy it afterwards.
class ReadResult {
 public:
  std::vector<iovec> iov;
  size_t bytes = 0;
  // Keeps `buffer` alive as long as this result.
  void Hold(std::shared_ptr<const void> buffer) { holds_.push_back(std::move(buffer)); }

 private:
  friend class ReadHandle;
  std::vector<std::shared_ptr<const void>> holds_;
};

class ReadHandle {
 public:
  // REQUIRES: `inode` carries its extents; the pointers outlive the handle.
  ReadHandle(client::Client* client, BlockPool* pool, ThreadPool* loaders,
             v1::Inode inode, ReadaheadOptions options);
  // Waits for loads still in flight.
  ~ReadHandle();
  ReadHandle(const ReadHandle&) = delete;
  ReadHandle& operator=(const ReadHandle&) = delete;

  // Up to `size` bytes at `offset`; fewer only at the end of the file.
  // Errors: those of Client::Read (kUnavailable when no replica answered,
  // kDataLoss when every replica failed its checksum).
  absl::StatusOr<ReadResult> Read(uint64_t offset, size_t size);

  // Starts loading the file's first block on the loader threads, for a
  // reader expected to open the file soon (ScanPrefetcher); a later Read of
  // it waits for that load instead of starting its own. Returns false when
  // the file is empty or the pool had no block to spare past its reserve.
  bool StartPrefetch();

  // The inode as opened (constant after construction).
  const v1::Inode& inode() const { return inode_; }

 private:
  struct Block;
  // Registers missing blocks in [first, last] and appends the blocks of
  // [first, needed_last] to `needed`. The first missing needed block is
  // returned in `own` for the caller to Load in its own thread; the other
  // missing blocks are loaded on the loader threads. Returns false when a
  // block in [first, needed_last] could not get a buffer.
  bool StartLoads(uint64_t first, uint64_t needed_last, uint64_t last,
                  std::vector<std::shared_ptr<Block>>* needed,
                  std::shared_ptr<Block>* own) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Registers block `index` (loading, counted in flight) with `buffer`; the
  // caller starts its Load.
  std::shared_ptr<Block> AddBlock(uint64_t index, std::unique_ptr<PooledBlock> buffer)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Load(std::shared_ptr<Block> block);
  absl::StatusOr<ReadResult> ReadDirect(uint64_t offset, size_t size);
  // Serves [offset, offset+size) from `needed` (its blocks, in order),
  // waiting for their loads; kUnavailable-like errors of a failed load are
  // returned as they are.
  absl::StatusOr<ReadResult> ServeFromBlocks(
      uint64_t offset, size_t size,
      const std::vector<std::shared_ptr<Block>>& needed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  client::Client* const client_;
  BlockPool* const pool_;
  ThreadPool* const loaders_;
  const v1::Inode inode_;
  const ReadaheadOptions options_;
  const uint64_t block_bytes_;

  absl::Mutex mu_;
  // Loaded or loading blocks by block index.
  std::map<uint64_t, std::shared_ptr<Block>> blocks_ ABSL_GUARDED_BY(mu_);
  // Highest end offset read so far by a sequential run.
  uint64_t frontier_ ABSL_GUARDED_BY(mu_) = 0;
  bool sequential_ ABSL_GUARDED_BY(mu_) = true;
  int loads_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace medfs::fuse
