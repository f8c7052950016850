#include "loader/cuda/cuda_stager.h"

#include <cuda_runtime.h>

#include <mutex>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

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
  std::mutex pool_mu;                           // device buffers come back from torch
  std::vector<void*> free_buffers;
  std::vector<void*> all_buffers;
  // Events of in-flight uploads, keyed by device buffer.
  std::vector<std::pair<void*, cudaEvent_t>> events;

  ~Impl() {
    if (stream) cudaStreamSynchronize(stream);
    for (auto& [p, e] : events) cudaEventDestroy(e);
    for (void* p : all_buffers) cudaFree(p);
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
  if (!m.registered.contains(host)) {  // pooled batch buffers: pin once
    if (cudaHostRegister(const_cast<void*>(host), m.max_bytes, cudaHostRegisterDefault) == cudaSuccess) {
      m.registered.insert(host);
    } else {
      cudaGetLastError();  // unpinned copies still work, only slower
    }
  }
  void* buffer = nullptr;
  {
    std::lock_guard<std::mutex> lock(m.pool_mu);
    if (!m.free_buffers.empty()) {
      buffer = m.free_buffers.back();
      m.free_buffers.pop_back();
    }
  }
  if (buffer == nullptr) {
    if (absl::Status s = Cuda(cudaMalloc(&buffer, m.max_bytes), "allocating a device batch buffer");
        !s.ok()) {
      return s;
    }
    m.all_buffers.push_back(buffer);
  }
  if (absl::Status s = Cuda(cudaMemcpyAsync(buffer, host, bytes, cudaMemcpyHostToDevice, m.stream),
                            "copying a batch to the device");
      !s.ok()) {
    return s;
  }
  cudaEventRecord(m.EventFor(buffer), m.stream);
  PendingUpload u;
  u.device = buffer;
  std::shared_ptr<Impl> impl = impl_;
  u.keep_alive = std::shared_ptr<void>(buffer, [impl](void* p) {
    std::lock_guard<std::mutex> lock(impl->pool_mu);
    impl->free_buffers.push_back(p);
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
