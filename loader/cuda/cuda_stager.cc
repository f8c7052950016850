#include "loader/cuda/cuda_stager.h"

#include <cuda_runtime.h>

#include <mutex>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace medfs::loader {
namespace {

absl::Status Cuda(cudaError_t e, absl::string_view what) {
  if (e == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", cudaGetErrorString(e)));
}

}  // namespace

absl::Status CudaAvailable() {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "device='cuda': no usable CUDA device (",
        e == cudaSuccess ? "none found" : cudaGetErrorString(e), ")"));
  }
  return absl::OkStatus();
}

struct CudaStager::Impl {
  int device = 0;
  size_t max_bytes = 0;
  cudaStream_t stream = nullptr;
  absl::flat_hash_set<const void*> registered;  // page-locked host buffers
  // Device staging buffer of raw-frames batches: only the stream uses it,
  // so stream order alone keeps a copy from overwriting a running kernel.
  void* staging = nullptr;
  size_t staging_bytes = 0;
  std::mutex pool_mu;  // output buffers come back from torch on any thread
  // Free output buffers, each with the event recorded on the default
  // stream when it came back (torch work that read it precedes it).
  std::vector<std::pair<void*, cudaEvent_t>> free_buffers;  // guarded by pool_mu
  std::vector<void*> all_buffers;       // guarded by pool_mu
  std::vector<cudaEvent_t> all_events;  // guarded by pool_mu; one per buffer
  // Events of in-flight uploads, keyed by device buffer.
  std::vector<std::pair<void*, cudaEvent_t>> events;

  ~Impl() {
    if (stream) cudaStreamSynchronize(stream);
    for (auto& [p, e] : events) cudaEventDestroy(e);
    for (cudaEvent_t e : all_events) cudaEventDestroy(e);
    for (void* p : all_buffers) cudaFree(p);
    if (staging) cudaFree(staging);
    for (const void* h : registered) cudaHostUnregister(const_cast<void*>(h));
    if (stream) cudaStreamDestroy(stream);
  }

  cudaEvent_t EventFor(void* buffer) {
    for (auto& [p, e] : events) if (p == buffer) return e;
    cudaEvent_t e = nullptr;
    cudaEventCreateWithFlags(&e, cudaEventDisableTiming);
    events.push_back({buffer, e});
    return e;
  }

  // Pooled host batch buffers: pin once (unpinned copies still work, only
  // slower and not asynchronous).
  void Pin(const void* host, size_t bytes) {
    if (registered.contains(host)) return;
    if (cudaHostRegister(const_cast<void*>(host), bytes, cudaHostRegisterDefault) == cudaSuccess) {
      registered.insert(host);
    } else {
      cudaGetLastError();
    }
  }

  // A free device output buffer; the stream waits for the default-stream
  // work that used it last.
  absl::StatusOr<void*> TakeOutput() {
    void* buffer = nullptr;
    cudaEvent_t released = nullptr;
    {
      std::lock_guard<std::mutex> lock(pool_mu);
      if (!free_buffers.empty()) {
        std::tie(buffer, released) = free_buffers.back();
        free_buffers.pop_back();
      }
    }
    if (buffer != nullptr) {
      if (absl::Status s = Cuda(cudaStreamWaitEvent(stream, released, 0),
                                "waiting for a device batch buffer's last reader");
          !s.ok()) {
        return s;
      }
      return buffer;
    }
    if (absl::Status s = Cuda(cudaMalloc(&buffer, max_bytes), "allocating a device batch buffer");
        !s.ok()) {
      return s;
    }
    cudaEvent_t e = nullptr;
    if (absl::Status s = Cuda(cudaEventCreateWithFlags(&e, cudaEventDisableTiming),
                              "creating a buffer event");
        !s.ok()) {
      cudaFree(buffer);
      return s;
    }
    std::lock_guard<std::mutex> lock(pool_mu);
    all_buffers.push_back(buffer);
    all_events.push_back(e);
    return buffer;
  }

  // REQUIRES: pool_mu held.
  cudaEvent_t ReleaseEventOf(void* buffer) {
    for (size_t i = 0; i < all_buffers.size(); ++i) {
      if (all_buffers[i] == buffer) return all_events[i];
    }
    return nullptr;
  }
};

CudaStager::CudaStager(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaStager::~CudaStager() = default;

absl::StatusOr<std::unique_ptr<CudaStager>> CudaStager::Create(int device, size_t max_bytes) {
  if (absl::Status s = CudaAvailable(); !s.ok()) return s;
  auto impl = std::make_shared<Impl>();
  impl->device = device;
  impl->max_bytes = max_bytes;
  if (absl::Status s = Cuda(cudaSetDevice(device), absl::StrCat("selecting CUDA device ", device));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Cuda(cudaStreamCreateWithFlags(&impl->stream, cudaStreamNonBlocking),
                            "creating the copy stream");
      !s.ok()) {
    return s;
  }
  return std::unique_ptr<CudaStager>(new CudaStager(std::move(impl)));
}

absl::StatusOr<CudaStager::PendingUpload> CudaStager::Start(const void* host, size_t bytes) {
  Impl& m = *impl_;
  if (bytes > m.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("upload of ", bytes, " bytes exceeds ", m.max_bytes));
  }
  cudaSetDevice(m.device);
  m.Pin(host, m.max_bytes);
  ASSIGN_OR_RETURN(void* buffer, m.TakeOutput());
  RETURN_IF_ERROR(Cuda(cudaMemcpyAsync(buffer, host, bytes, cudaMemcpyHostToDevice, m.stream),
                       "copying a batch to the device"));
  cudaEvent_t done = m.EventFor(buffer);
  RETURN_IF_ERROR(Cuda(cudaEventRecord(done, m.stream), "recording a batch event"));
  return Handed(impl_, buffer);
}

absl::StatusOr<CudaStager::PendingUpload> CudaStager::StartRaw(const void* host, size_t bytes,
                                                               uint32_t count,
                                                               const TransformOptions& o) {
  Impl& m = *impl_;
  if (size_t{count} * o.image_bytes() > m.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("a batch of ", count, " images of ",
                                                   o.image_bytes(), " bytes exceeds ",
                                                   m.max_bytes));
  }
  cudaSetDevice(m.device);
  m.Pin(host, bytes);
  if (m.staging_bytes < bytes) {  // sized by the first batch (all are equal)
    if (m.staging) {
      RETURN_IF_ERROR(Cuda(cudaStreamSynchronize(m.stream), "draining the stream"));
      cudaFree(m.staging);
      m.staging = nullptr;
      m.staging_bytes = 0;
    }
    RETURN_IF_ERROR(Cuda(cudaMalloc(&m.staging, bytes), "allocating the device staging buffer"));
    m.staging_bytes = bytes;
  }
  ASSIGN_OR_RETURN(void* out, m.TakeOutput());
  RETURN_IF_ERROR(Cuda(cudaMemcpyAsync(m.staging, host, bytes, cudaMemcpyHostToDevice, m.stream),
                       "copying raw frames to the device"));
  RETURN_IF_ERROR(TransformRawBatchOnDevice(m.staging, count, o, out, m.stream));
  cudaEvent_t done = m.EventFor(out);
  RETURN_IF_ERROR(Cuda(cudaEventRecord(done, m.stream), "recording a batch event"));
  return Handed(impl_, out);
}

// The handle of an output buffer: back to the pool when torch drops it,
// with an event on the default stream marking the end of its readers.
CudaStager::PendingUpload CudaStager::Handed(std::shared_ptr<Impl> impl, void* buffer) {
  PendingUpload u;
  u.device = buffer;
  u.keep_alive = std::shared_ptr<void>(buffer, [impl](void* p) {
    std::lock_guard<std::mutex> lock(impl->pool_mu);
    cudaEvent_t released = impl->ReleaseEventOf(p);
    cudaSetDevice(impl->device);
    cudaEventRecord(released, nullptr);  // after what the default stream has queued
    impl->free_buffers.push_back({p, released});
  });
  return u;
}

absl::Status CudaStager::Wait(const PendingUpload& u) {
  return Cuda(cudaEventSynchronize(impl_->EventFor(u.device)), "waiting for a batch copy");
}

absl::StatusOr<std::shared_ptr<void>> CudaStager::Upload(const void* host, size_t bytes,
                                                         void** device_ptr) {
  auto u = Start(host, bytes);
  if (!u.ok()) return u.status();
  if (absl::Status s = Wait(*u); !s.ok()) return s;
  *device_ptr = u->device;
  return u->keep_alive;
}

}  // namespace medfs::loader
