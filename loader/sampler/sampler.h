// The loader's distributed sampler.
//
// For a seed and an epoch there is one global order of the N samples (a
// Fisher-Yates shuffle driven by a counter-based generator: portable and
// independent of the number of ranks or worker threads). Ranks take that
// order interleaved: rank r of W gets global positions c + r, c + r + W,
// c + r + 2W, ... where c is the epoch's start cursor (0 at the start of an
// epoch, later when resumed). Across ranks every sample of an epoch is
// produced exactly once; with pad (the default) each rank gets
// ceil((N - c) / W) samples and the last positions wrap to the start of the
// order, with drop_last each gets floor((N - c) / W) and the tail is
// dropped.
//
// State: ranks move in lockstep (data-parallel training), so "every rank
// consumed k samples" is the global cursor c + k * W. Restoring that cursor
// on any number of ranks continues the same global order exactly (elastic
// resume).
//
// Thread safety: const methods are thread safe; SetEpoch/Restore are not.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace medfs::loader {

struct SamplerOptions {
  uint64_t seed = 0;
  bool shuffle = true;     // false: the dataset order
  bool drop_last = false;  // false: pad by wrapping around
  uint32_t rank = 0;
  uint32_t world_size = 1;
};

// What state_dict() saves: enough to continue an epoch on any world size.
struct SamplerState {
  uint64_t seed = 0;
  uint64_t epoch = 0;
  uint64_t cursor = 0;       // global positions consumed in this epoch
  uint64_t num_samples = 0;  // N, to detect a changed dataset
};

class DistributedSampler {
 public:
  // kInvalidArgument: world_size 0 or rank >= world_size.
  static absl::Status Validate(const SamplerOptions& options);

  DistributedSampler(uint64_t num_samples, const SamplerOptions& options);

  // Starts epoch `epoch` at its beginning.
  void SetEpoch(uint64_t epoch);
  // Continues from a saved state. kFailedPrecondition when the state's
  // seed or num_samples differ from this sampler's.
  absl::Status Restore(const SamplerState& state);

  // This rank's sample indices for the rest of the epoch, in order.
  std::vector<uint64_t> RankIndices() const;
  // State once every rank has consumed `consumed` of its RankIndices().
  SamplerState StateAfter(uint64_t consumed) const;

  // The global order of `n` samples for seed and epoch.
  static std::vector<uint64_t> GlobalOrder(uint64_t n, uint64_t seed,
                                           uint64_t epoch);

  uint64_t epoch() const { return epoch_; }
  uint64_t cursor() const { return cursor_; }
  uint64_t num_samples() const { return n_; }
  const SamplerOptions& options() const { return options_; }

 private:
  // Constant after construction
  uint64_t n_;
  SamplerOptions options_;
  // Changed by SetEpoch / Restore
  uint64_t epoch_ = 0;
  uint64_t cursor_ = 0;
};

// Patient-level splits: a stable 64-bit hash of (salt, PatientID) mapped to
// [0, 1) puts a patient in train when below train_fraction, in val when
// below train_fraction + val_fraction, else in test. Every instance of a
// patient lands in the same split, independent of what else is ingested.
enum class Split { kAll, kTrain, kVal, kTest };
struct SplitOptions {
  Split split = Split::kAll;
  double train_fraction = 0.8;
  double val_fraction = 0.1;
  std::string salt = "medfs";
};
// kInvalidArgument for "train"/"val"/"test"/"all" misspelt or fractions
// outside [0, 1] or summing above 1.
absl::Status ParseSplit(absl::string_view name, Split* split);
absl::Status ValidateSplit(const SplitOptions& options);
Split SplitOfPatient(absl::string_view patient_id, const SplitOptions& options);
uint64_t StableHash64(absl::string_view a, absl::string_view b);

}  // namespace medfs::loader
