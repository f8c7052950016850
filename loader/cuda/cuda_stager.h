// The loader's GPU path (built with MEDFS_WITH_CUDA).
//
// CudaStager moves finished batches to the GPU: each pooled host batch
// buffer is page-locked once (cudaHostRegister, then reused), copies run
// asynchronously on the stager's own stream into pooled device buffers, and
// the caller overlaps the copy of batch k+1 with training on batch k
// (Upload returns at once; Ready waits on that batch's event).
//
// Device transforms (TransformOnDevice): modality LUT + VOI window,
// MONOCHROME1 inversion, area/bilinear resize, normalisation and output
// type as one CUDA kernel, numerically the same as Transformer (CPU) up to
// float rounding; used for the GPU check and for raw-pixel batches.
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

  // Start + Wait, for callers that do not overlap.
  absl::StatusOr<std::shared_ptr<void>> Upload(const void* host, size_t bytes,
                                               void** device_ptr);

 private:
  struct Impl;
  explicit CudaStager(std::shared_ptr<Impl> impl);
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

}  // namespace medfs::loader
