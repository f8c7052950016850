#include "loader/sampler/sampler.h"

#include <numeric>

#include "absl/strings/str_cat.h"

namespace medfs::loader {
namespace {

uint64_t Mix(uint64_t z) {  // splitmix64 finaliser
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Counter-based stream: value i of stream (seed, epoch).
class Stream {
 public:
  Stream(uint64_t seed, uint64_t epoch)
      : key_(Mix(seed ^ Mix(epoch + 0x9E3779B97F4A7C15ull))) {}
  uint64_t Next() { return Mix(key_ + 0x9E3779B97F4A7C15ull * ++counter_); }
  // Uniform in [0, bound), unbiased (multiply-shift with rejection).
  uint64_t Below(uint64_t bound) {
    unsigned __int128 m = static_cast<unsigned __int128>(Next()) * bound;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < bound) {
      uint64_t threshold = -bound % bound;
      while (low < threshold) {
        m = static_cast<unsigned __int128>(Next()) * bound;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

 private:
  uint64_t key_;
  uint64_t counter_ = 0;
};

}  // namespace

absl::Status DistributedSampler::Validate(const SamplerOptions& o) {
  if (o.world_size == 0 || o.rank >= o.world_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampler: rank ", o.rank, " is not below world_size ", o.world_size));
  }
  return absl::OkStatus();
}

DistributedSampler::DistributedSampler(uint64_t num_samples,
                                       const SamplerOptions& options)
    : n_(num_samples), options_(options) {}

void DistributedSampler::SetEpoch(uint64_t epoch) {
  epoch_ = epoch;
  cursor_ = 0;
}

absl::Status DistributedSampler::Restore(const SamplerState& s) {
  if (s.seed != options_.seed || s.num_samples != n_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "restoring sampler state: saved for seed ", s.seed, " and ",
        s.num_samples, " samples, this loader has seed ", options_.seed,
        " and ", n_, " samples"));
  }
  epoch_ = s.epoch;
  cursor_ = std::min(s.cursor, n_);
  return absl::OkStatus();
}

std::vector<uint64_t> DistributedSampler::GlobalOrder(uint64_t n, uint64_t seed,
                                                      uint64_t epoch) {
  std::vector<uint64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  Stream stream(seed, epoch);
  for (uint64_t i = n; i > 1; --i) {
    uint64_t j = stream.Below(i);
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

std::vector<uint64_t> DistributedSampler::RankIndices() const {
  std::vector<uint64_t> order;
  if (options_.shuffle) {
    order = GlobalOrder(n_, options_.seed, epoch_);
  } else {
    order.resize(n_);
    std::iota(order.begin(), order.end(), 0);
  }
  const uint64_t w = options_.world_size, remaining = n_ - cursor_;
  const uint64_t per_rank = options_.drop_last ? remaining / w
                                               : (remaining + w - 1) / w;
  std::vector<uint64_t> out;
  if (n_ == 0) return out;
  out.reserve(per_rank);
  for (uint64_t j = 0; j < per_rank; ++j) {
    uint64_t p = cursor_ + options_.rank + j * w;
    out.push_back(order[p < n_ ? p : (p - n_) % n_]);
  }
  return out;
}

SamplerState DistributedSampler::StateAfter(uint64_t consumed) const {
  SamplerState s;
  s.seed = options_.seed;
  s.epoch = epoch_;
  s.num_samples = n_;
  s.cursor = std::min(n_, cursor_ + consumed * options_.world_size);
  return s;
}

absl::Status ParseSplit(absl::string_view name, Split* split) {
  if (name == "all" || name.empty()) *split = Split::kAll;
  else if (name == "train") *split = Split::kTrain;
  else if (name == "val") *split = Split::kVal;
  else if (name == "test") *split = Split::kTest;
  else return absl::InvalidArgumentError(absl::StrCat(
      "split must be train, val, test or all, not '", name, "'"));
  return absl::OkStatus();
}

absl::Status ValidateSplit(const SplitOptions& o) {
  if (o.train_fraction < 0 || o.val_fraction < 0 ||
      o.train_fraction + o.val_fraction > 1.0 + 1e-9) {
    return absl::InvalidArgumentError(absl::StrCat(
        "split fractions train=", o.train_fraction, " val=", o.val_fraction,
        " must be >= 0 and sum to at most 1"));
  }
  return absl::OkStatus();
}

uint64_t StableHash64(absl::string_view a, absl::string_view b) {
  uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a 64
  auto feed = [&](absl::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  };
  feed(a);
  h = (h ^ 0xFF) * 0x100000001B3ull;  // separator
  feed(b);
  return Mix(h);
}

Split SplitOfPatient(absl::string_view patient_id, const SplitOptions& o) {
  double u = (StableHash64(o.salt, patient_id) >> 11) * 0x1.0p-53;
  if (u < o.train_fraction) return Split::kTrain;
  if (u < o.train_fraction + o.val_fraction) return Split::kVal;
  return Split::kTest;
}

}  // namespace medfs::loader
