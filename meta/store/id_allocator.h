// IdAllocator: hands out unique 64-bit ids (inodes, chunks) that are never
// reused, not even after a crash.
//
// Ids come from a reserved range. Before the first id of a range is handed
// out, the range's end (the high-water mark) is written to the `system`
// column family with a synced write; after a restart allocation continues
// from the persisted mark, so ids handed out before the crash are skipped.
//
// Thread safety: not thread safe; the store calls it under the mutation
// mutex.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "meta/store/kv_store.h"

namespace medfs::meta {

class IdAllocator {
 public:
  // `key`: the `system` key of the high-water mark. `first_id`: the lowest
  // id ever handed out. `reservation`: ids reserved per synced write (> 0).
  IdAllocator(KvStore* kv, std::string key, uint64_t first_id,
              uint64_t reservation);

  // Reads the persisted mark. Must be called once before Next().
  absl::Status Load();

  // The next unused id; may do one synced write to reserve a new range.
  // Errors: the write's error (the id is then not handed out).
  absl::StatusOr<uint64_t> Next();

  // The persisted high-water mark: every id handed out is below it.
  uint64_t high_water() const { return limit_; }

 private:
  KvStore* const kv_;
  const std::string key_;
  const uint64_t first_id_;
  const uint64_t reservation_;
  uint64_t next_ = 0;
  uint64_t limit_ = 0;
};

}  // namespace medfs::meta
