// The loader core: sampler -> I/O (PixelSource) -> decode -> transform ->
// batches, in a bounded prefetch window filled by a thread pool, handed
// out in order.
//
// Memory is bounded: at most `prefetch` batches are being filled or wait
// for the consumer; each worker owns one I/O buffer sized for the largest
// Pixel Data value of the dataset and its decode/transform scratch. Batch
// buffers are pooled and come back when the consumer drops its reference
// (the tensor handed to Python holds one).
//
// Output: slice samples give images [B, C, H, W]; series samples give
// volumes [B, C, D, H, W] in the transform's output type.
//
// Thread safety: Next/SetEpoch/Restore/State are called by one consumer
// thread; Stats is thread safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "loader/pipeline/catalog.h"
#include "loader/pipeline/pixel_source.h"
#include "loader/sample/samples.h"
#include "loader/sampler/sampler.h"
#include "loader/transform/transform.h"

namespace medfs::loader {

enum class OnError { kSkip, kZero, kFail };

// Where the CPU stage stops.
enum class StageOutput {
  // Finished images in the transform's output type (the default).
  kTransformed,
  // Decoded frames as stored (slice samples only), each with the line that
  // maps its values to [0, 1] (RawFrame); the GPU path windows, resizes and
  // normalises them on the device (loader/cuda).
  kRawFrames,
};

// RawFrame (transform.h) describes one sample of a raw-frames batch.

struct LoaderOptions {
  uint32_t batch_size = 32;           // samples per batch
  SampleKind sample = SampleKind::kSlice;
  uint32_t depth = 32;                // series: slices after resampling
  TransformOptions transform;         // size, window, channels, dtype
  SamplerOptions sampler;             // rank, world size, seed, pad/drop
  uint32_t prefetch = 4;              // batches in flight ahead (>= 1)
  uint32_t threads = 0;               // workers; 0: hardware threads, or
                                      // more if the source prefers (cluster: 8)
  // Workers that decode/transform at the same time (the others wait for
  // their reads or for a turn); each turn uses one of this many pooled
  // decoder/transformer scratch sets, so the CPU stage runs on warm
  // caches with no more threads than cores. 0: hardware threads.
  uint32_t cpu_threads = 0;
  // A sample that fails to read or decode: dropped from its batch (skip),
  // replaced by zeros (zero), or returned as the error of Next (fail).
  OnError on_error = OnError::kSkip;
  // kRawFrames requires sample = kSlice (else kInvalidArgument).
  StageOutput output = StageOutput::kTransformed;
  std::string labels_csv;             // optional label table
};

// A contiguous, pooled batch buffer.
struct BatchMemory {
  std::vector<std::byte> bytes;
};

struct Batch {
  uint64_t index = 0;          // batch number within this rank's epoch
  uint32_t size = 0;           // samples in it (after skipped failures)
  std::vector<int64_t> shape;  // [B, C, H, W] or [B, C, D, H, W]
  OutputType dtype = OutputType::kFloat32;
  // shape's bytes, pooled; with StageOutput::kRawFrames the raw layout
  // (RawFrame table + frame slots), and `shape` is what the device makes.
  std::shared_ptr<BatchMemory> images;
  size_t raw_bytes = 0;  // kRawFrames: bytes of `images` in use (0 otherwise)
  std::vector<std::string> uids;
  std::vector<uint64_t> sample_indices;
  std::vector<std::vector<float>> labels;  // empty without a label table
  std::vector<std::string> errors;         // failed samples, with reasons
};

struct LoaderStats {
  uint64_t samples = 0;             // delivered to the consumer
  uint64_t batches = 0;
  uint64_t bytes_read = 0;          // pixel bytes fetched
  uint64_t failures = 0;            // samples that failed read or decode
  uint64_t missing_labels = 0;
  double elapsed_seconds = 0;       // since the first Next of this loader
  double consumer_wait_seconds = 0; // time Next blocked waiting for data
  double samples_per_second = 0;
  double bytes_per_second = 0;
  uint64_t memory_bytes = 0;        // batch pool + I/O buffers + scratch
};

class Loader {
 public:
  // Checks options, builds samples (and labels) from `catalog`.
  // Errors: kInvalidArgument (options), kNotFound / kInvalidArgument
  // (labels), kFailedPrecondition (empty catalog).
  static absl::StatusOr<std::unique_ptr<Loader>> Create(
      Catalog catalog, std::shared_ptr<PixelSource> source,
      const LoaderOptions& options);
  ~Loader();

  // The next batch of this rank's epoch; nullopt at its end (call
  // SetEpoch to start another). Error only with on_error = kFail.
  absl::StatusOr<std::optional<Batch>> Next();

  // Starts epoch `epoch` from its beginning (stops work in flight).
  void SetEpoch(uint64_t epoch);
  // Where the epoch stands after the batches consumed so far.
  SamplerState State() const;
  // Continues from `state` (see DistributedSampler::Restore).
  absl::Status Restore(const SamplerState& state);

  LoaderStats Stats() const;
  uint64_t num_samples() const { return samples_.size(); }
  // kRawFrames: bytes of one sample's frame slot (largest decoded frame of
  // the dataset, 256-byte aligned) and of the RawFrame table.
  size_t raw_slot_bytes() const { return raw_slot_bytes_; }
  size_t raw_header_bytes() const;
  // Samples this rank produces in the current epoch (from its start).
  uint64_t rank_samples() const;
  const LoaderOptions& options() const { return options_; }
  const std::vector<Sample>& samples() const { return samples_; }
  const Catalog& catalog() const { return catalog_; }

 private:
  class Worker;
  struct CpuSlot;
  class SlotLease;
  struct Pending {
    std::shared_ptr<BatchMemory> memory;
    uint32_t count = 0;      // samples in the batch
    uint32_t remaining = 0;  // not yet done
    std::vector<uint8_t> failed;
    std::vector<std::string> errors;
    absl::Status first_error;
  };

  Loader(Catalog catalog, std::shared_ptr<PixelSource> source,
         const LoaderOptions& options);
  void Start();
  void Stop();
  void WorkerLoop(Worker* worker);
  absl::Status ProcessSample(Worker* worker, const Sample& sample, std::byte* out);
  absl::Status StageRawFrame(Worker* worker, const Sample& sample, std::byte* batch,
                             uint32_t index);
  absl::Status Fetch(Worker* worker, uint32_t instance);
  absl::Status Decode(Worker* worker, CpuSlot* slot, uint32_t instance,
                      std::optional<uint32_t> frame);
  CpuSlot* AcquireSlot();
  void ReleaseSlot(CpuSlot* slot);
  std::shared_ptr<BatchMemory> AllocateBatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Batch Assemble(uint64_t index, Pending pending);
  size_t SampleBytes() const;
  size_t BatchBytes() const;

  // Constant after construction
  Catalog catalog_;
  std::shared_ptr<PixelSource> source_;
  LoaderOptions options_;
  std::vector<Sample> samples_;
  size_t max_pixel_bytes_ = 0;
  size_t raw_slot_bytes_ = 0;  // kRawFrames only
  uint64_t missing_labels_ = 0;

  // Consumer-thread state
  DistributedSampler sampler_;
  std::vector<uint64_t> order_;  // this rank's sample indices, this pass
  uint64_t consumed_batches_base_ = 0;  // samples consumed before order_
  std::vector<std::thread> threads_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<CpuSlot>> slots_;  // created in Create

  absl::Mutex slot_mu_;
  std::vector<CpuSlot*> free_slots_ ABSL_GUARDED_BY(slot_mu_);
  bool started_ = false;
  absl::Time first_next_ = absl::InfinitePast();

  mutable absl::Mutex mu_;
  // Guarded by mu_
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_task_ ABSL_GUARDED_BY(mu_) = 0;   // position in order_
  uint64_t consumed_ ABSL_GUARDED_BY(mu_) = 0;    // batches handed out
  absl::flat_hash_map<uint64_t, Pending> pending_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<std::vector<std::unique_ptr<BatchMemory>>> pool_;
  std::shared_ptr<absl::Mutex> pool_mu_;
  uint64_t batch_memory_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  LoaderStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace medfs::loader
