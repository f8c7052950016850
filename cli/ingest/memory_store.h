// An InstanceStore in memory: what `medfs ingest --dry-run` uses, and the
// test double of the cluster store. It applies the same idempotency rules
// as the cluster: a SOPInstanceUID already held with the same sha256 is
// kAlreadyPresent, with a different sha256 a conflict (kAlreadyExists);
// a path already used by another instance is a conflict too.
//
// Thread safety: thread safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "cli/ingest/pipeline.h"

namespace medfs::ingest {

class MemoryInstanceStore : public InstanceStore {
 public:
  // keep_bytes: also keep each stored file's bytes (tests); otherwise only
  // the records are kept.
  explicit MemoryInstanceStore(bool keep_bytes) : keep_bytes_(keep_bytes) {}

  std::vector<absl::StatusOr<StoreResult>> StoreBatch(
      std::vector<StoreItem>& batch) override;

  struct Stored {
    v1::DicomInstance record;
    std::string bytes;  // empty unless keep_bytes
  };
  // Stored instances by SOPInstanceUID.
  std::map<std::string, Stored> Snapshot() const;
  size_t batches() const;

 private:
  const bool keep_bytes_;
  mutable absl::Mutex mu_;
  std::map<std::string, Stored> by_sop_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> sop_by_path_ ABSL_GUARDED_BY(mu_);
  size_t batches_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace medfs::ingest
