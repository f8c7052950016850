#include "common/fabric/buffer_pool.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status.h"

namespace medfs::fabric {

PooledBuffer::PooledBuffer(PooledBuffer&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      index_(other.index_),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

PooledBuffer& PooledBuffer::operator=(PooledBuffer&& other) noexcept {
  if (this != &other) {
    Release();
    pool_ = std::exchange(other.pool_, nullptr);
    index_ = other.index_;
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

const MemoryRegion& PooledBuffer::region() const { return pool_->region(); }

RemoteBuffer PooledBuffer::Remote(size_t offset, size_t length) const {
  return pool_->region().Remote(index_ * pool_->buffer_bytes() + offset,
                                length);
}

void PooledBuffer::Release() {
  if (pool_ == nullptr) return;
  pool_->Return(index_);
  pool_ = nullptr;
  data_ = nullptr;
  size_ = 0;
}

absl::StatusOr<std::unique_ptr<BufferPool>> BufferPool::Create(
    Endpoint* endpoint, const BufferPoolOptions& options) {
  if (options.buffer_count == 0 || options.buffer_bytes == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "creating buffer pool: ", options.buffer_count, " buffers of ",
        options.buffer_bytes, " bytes"));
  }
  constexpr size_t kAlign = 4096;
  const size_t bytes = (options.buffer_bytes + kAlign - 1) / kAlign * kAlign;
  ASSIGN_OR_RETURN(MappedMemory memory,
                   MappedMemory::Allocate(bytes * options.buffer_count));
  std::unique_ptr<BufferPool> pool(
      new BufferPool(endpoint, std::move(memory), options.buffer_count, bytes));
  absl::StatusOr<const MemoryRegion*> region =
      endpoint->Register(pool->memory_.data(), bytes * options.buffer_count);
  if (!region.ok()) {
    return Annotate(region.status(),
                    absl::StrCat("creating buffer pool of ",
                                 options.buffer_count, " x ", bytes, " bytes"));
  }
  pool->region_ = *region;
  return pool;
}

BufferPool::BufferPool(Endpoint* endpoint, MappedMemory memory, size_t count,
                       size_t buffer_bytes)
    : endpoint_(endpoint),
      memory_(std::move(memory)),
      count_(count),
      buffer_bytes_(buffer_bytes) {
  absl::MutexLock lock(&mu_);
  for (size_t i = count_; i > 0; --i) free_.push_back(i - 1);
}

BufferPool::~BufferPool() {
  {
    absl::MutexLock lock(&mu_);
    if (free_.size() != count_) {
      MEDFS_LOG(ERROR) << "buffer pool destroyed with "
                       << count_ - free_.size() << " buffers still leased";
    }
  }
  if (region_ != nullptr) endpoint_->Deregister(region_);
}

absl::StatusOr<PooledBuffer> BufferPool::Acquire(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto has_free = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !free_.empty();
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&has_free), timeout)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "acquiring a bounce buffer: all ", count_, " buffers of ",
        buffer_bytes_, " bytes in use after ", absl::FormatDuration(timeout)));
  }
  const size_t index = free_.back();
  free_.pop_back();
  return PooledBuffer(this, index, memory_.data() + index * buffer_bytes_,
                      buffer_bytes_);
}

size_t BufferPool::available() const {
  absl::MutexLock lock(&mu_);
  return free_.size();
}

void BufferPool::Return(size_t index) {
  absl::MutexLock lock(&mu_);
  free_.push_back(index);
}

}  // namespace medfs::fabric
