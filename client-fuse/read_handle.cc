#include "client-fuse/read_handle.h"

#include <algorithm>
#include <utility>

#include "common/logging.h"
#include "common/status.h"

namespace medfs::fuse {

// One aligned block of the file, loading or loaded.
struct ReadHandle::Block {
  uint64_t offset = 0;
  size_t length = 0;  // bytes wanted (the file may end inside the block)
  std::unique_ptr<PooledBlock> buffer;
  bool done = false;      // guarded by the handle's mu_
  absl::Status status;    // guarded by the handle's mu_; valid once done
  size_t loaded = 0;      // guarded by the handle's mu_; bytes read
};

ReadHandle::ReadHandle(client::Client* client, BlockPool* pool,
                       ThreadPool* loaders, v1::Inode inode,
                       ReadaheadOptions options)
    : client_(client),
      pool_(pool),
      loaders_(loaders),
      inode_(std::move(inode)),
      options_(options),
      block_bytes_(pool->block_bytes()) {}

ReadHandle::~ReadHandle() {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return loads_in_flight_ == 0;
  };
  mu_.Await(absl::Condition(&idle));
}

absl::StatusOr<ReadResult> ReadHandle::Read(uint64_t offset, size_t size) {
  const uint64_t file_size = inode_.size();
  if (offset >= file_size || size == 0) return ReadResult{};
  size = static_cast<size_t>(std::min<uint64_t>(size, file_size - offset));
  std::vector<std::shared_ptr<Block>> needed;
  std::shared_ptr<Block> own;  // a missing needed block: loaded right here
  {
    absl::MutexLock lock(&mu_);
    const bool near = offset <= frontier_ + block_bytes_ &&
                      offset + options_.readahead_bytes + 2 * block_bytes_ >=
                          frontier_;
    if (!near) blocks_.clear();  // loads in flight keep their block alive
    sequential_ = near;
    frontier_ = std::max(frontier_, offset + size);
    if (sequential_ && options_.readahead_bytes > 0) {
      const uint64_t first = offset / block_bytes_;
      const uint64_t needed_last = (offset + size - 1) / block_bytes_;
      const uint64_t ahead_end =
          std::min<uint64_t>(offset + size + options_.readahead_bytes, file_size);
      const uint64_t last = std::max(needed_last, (ahead_end - 1) / block_bytes_);
      // Keep one block behind: parallel kernel requests arrive out of order.
      while (!blocks_.empty() && blocks_.begin()->first + 1 < first) {
        blocks_.erase(blocks_.begin());
      }
      if (!StartLoads(first, needed_last, last, &needed, &own)) needed.clear();
    }
  }
  if (needed.empty()) return ReadDirect(offset, size);
  // No hand-off for the block this read waits on (the whole of a small
  // file): it is read in this thread into its pooled (registered) buffer.
  if (own != nullptr) Load(own);
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<ReadResult> result = ServeFromBlocks(offset, size, needed);
    if (result.ok()) return result;
    MEDFS_LOG(WARNING) << "read of inode " << inode_.id() << " through its blocks "
                       << "failed, reading directly: " << result.status();
    blocks_.clear();
  }
  return ReadDirect(offset, size);
}

bool ReadHandle::StartPrefetch() {
  if (inode_.size() == 0) return false;
  absl::MutexLock lock(&mu_);
  if (blocks_.contains(0)) return true;
  // Readahead's share of the pool: synchronous reads keep their reserve.
  std::unique_ptr<PooledBlock> buffer = pool_->TryAcquire(options_.reserve_blocks);
  if (buffer == nullptr) return false;
  std::shared_ptr<Block> block = AddBlock(0, std::move(buffer));
  loaders_->Schedule([this, block] { Load(block); });
  return true;
}

std::shared_ptr<ReadHandle::Block> ReadHandle::AddBlock(uint64_t index,
                                                        std::unique_ptr<PooledBlock> buffer) {
  auto block = std::make_shared<Block>();
  block->offset = index * block_bytes_;
  block->length = static_cast<size_t>(
      std::min<uint64_t>(block_bytes_, inode_.size() - block->offset));
  block->buffer = std::move(buffer);
  blocks_[index] = block;
  ++loads_in_flight_;
  return block;
}

bool ReadHandle::StartLoads(uint64_t first, uint64_t needed_last,
                            uint64_t last,
                            std::vector<std::shared_ptr<Block>>* needed,
                            std::shared_ptr<Block>* own) {
  for (uint64_t index = first; index <= last; ++index) {
    const bool is_needed = index <= needed_last;
    auto it = blocks_.find(index);
    if (it != blocks_.end()) {
      if (is_needed) needed->push_back(it->second);
      continue;
    }
    std::unique_ptr<PooledBlock> buffer =
        pool_->TryAcquire(is_needed ? 0 : options_.reserve_blocks);
    if (buffer == nullptr) return index > needed_last;
    std::shared_ptr<Block> block = AddBlock(index, std::move(buffer));
    if (is_needed) needed->push_back(block);
    if (is_needed && *own == nullptr) {
      *own = block;  // the caller loads it without a thread hand-off
    } else {
      loaders_->Schedule([this, block] { Load(block); });
    }
  }
  return true;
}

void ReadHandle::Load(std::shared_ptr<Block> block) {
  absl::StatusOr<size_t> read = client_->Read(
      inode_, block->offset, std::span<std::byte>(block->buffer->data(), block->length));
  absl::MutexLock lock(&mu_);
  block->status = read.status();
  block->loaded = read.ok() ? *read : 0;
  block->done = true;
  --loads_in_flight_;
}

absl::StatusOr<ReadResult> ReadHandle::ServeFromBlocks(
    uint64_t offset, size_t size,
    const std::vector<std::shared_ptr<Block>>& needed) {
  auto loaded = [&needed]() {
    for (const auto& block : needed) {
      if (!block->done) return false;
    }
    return true;
  };
  mu_.Await(absl::Condition(&loaded));
  ReadResult result;
  uint64_t position = offset;
  const uint64_t end = offset + size;
  for (const auto& block : needed) {
    if (!block->status.ok()) return block->status;
    const uint64_t in_block = position - block->offset;
    if (in_block >= block->loaded) break;  // file shorter than the snapshot
    const size_t take = static_cast<size_t>(
        std::min<uint64_t>(block->loaded - in_block, end - position));
    result.iov.push_back({block->buffer->data() + in_block, take});
    result.holds_.push_back(block);
    result.bytes += take;
    position += take;
    if (block->loaded < block->length) break;
  }
  return result;
}

absl::StatusOr<ReadResult> ReadHandle::ReadDirect(uint64_t offset,
                                                  size_t size) {
  ReadResult result;
  std::byte* data = nullptr;
  std::unique_ptr<PooledBlock> buffer;
  if (size <= block_bytes_) buffer = pool_->TryAcquire(0);
  if (buffer != nullptr) {
    data = buffer->data();
    result.holds_.push_back(std::shared_ptr<PooledBlock>(std::move(buffer)));
  } else {
    auto heap = std::make_shared<std::vector<std::byte>>(size);
    data = heap->data();
    result.holds_.push_back(heap);
  }
  ASSIGN_OR_RETURN(size_t bytes,
                   client_->Read(inode_, offset, std::span<std::byte>(data, size)));
  result.iov.push_back({data, bytes});
  result.bytes = bytes;
  return result;
}

}  // namespace medfs::fuse
