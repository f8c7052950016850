#include "client-fuse/block_pool.h"

#include <sys/mman.h>

#include "common/logging.h"

namespace medfs::fuse {

PooledBlock::~PooledBlock() { pool_->Release(data_); }

BlockPool::BlockPool(client::Client* client, size_t block_bytes,
                     size_t max_blocks)
    : client_(client), block_bytes_(block_bytes), max_blocks_(max_blocks) {}

BlockPool::~BlockPool() {
  absl::MutexLock lock(&mu_);
  MEDFS_CHECK(free_.size() == all_.size()) << "read blocks still borrowed";
  for (std::byte* data : all_) ::munmap(data, block_bytes_);
}

std::unique_ptr<PooledBlock> BlockPool::TryAcquire(size_t reserve) {
  absl::MutexLock lock(&mu_);
  const size_t available = free_.size() + (max_blocks_ - all_.size());
  if (available <= reserve) return nullptr;
  if (!free_.empty()) {
    std::byte* data = free_.back();
    free_.pop_back();
    return std::make_unique<PooledBlock>(this, data);
  }
  void* mem = ::mmap(nullptr, block_bytes_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return nullptr;
  auto* data = static_cast<std::byte*>(mem);
  all_.push_back(data);
  if (client_ != nullptr) {
    absl::Status status = client_->RegisterBuffer(data, block_bytes_);
    if (!status.ok() && !registration_warned_) {
      registration_warned_ = true;
      MEDFS_LOG(WARNING) << "register read buffer with the fabric: " << status
                         << " (reads fall back to bounce copies)";
    }
  }
  return std::make_unique<PooledBlock>(this, data);
}

size_t BlockPool::allocated_blocks() const {
  absl::MutexLock lock(&mu_);
  return all_.size();
}

void BlockPool::Release(std::byte* data) {
  absl::MutexLock lock(&mu_);
  free_.push_back(data);
}

}  // namespace medfs::fuse
