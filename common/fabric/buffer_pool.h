// BufferPool: fixed, pre-registered bounce buffers for the data plane.
//
// N buffers of M bytes are carved from one page-aligned allocation that is
// pre-faulted once and registered once with the endpoint, so chunkservers
// and clients move bytes without allocating or registering per request:
//
//   ASSIGN_OR_RETURN(auto pool, BufferPool::Create(endpoint, {64, 4 << 20}));
//   ASSIGN_OR_RETURN(PooledBuffer buf, pool->Acquire(absl::Seconds(1)));
//   RemoteBuffer where = buf.Remote(0, length);   // put in a request
//   ... // buf returns to the pool when destroyed (or buf.Release())
//
// Thread safety: BufferPool is thread safe. A PooledBuffer is a move-only
// handle owned by one thread at a time. The pool must outlive its buffers
// and the endpoint must outlive the pool.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/fabric/endpoint.h"
#include "common/fabric/mapped_memory.h"

namespace medfs::fabric {

struct BufferPoolOptions {
  // Number of buffers (default 64).
  size_t buffer_count = 64;
  // Bytes per buffer, rounded up to a multiple of 4 KiB (default 4 MiB).
  size_t buffer_bytes = 4 << 20;
};

class BufferPool;

// One buffer leased from a BufferPool; returns to the pool on destruction.
class PooledBuffer {
 public:
  PooledBuffer() = default;
  PooledBuffer(PooledBuffer&& other) noexcept;
  PooledBuffer& operator=(PooledBuffer&& other) noexcept;
  PooledBuffer(const PooledBuffer&) = delete;
  PooledBuffer& operator=(const PooledBuffer&) = delete;
  ~PooledBuffer() { Release(); }

  bool valid() const { return pool_ != nullptr; }
  char* data() const { return data_; }
  size_t size() const { return size_; }
  // The registered region holding this buffer (for RMA and descriptors).
  const MemoryRegion& region() const;
  // What a peer needs to RMA into/out of [offset, offset+length) of this
  // buffer. REQUIRES: offset + length <= size().
  RemoteBuffer Remote(size_t offset, size_t length) const;
  // Returns the buffer to the pool now; the handle becomes invalid.
  void Release();

 private:
  friend class BufferPool;
  PooledBuffer(BufferPool* pool, size_t index, char* data, size_t size)
      : pool_(pool), index_(index), data_(data), size_(size) {}

  BufferPool* pool_ = nullptr;
  size_t index_ = 0;
  char* data_ = nullptr;
  size_t size_ = 0;
};

class BufferPool {
 public:
  // Allocates, pre-faults and registers the pool with `endpoint`.
  // Errors: kInvalidArgument for zero count or size; kResourceExhausted
  // when memory cannot be mapped; registration errors from the endpoint.
  static absl::StatusOr<std::unique_ptr<BufferPool>> Create(
      Endpoint* endpoint, const BufferPoolOptions& options);
  // Deregisters the pool. REQUIRES: every buffer has been released.
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // Leases a free buffer, waiting up to `timeout` for one to be released.
  // Errors: kResourceExhausted "all N buffers of M bytes in use after T"
  // (the caller should shed load or retry later).
  absl::StatusOr<PooledBuffer> Acquire(absl::Duration timeout);

  size_t buffer_count() const { return count_; }
  size_t buffer_bytes() const { return buffer_bytes_; }
  size_t available() const;
  const MemoryRegion& region() const { return *region_; }

 private:
  BufferPool(Endpoint* endpoint, MappedMemory memory, size_t count,
             size_t buffer_bytes);
  void Return(size_t index);
  friend class PooledBuffer;

  // Constant after construction.
  Endpoint* const endpoint_;
  MappedMemory memory_;
  const size_t count_;
  const size_t buffer_bytes_;
  const MemoryRegion* region_ = nullptr;

  mutable absl::Mutex mu_;
  std::vector<size_t> free_ ABSL_GUARDED_BY(mu_);
};

}  // namespace medfs::fabric
