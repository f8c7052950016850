// The DLPack C ABI (v0.x, the version torch.utils.dlpack.from_dlpack of
// torch 1.13 consumes), declared here from the published specification so
// the module needs no third-party header. A DLManagedTensor travels in a
// PyCapsule named "dltensor"; the consumer renames it "used_dltensor" and
// calls `deleter` when the tensor dies.
#pragma once

#include <cstdint>

namespace medfs::loader::dlpack {

enum DeviceType : int32_t { kCPU = 1, kCUDA = 2, kCUDAHost = 3 };
enum TypeCode : uint8_t { kInt = 0, kUInt = 1, kFloat = 2 };

struct Device {
  int32_t device_type;
  int32_t device_id;
};

struct DataType {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
};

struct Tensor {
  void* data;
  Device device;
  int32_t ndim;
  DataType dtype;
  int64_t* shape;
  int64_t* strides;  // null: compact row-major
  uint64_t byte_offset;
};

struct ManagedTensor {
  Tensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(ManagedTensor* self);
};

}  // namespace medfs::loader::dlpack
