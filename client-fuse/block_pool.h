// A bounded pool of equally sized read buffers, each registered once with
// the client's fabric endpoint so chunkservers RMA file bytes straight into
// them, and replies to the kernel are sent from them without a copy.
//
// Buffers are allocated on first use (first-touch page faults are slow, so
// they are kept and reused, never freed before the pool) up to `max_blocks`.
// The pool is the upper bound of the mount's read cache memory.
//
// Thread safety: thread safe.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "client/client.h"

namespace medfs::fuse {

class BlockPool;

// One buffer borrowed from a BlockPool; returns it when destroyed.
class PooledBlock {
 public:
  PooledBlock(BlockPool* pool, std::byte* data) : pool_(pool), data_(data) {}
  ~PooledBlock();
  PooledBlock(const PooledBlock&) = delete;
  PooledBlock& operator=(const PooledBlock&) = delete;
  std::byte* data() const { return data_; }

 private:
  BlockPool* pool_;
  std::byte* data_;
};

class BlockPool {
 public:
  // `client` registers the buffers (may be null in tests: no registration).
  BlockPool(client::Client* client, size_t block_bytes, size_t max_blocks);
  ~BlockPool();  // REQUIRES: every PooledBlock returned
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  // A free block, or null when `reserve` or fewer blocks are left (so
  // readahead can leave room for synchronous reads).
  std::unique_ptr<PooledBlock> TryAcquire(size_t reserve = 0);
  size_t block_bytes() const { return block_bytes_; }
  // Blocks allocated so far (each block_bytes).
  size_t allocated_blocks() const;

 private:
  friend class PooledBlock;
  void Release(std::byte* data);

  // Constant after construction.
  client::Client* const client_;
  const size_t block_bytes_;
  const size_t max_blocks_;

  mutable absl::Mutex mu_;
  std::vector<std::byte*> free_ ABSL_GUARDED_BY(mu_);
  std::vector<std::byte*> all_ ABSL_GUARDED_BY(mu_);
  bool registration_warned_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace medfs::fuse
