#include "meta/store/id_allocator.h"

#include <algorithm>

#include "common/status.h"
#include "meta/store/keys.h"

namespace medfs::meta {

IdAllocator::IdAllocator(KvStore* kv, std::string key, uint64_t first_id,
                         uint64_t reservation)
    : kv_(kv),
      key_(std::move(key)),
      first_id_(first_id),
      reservation_(std::max<uint64_t>(reservation, 1)) {}

absl::Status IdAllocator::Load() {
  ASSIGN_OR_RETURN(std::optional<std::string> mark, kv_->Get(Cf::kSystem, key_));
  uint64_t persisted = mark ? DecodeU64(*mark) : 0;
  next_ = std::max(first_id_, persisted);
  limit_ = next_;  // nothing reserved in this run yet
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> IdAllocator::Next() {
  if (next_ >= limit_) {
    uint64_t new_limit = next_ + reservation_;
    rocksdb::WriteBatch batch;
    batch.Put(kv_->handle(Cf::kSystem), key_, EncodeU64(new_limit));
    RETURN_IF_ERROR(Annotate(kv_->WriteSynced(&batch),
                             absl::StrCat("reserving ids up to ", new_limit,
                                          " (", key_, ")")));
    limit_ = new_limit;
  }
  return next_++;
}

}  // namespace medfs::meta
