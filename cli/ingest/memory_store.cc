#include "cli/ingest/memory_store.h"

#include "absl/strings/str_cat.h"

namespace medfs::ingest {

std::vector<absl::StatusOr<StoreResult>> MemoryInstanceStore::StoreBatch(
    std::vector<StoreItem>& batch) {
  std::vector<absl::StatusOr<StoreResult>> results;
  absl::MutexLock lock(&mu_);
  ++batches_;
  for (StoreItem& item : batch) {
    const v1::DicomInstance& r = item.instance.record;
    auto it = by_sop_.find(r.sop_instance_uid());
    if (it != by_sop_.end()) {
      if (it->second.record.sha256() == r.sha256()) {
        results.push_back(StoreResult::kAlreadyPresent);
      } else {
        results.push_back(absl::AlreadyExistsError(absl::StrCat(
            "SOPInstanceUID ", r.sop_instance_uid(),
            " is already stored with different content at ",
            it->second.record.path())));
      }
      continue;
    }
    auto path = sop_by_path_.find(item.path);
    if (path != sop_by_path_.end()) {
      results.push_back(absl::AlreadyExistsError(absl::StrCat(
          "path ", item.path, " already holds SOPInstanceUID ", path->second)));
      continue;
    }
    sop_by_path_[item.path] = r.sop_instance_uid();
    by_sop_[r.sop_instance_uid()] =
        Stored{r, keep_bytes_ ? item.instance.bytes : std::string()};
    results.push_back(StoreResult::kStored);
  }
  return results;
}

std::map<std::string, MemoryInstanceStore::Stored>
MemoryInstanceStore::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return by_sop_;
}

size_t MemoryInstanceStore::batches() const {
  absl::MutexLock lock(&mu_);
  return batches_;
}

}  // namespace medfs::ingest
