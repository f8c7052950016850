// IoBufferPool: the client's registered I/O buffers — `count` buffers of
// `buffer_bytes` each, carved from one page-aligned, pre-faulted mapping
// that is registered with the fabric endpoint once. Reads use them as
// bounce buffers (the chunkserver RMA-writes into them); writers stage
// pieces in them (the chunkserver RMA-reads from them).
//
// Deadlock rule for users: block in Acquire only while holding no buffer
// of this pool; while holding some, use TryAcquire and make progress with
// what is held. Acquire takes `n` buffers all at once or none.
//
// A buffer exposed in a request that timed out may still be written by a
// late RMA; Quarantine keeps it out of circulation until a deadline.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/fabric/endpoint.h"

namespace medfs::client {

class IoBufferPool {
 public:
  // Maps, pre-faults and registers count * buffer_bytes. kResourceExhausted
  // when the mapping fails; the endpoint's error when registration fails;
  // kInvalidArgument for count or buffer_bytes 0.
  static absl::StatusOr<std::unique_ptr<IoBufferPool>> Create(
      fabric::Endpoint* endpoint, size_t count, size_t buffer_bytes);
  ~IoBufferPool();

  size_t count() const { return count_; }
  size_t buffer_bytes() const { return buffer_bytes_; }

  // Takes `n` buffers (1 <= n <= count()), blocking until all n are free.
  std::vector<size_t> Acquire(size_t n);
  // Takes `n` buffers if they are free now.
  std::optional<std::vector<size_t>> TryAcquire(size_t n);
  void Release(size_t index);
  // Returns `index` to the pool only after `until`.
  void Quarantine(size_t index, absl::Time until);

  std::byte* data(size_t index) const {
    return base_ + index * buffer_bytes_;
  }
  // What a peer needs to RMA into/out of [offset, offset+length) of buffer
  // `index`.
  fabric::RemoteBuffer Remote(size_t index, size_t offset,
                              size_t length) const;
  size_t free_count() const;

 private:
  IoBufferPool(std::byte* base, size_t mapped_bytes, size_t count,
               size_t buffer_bytes)
      : base_(base), mapped_bytes_(mapped_bytes), count_(count),
        buffer_bytes_(buffer_bytes) {}
  // Moves quarantined buffers whose time has come back to free_.
  void ReclaimLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  std::byte* const base_;
  const size_t mapped_bytes_;
  const size_t count_;
  const size_t buffer_bytes_;
  const fabric::MemoryRegion* region_ = nullptr;  // set once in Create
  fabric::Endpoint* endpoint_ = nullptr;

  mutable absl::Mutex mu_;
  std::vector<size_t> free_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<size_t, absl::Time>> quarantined_ ABSL_GUARDED_BY(mu_);
};

}  // namespace medfs::client
