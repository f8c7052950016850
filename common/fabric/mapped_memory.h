// Page-aligned anonymous memory, pre-faulted once (MAP_POPULATE), unmapped
// on destruction. Used for the endpoint's message buffers and BufferPool:
// first-touch page faults are slow, so buffers are faulted in up front and
// reused, never allocated per request.
//
// Thread compatible (a value type with unique ownership).
#pragma once

#include <cstddef>

#include "absl/status/statusor.h"

namespace medfs::fabric {

class MappedMemory {
 public:
  // Maps at least `bytes` (rounded up to the page size). Returns
  // kResourceExhausted naming the size when mmap fails.
  static absl::StatusOr<MappedMemory> Allocate(size_t bytes);

  MappedMemory() = default;
  MappedMemory(MappedMemory&& other) noexcept;
  MappedMemory& operator=(MappedMemory&& other) noexcept;
  MappedMemory(const MappedMemory&) = delete;
  MappedMemory& operator=(const MappedMemory&) = delete;
  ~MappedMemory();

  char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  MappedMemory(char* data, size_t size) : data_(data), size_(size) {}
  void Reset();

  char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace medfs::fabric
