// The loader's GPU path (built with MEDFS_WITH_CUDA).
//
// CudaStager moves batches to the GPU: each pooled host batch buffer is
// page-locked once (cudaHostRegister, then reused), copies run
// asynchronously on the stager's own stream into pooled device buffers, and
// the caller overlaps the copy of batch k+1 with training on batch k
// (Start returns at once; Wait waits on that batch's event).
//
// Two kinds of batch:
//  - Start: finished images (the CPU transformed them): copied as they are.
//  - StartRaw: a raw-frames batch (StageOutput::kRawFrames: decoded frames
//    + a RawFrame table) is copied into a device staging buffer and one
//    kernel launch windows, resizes, normalises and converts the whole
//    batch into a pooled device output buffer, all on the stream.
// A device output buffer handed out (keep_alive) returns to the pool when
// its last reference dies; before it is written again the stream waits
// for the work queued on the default stream up to that moment (torch's
// kernels that read it).
//
// Device transforms (TransformOnDevice, TransformRawBatchOnDevice):
// modality LUT + VOI window, MONOCHROME1 inversion, area/bilinear resize,
// normalisation and output type as one CUDA kernel, the same as
// Transformer (CPU) up to float rounding.
//
// Thread safety: a CudaStager is used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "loader/decode/image.h"
#include "loader/transform/transform.h"

namespace medfs::loader {

// kFailedPrecondition when no CUDA device is usable (message says why).
absl::Status CudaAvailable();

class CudaStager {
 public:
  // A device buffer holding one uploaded batch; returns to the pool when
  // the last reference dies.
  struct PendingUpload {
    void* device = nullptr;
    std::shared_ptr<void> keep_alive;  // owns the device buffer slot
  };

  static absl::StatusOr<std::unique_ptr<CudaStager>> Create(int device, size_t max_bytes);
  ~CudaStager();

  // Starts copying `bytes` of `host` (a pooled, long-lived buffer: it is
  // page-locked on first use) to device memory. kInternal on CUDA errors.
  absl::StatusOr<PendingUpload> Start(const void* host, size_t bytes);
  // Waits until the copy of `upload` is complete.
  absl::Status Wait(const PendingUpload& upload);

  // Starts copying the raw-frames batch `host` (`bytes` in use: RawFrame
  // table of `count` entries + frame slots; a pooled buffer, page-locked on
  // first use) to the device and transforming it there into `count`
  // images of `options` (options.image_bytes() each). kInvalidArgument
  // when the output exceeds max_bytes; kInternal on CUDA errors.
  absl::StatusOr<PendingUpload> StartRaw(const void* host, size_t bytes, uint32_t count,
                                         const TransformOptions& options);

  // Start + Wait, for callers that do not overlap.
  absl::StatusOr<std::shared_ptr<void>> Upload(const void* host, size_t bytes,
                                               void** device_ptr);

 private:
  struct Impl;
  explicit CudaStager(std::shared_ptr<Impl> impl);
  static PendingUpload Handed(std::shared_ptr<Impl> impl, void* buffer);
  std::shared_ptr<Impl> impl_;  // shared with buffers torch still holds
};

// Windowing/resize/normalise on the device: `src` is a device pointer to
// one grey frame of `type` (rows x columns), `out` a device pointer to the
// output image (options.channels x height x width of options.dtype).
// `stream` is a cudaStream_t (nullptr: the default stream).
absl::Status TransformOnDevice(const void* src, PixelType type, uint32_t rows,
                               uint32_t columns, const ImageInfo& info,
                               bool monochrome1, const TransformOptions& options,
                               void* out, void* stream);

// The raw-batch kernel: `raw` is a device copy of a raw-frames batch
// buffer (RawFrame table at its start, offsets relative to it), `out` the
// device output [count, channels, height, width] of options.dtype. A frame
// with rows = 0 gives zeros. Asynchronous on `stream`.
absl::Status TransformRawBatchOnDevice(const void* raw, uint32_t count,
                                       const TransformOptions& options, void* out,
                                       void* stream);

}  // namespace medfs::loader
