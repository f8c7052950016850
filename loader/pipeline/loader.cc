#include "loader/pipeline/loader.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status.h"
#include "loader/decode/decoder.h"

namespace medfs::loader {

// Per-thread resources, reused for every sample: the registered I/O
// buffer (a read lands there while other workers use the CPU) and the
// series assembly buffers.
class Loader::Worker {
 public:
  IoBuffer io;
  std::vector<float> slices;  // series: count x C x H x W
  std::vector<float> volume;  // series: D x C x H x W
  uint64_t bytes_read = 0;
  // ScratchBytes() as of the last sample, readable from any thread.
  std::atomic<size_t> scratch_bytes{0};

  size_t ScratchBytes() const {
    return io.capacity() + (slices.capacity() + volume.capacity()) * sizeof(float);
  }
};

// Decode/transform scratch, one per CPU turn (LoaderOptions.cpu_threads):
// reused by whichever worker holds the turn, so it stays in cache.
struct Loader::CpuSlot {
  CpuSlot() { decoder.set_zero_copy(true); }  // native pixels used in place
  Decoder decoder;
  Transformer transformer;
  DecodedImage image;
  std::atomic<size_t> scratch_bytes{0};  // image buffer, as of the last turn
};

// Holds a CPU turn for its lifetime.
class Loader::SlotLease {
 public:
  explicit SlotLease(Loader* loader) : loader_(loader), slot_(loader->AcquireSlot()) {}
  ~SlotLease() { loader_->ReleaseSlot(slot_); }
  SlotLease(const SlotLease&) = delete;
  SlotLease& operator=(const SlotLease&) = delete;
  CpuSlot* operator->() const { return slot_; }
  CpuSlot* get() const { return slot_; }

 private:
  Loader* loader_;
  CpuSlot* slot_;
};

namespace {

ImageInfo InfoOf(const Catalog& c, uint32_t i) {
  ImageInfo info = ImageInfoFromRecord(c.records[i]);
  info.planar_configuration = c.planar_configuration.empty() ? 0 : c.planar_configuration[i];
  return info;
}

}  // namespace

Loader::Loader(Catalog catalog, std::shared_ptr<PixelSource> source,
               const LoaderOptions& options)
    : catalog_(std::move(catalog)),
      source_(std::move(source)),
      options_(options),
      sampler_(0, options.sampler),
      pool_(std::make_shared<std::vector<std::unique_ptr<BatchMemory>>>()),
      pool_mu_(std::make_shared<absl::Mutex>()) {}

absl::StatusOr<std::unique_ptr<Loader>> Loader::Create(
    Catalog catalog, std::shared_ptr<PixelSource> source,
    const LoaderOptions& options) {
  RETURN_IF_ERROR(ValidateTransformOptions(options.transform));
  RETURN_IF_ERROR(DistributedSampler::Validate(options.sampler));
  if (options.batch_size == 0 || options.prefetch == 0 || options.depth == 0) {
    return absl::InvalidArgumentError("batch_size, prefetch and depth must be positive");
  }
  if (catalog.records.empty()) {
    return absl::FailedPreconditionError("creating loader: no instances match");
  }
  if (options.output == StageOutput::kRawFrames && options.sample != SampleKind::kSlice) {
    return absl::InvalidArgumentError("raw-frame batches (GPU transforms) need sample='slice'");
  }
  std::unique_ptr<Loader> l(new Loader(std::move(catalog), std::move(source), options));
  l->samples_ = BuildSamples(l->catalog_.records, options.sample);
  if (!options.labels_csv.empty()) {
    ASSIGN_OR_RETURN(LabelTable table, LabelTable::Load(options.labels_csv));
    ASSIGN_OR_RETURN(l->missing_labels_, AttachLabels(table, l->catalog_.records,
                                                      options.sample, &l->samples_));
  }
  for (const auto& r : l->catalog_.records) {
    l->max_pixel_bytes_ = std::max<size_t>(l->max_pixel_bytes_, r.pixel_data_length());
    if (options.output == StageOutput::kRawFrames) {
      l->raw_slot_bytes_ = std::max(l->raw_slot_bytes_, ImageInfoFromRecord(r).frame_bytes());
    }
  }
  l->raw_slot_bytes_ = (l->raw_slot_bytes_ + 255) / 256 * 256;
  const uint32_t turns = options.cpu_threads ? options.cpu_threads
                                             : std::max(1u, std::thread::hardware_concurrency());
  for (uint32_t i = 0; i < turns; ++i) {
    l->slots_.push_back(std::make_unique<CpuSlot>());
    absl::MutexLock lock(&l->slot_mu_);
    l->free_slots_.push_back(l->slots_.back().get());
  }
  l->sampler_ = DistributedSampler(l->samples_.size(), options.sampler);
  l->sampler_.SetEpoch(0);
  return l;
}

Loader::~Loader() { Stop(); }

size_t Loader::raw_header_bytes() const {
  return (options_.batch_size * sizeof(RawFrame) + 255) / 256 * 256;
}

size_t Loader::BatchBytes() const {
  if (options_.output == StageOutput::kRawFrames) {
    return raw_header_bytes() + raw_slot_bytes_ * options_.batch_size;
  }
  return SampleBytes() * options_.batch_size;
}

size_t Loader::SampleBytes() const {
  size_t bytes = options_.transform.image_bytes();
  return options_.sample == SampleKind::kSeries ? bytes * options_.depth : bytes;
}

uint64_t Loader::rank_samples() const {
  DistributedSampler fresh(samples_.size(), options_.sampler);
  fresh.SetEpoch(sampler_.epoch());
  return fresh.RankIndices().size();
}

std::shared_ptr<BatchMemory> Loader::AllocateBatch() {
  std::unique_ptr<BatchMemory> memory;
  {
    absl::MutexLock lock(pool_mu_.get());
    if (!pool_->empty()) {
      memory = std::move(pool_->back());
      pool_->pop_back();
    }
  }
  const size_t bytes = BatchBytes();
  if (!memory) {
    memory = std::make_unique<BatchMemory>();
    batch_memory_bytes_ += bytes;
  }
  memory->bytes.resize(bytes);
  auto pool = pool_;
  auto pool_mu = pool_mu_;
  return std::shared_ptr<BatchMemory>(memory.release(), [pool, pool_mu](BatchMemory* m) {
    absl::MutexLock lock(pool_mu.get());
    pool->emplace_back(m);
  });
}

void Loader::Start() {
  if (started_) return;
  order_ = sampler_.RankIndices();
  consumed_batches_base_ = sampler_.cursor();
  {
    absl::MutexLock lock(&mu_);
    stop_ = false;
    next_task_ = 0;
    consumed_ = 0;
    pending_.clear();
  }
  uint32_t n = options_.threads ? options_.threads
                                : std::max({1u, std::thread::hardware_concurrency(),
                                            source_->PreferredWorkers()});
  while (workers_.size() < n) workers_.push_back(std::make_unique<Worker>());
  for (uint32_t i = 0; i < n; ++i) {
    threads_.emplace_back([this, w = workers_[i].get()] { WorkerLoop(w); });
  }
  started_ = true;
}

void Loader::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  absl::MutexLock lock(&mu_);
  pending_.clear();
  started_ = false;
}

Loader::CpuSlot* Loader::AcquireSlot() {
  absl::MutexLock lock(&slot_mu_);
  auto free = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(slot_mu_) { return !free_slots_.empty(); };
  slot_mu_.Await(absl::Condition(&free));
  CpuSlot* slot = free_slots_.back();
  free_slots_.pop_back();
  return slot;
}

void Loader::ReleaseSlot(CpuSlot* slot) {
  slot->scratch_bytes.store(slot->image.data.capacity(), std::memory_order_relaxed);
  absl::MutexLock lock(&slot_mu_);
  free_slots_.push_back(slot);
}

absl::Status Loader::Fetch(Worker* w, uint32_t instance) {
  const v1::DicomInstance& record = catalog_.records[instance];
  if (w->io.capacity() < max_pixel_bytes_) {
    RETURN_IF_ERROR(w->io.Allocate(max_pixel_bytes_));
    RETURN_IF_ERROR(source_->Prepare(&w->io));
  }
  RETURN_IF_ERROR(source_->Fetch(record, &w->io));
  w->bytes_read += w->io.size();
  return absl::OkStatus();
}

// The decoded image may refer to w->io (zero copy): use it before the
// worker's next Fetch.
absl::Status Loader::Decode(Worker* w, CpuSlot* slot, uint32_t instance,
                            std::optional<uint32_t> frame) {
  return slot->decoder.Decode(InfoOf(catalog_, instance), w->io.bytes(), frame, &slot->image);
}

absl::Status Loader::ProcessSample(Worker* w, const Sample& s, std::byte* out) {
  const TransformOptions& t = options_.transform;
  if (options_.sample == SampleKind::kSlice) {
    RETURN_IF_ERROR(Fetch(w, s.instances[0]));
    SlotLease slot(this);
    RETURN_IF_ERROR(Decode(w, slot.get(), s.instances[0], s.frame));
    slot->transformer.Apply(slot->image, 0, InfoOf(catalog_, s.instances[0]), t, out);
    return absl::OkStatus();
  }
  const size_t plane = size_t{t.channels} * t.height * t.width;
  const size_t count = s.frames > 1 ? s.frames : s.instances.size();
  w->slices.resize(count * plane);
  if (s.frames > 1) {
    RETURN_IF_ERROR(Fetch(w, s.instances[0]));
    SlotLease slot(this);
    RETURN_IF_ERROR(Decode(w, slot.get(), s.instances[0], std::nullopt));
    ImageInfo info = InfoOf(catalog_, s.instances[0]);
    for (uint32_t f = 0; f < s.frames; ++f) {
      slot->transformer.ApplyFloat(slot->image, f, info, t, w->slices.data() + f * plane);
    }
  } else {
    for (size_t k = 0; k < count; ++k) {
      RETURN_IF_ERROR(Fetch(w, s.instances[k]));
      SlotLease slot(this);
      RETURN_IF_ERROR(Decode(w, slot.get(), s.instances[k], 0));
      slot->transformer.ApplyFloat(slot->image, 0, InfoOf(catalog_, s.instances[k]), t,
                                   w->slices.data() + k * plane);
    }
  }
  SlotLease turn(this);  // resampling and output conversion use the CPU too
  w->volume.resize(size_t{options_.depth} * plane);
  ResampleDepth(w->slices.data(), s.positions, plane, options_.depth, w->volume.data());
  const size_t hw = size_t{t.height} * t.width;
  const size_t elem = OutputTypeSize(t.dtype);
  for (uint32_t d = 0; d < options_.depth; ++d) {
    Transformer::Finish(w->volume.data() + d * plane, t, size_t{options_.depth} * hw,
                        out + d * hw * elem);
  }
  return absl::OkStatus();
}

absl::Status Loader::StageRawFrame(Worker* w, const Sample& s, std::byte* batch,
                                   uint32_t index) {
  auto* table = reinterpret_cast<RawFrame*>(batch);
  table[index] = RawFrame{};  // a failed sample stays rows = 0 (zeros)
  RETURN_IF_ERROR(Fetch(w, s.instances[0]));
  SlotLease slot(this);
  RETURN_IF_ERROR(Decode(w, slot.get(), s.instances[0], s.frame));
  const DecodedImage& image = slot->image;
  const ImageInfo info = InfoOf(catalog_, s.instances[0]);
  if (image.frame_bytes() > raw_slot_bytes_) {
    return absl::InternalError(absl::StrCat("staging ", s.uid, ": frame of ",
                                            image.frame_bytes(), " bytes exceeds its slot"));
  }
  RawFrame f;
  f.offset = raw_header_bytes() + size_t{index} * raw_slot_bytes_;
  f.rows = image.rows;
  f.columns = image.columns;
  f.samples_per_pixel = image.samples_per_pixel;
  f.pixel_type = static_cast<uint32_t>(image.type);
  if (image.samples_per_pixel == 1) {
    auto [a, b] = GreyCoefficients(image, 0, info, options_.transform);
    f.a = static_cast<float>(a);
    f.b = static_cast<float>(b);
  } else {  // as the CPU transform: scaled by the largest stored value
    uint32_t bits = info.bits_stored ? info.bits_stored
                                     : 8 * static_cast<uint32_t>(PixelTypeSize(image.type));
    f.a = 1.0f / static_cast<float>((uint64_t{1} << std::min(bits, 31u)) - 1);
  }
  std::memcpy(batch + f.offset, image.frame(0), image.frame_bytes());
  table[index] = f;
  return absl::OkStatus();
}

void Loader::WorkerLoop(Worker* w) {
  const uint64_t bs = options_.batch_size;
  const size_t sample_bytes = SampleBytes();
  while (true) {
    uint64_t position, batch;
    std::byte* base;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || (next_task_ < order_.size() &&
                         next_task_ / bs < consumed_ + options_.prefetch);
      };
      mu_.Await(absl::Condition(&ready));
      if (stop_) return;
      position = next_task_++;
      batch = position / bs;
      Pending& p = pending_[batch];
      if (!p.memory) {
        p.memory = AllocateBatch();
        p.count = static_cast<uint32_t>(std::min<uint64_t>(bs, order_.size() - batch * bs));
        p.remaining = p.count;
        p.failed.assign(p.count, 0);
      }
      base = p.memory->bytes.data();
    }
    const Sample& sample = samples_[order_[position]];
    uint64_t before = w->bytes_read;
    const uint32_t index = static_cast<uint32_t>(position % bs);
    absl::Status status;
    if (options_.output == StageOutput::kRawFrames) {
      status = StageRawFrame(w, sample, base, index);
    } else {
      std::byte* out = base + index * sample_bytes;
      status = ProcessSample(w, sample, out);
      if (!status.ok()) std::memset(out, 0, sample_bytes);
    }
    w->scratch_bytes.store(w->ScratchBytes(), std::memory_order_relaxed);
    absl::MutexLock lock(&mu_);
    stats_.bytes_read += w->bytes_read - before;
    Pending& p = pending_[batch];
    if (!status.ok()) {
      ++stats_.failures;
      MEDFS_LOG(WARNING) << "sample " << sample.uid << ": " << status.message();
      p.failed[position % bs] = 1;
      p.errors.push_back(absl::StrCat(sample.uid, ": ", status.message()));
      if (p.first_error.ok()) p.first_error = status;
    }
    --p.remaining;
  }
}

Batch Loader::Assemble(uint64_t index, Pending p) {
  const TransformOptions& t = options_.transform;
  const size_t sample_bytes = SampleBytes();
  Batch b;
  b.index = index;
  b.dtype = t.dtype;
  b.errors = std::move(p.errors);
  uint32_t kept = 0;
  for (uint32_t i = 0; i < p.count; ++i) {
    bool drop = p.failed[i] && options_.on_error == OnError::kSkip;
    if (drop) continue;
    if (kept != i && options_.output == StageOutput::kRawFrames) {
      auto* table = reinterpret_cast<RawFrame*>(p.memory->bytes.data());
      table[kept] = table[i];  // the frame stays in its slot
    } else if (kept != i) {
      std::memmove(p.memory->bytes.data() + kept * sample_bytes,
                   p.memory->bytes.data() + i * sample_bytes, sample_bytes);
    }
    uint64_t sample_index = order_[index * options_.batch_size + i];
    const Sample& s = samples_[sample_index];
    b.uids.push_back(s.uid);
    b.sample_indices.push_back(sample_index);
    if (!s.label.empty()) b.labels.push_back(s.label);
    ++kept;
  }
  b.size = kept;
  b.shape = {kept, t.channels};
  if (options_.sample == SampleKind::kSeries) b.shape.push_back(options_.depth);
  b.shape.push_back(t.height);
  b.shape.push_back(t.width);
  b.images = std::move(p.memory);
  if (options_.output == StageOutput::kRawFrames) {
    b.raw_bytes = raw_header_bytes() + size_t{p.count} * raw_slot_bytes_;
  }
  return b;
}

absl::StatusOr<std::optional<Batch>> Loader::Next() {
  if (first_next_ == absl::InfinitePast()) first_next_ = absl::Now();
  Start();
  const uint64_t bs = options_.batch_size;
  const uint64_t total = (order_.size() + bs - 1) / bs;
  Pending pending;
  uint64_t index;
  {
    absl::MutexLock lock(&mu_);
    index = consumed_;
    if (index >= total) return std::nullopt;
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      auto it = pending_.find(index);
      return it != pending_.end() && it->second.remaining == 0;
    };
    absl::Time wait_start = absl::Now();
    mu_.Await(absl::Condition(&done));
    stats_.consumer_wait_seconds += absl::ToDoubleSeconds(absl::Now() - wait_start);
    pending = std::move(pending_[index]);
    pending_.erase(index);
    ++consumed_;
  }
  if (!pending.first_error.ok() && options_.on_error == OnError::kFail) {
    return pending.first_error;
  }
  Batch batch = Assemble(index, std::move(pending));
  absl::MutexLock lock(&mu_);
  stats_.samples += batch.size;
  stats_.batches += 1;
  return std::optional<Batch>(std::move(batch));
}

void Loader::SetEpoch(uint64_t epoch) {
  Stop();
  sampler_.SetEpoch(epoch);
}

SamplerState Loader::State() const {
  absl::MutexLock lock(&mu_);
  uint64_t done = started_ ? std::min<uint64_t>(consumed_ * options_.batch_size, order_.size()) : 0;
  return sampler_.StateAfter(done);
}

absl::Status Loader::Restore(const SamplerState& state) {
  Stop();
  return sampler_.Restore(state);
}

LoaderStats Loader::Stats() const {
  absl::MutexLock lock(&mu_);
  LoaderStats s = stats_;
  s.missing_labels = missing_labels_;
  if (first_next_ != absl::InfinitePast()) {
    s.elapsed_seconds = absl::ToDoubleSeconds(absl::Now() - first_next_);
  }
  if (s.elapsed_seconds > 0) {
    s.samples_per_second = s.samples / s.elapsed_seconds;
    s.bytes_per_second = s.bytes_read / s.elapsed_seconds;
  }
  s.memory_bytes = batch_memory_bytes_;
  for (const auto& w : workers_) s.memory_bytes += w->scratch_bytes.load(std::memory_order_relaxed);
  for (const auto& c : slots_) s.memory_bytes += c->scratch_bytes.load(std::memory_order_relaxed);
  return s;
}

}  // namespace medfs::loader
