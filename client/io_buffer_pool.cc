#include "client/io_buffer_pool.h"

#include <sys/mman.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/status.h"

namespace medfs::client {

absl::StatusOr<std::unique_ptr<IoBufferPool>> IoBufferPool::Create(
    fabric::Endpoint* endpoint, size_t count, size_t buffer_bytes) {
  if (count == 0 || buffer_bytes == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "I/O buffer pool: ", count, " buffers of ", buffer_bytes, " bytes"));
  }
  const size_t bytes = count * buffer_bytes;
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (base == MAP_FAILED) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "I/O buffer pool: mmap of ", bytes, " bytes failed: errno ", errno));
  }
  std::unique_ptr<IoBufferPool> pool(new IoBufferPool(
      static_cast<std::byte*>(base), bytes, count, buffer_bytes));
  absl::StatusOr<const fabric::MemoryRegion*> region =
      endpoint->Register(base, bytes);
  if (!region.ok()) {
    return Annotate(region.status(),
                    absl::StrCat("I/O buffer pool: register ", bytes, " bytes"));
  }
  pool->region_ = *region;
  pool->endpoint_ = endpoint;
  absl::MutexLock lock(&pool->mu_);
  for (size_t i = count; i > 0; --i) pool->free_.push_back(i - 1);
  return pool;
}

IoBufferPool::~IoBufferPool() {
  if (region_ != nullptr) endpoint_->Deregister(region_);
  munmap(base_, mapped_bytes_);
}

std::vector<size_t> IoBufferPool::Acquire(size_t n) {
  MEDFS_CHECK(n >= 1 && n <= count_) << "Acquire(" << n << ") of " << count_;
  absl::MutexLock lock(&mu_);
  while (true) {
    ReclaimLocked(absl::Now());
    if (free_.size() >= n) break;
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return free_.size() >= n;
    };
    // Quarantined buffers come back by time, not by a Release: poll.
    mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Milliseconds(100));
  }
  std::vector<size_t> taken(free_.end() - n, free_.end());
  free_.resize(free_.size() - n);
  return taken;
}

std::optional<std::vector<size_t>> IoBufferPool::TryAcquire(size_t n) {
  absl::MutexLock lock(&mu_);
  ReclaimLocked(absl::Now());
  if (n == 0 || free_.size() < n) return std::nullopt;
  std::vector<size_t> taken(free_.end() - n, free_.end());
  free_.resize(free_.size() - n);
  return taken;
}

void IoBufferPool::Release(size_t index) {
  absl::MutexLock lock(&mu_);
  free_.push_back(index);
}

void IoBufferPool::Quarantine(size_t index, absl::Time until) {
  absl::MutexLock lock(&mu_);
  quarantined_.emplace_back(index, until);
}

fabric::RemoteBuffer IoBufferPool::Remote(size_t index, size_t offset,
                                          size_t length) const {
  return region_->Remote(index * buffer_bytes_ + offset, length);
}

size_t IoBufferPool::free_count() const {
  absl::MutexLock lock(&mu_);
  return free_.size();
}

void IoBufferPool::ReclaimLocked(absl::Time now) {
  for (size_t i = 0; i < quarantined_.size();) {
    if (quarantined_[i].second <= now) {
      free_.push_back(quarantined_[i].first);
      quarantined_[i] = quarantined_.back();
      quarantined_.pop_back();
    } else {
      ++i;
    }
  }
}

}  // namespace medfs::client
