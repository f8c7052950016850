// The loader's I/O stage: where the Pixel Data bytes of an instance come
// from. Two implementations: LocalPixelSource (a folder of DICOM files;
// tests, benchmarks, the local-limit baseline) and ClusterPixelSource
// (medfs chunkservers through the client library, straight into
// registered buffers, without FUSE).
//
// Thread safety: implementations are thread safe; many workers call Fetch
// at once, each with its own IoBuffer.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/proto/medfs.pb.h"

namespace medfs::loader {

// A long-lived, page-aligned byte buffer owned by one worker, reused for
// every instance it reads (first-touch page faults are expensive).
class IoBuffer {
 public:
  IoBuffer() = default;
  ~IoBuffer() { std::free(data_); }
  IoBuffer(const IoBuffer&) = delete;
  IoBuffer& operator=(const IoBuffer&) = delete;

  // Allocates `capacity` bytes (rounded up to 4 KiB) and touches them.
  // Any earlier allocation is freed; sources must be told again
  // (PixelSource::Prepare). kResourceExhausted when allocation fails.
  absl::Status Allocate(size_t capacity);

  std::byte* data() const { return data_; }
  size_t capacity() const { return capacity_; }
  // Bytes of the last Fetch.
  size_t size() const { return size_; }
  void set_size(size_t size) { size_ = size; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }

 private:
  std::byte* data_ = nullptr;
  size_t capacity_ = 0;
  size_t size_ = 0;
};

class PixelSource {
 public:
  virtual ~PixelSource() = default;

  // Makes `buffer` usable by Fetch (the cluster source registers it with
  // the fabric). Called once per buffer after Allocate.
  virtual absl::Status Prepare(IoBuffer* buffer) { return absl::OkStatus(); }

  // Reads the Pixel Data value of `record` (pixel_data_offset/length of
  // its stored file) into `buffer`, setting buffer->size().
  // Errors: kFailedPrecondition (the record has no pixel data location, or
  // the buffer is too small), kNotFound (file gone), kUnavailable (no
  // replica answered), kDataLoss (every replica failed its checksum),
  // kInvalidArgument (short read: the file is shorter than the record).
  virtual absl::Status Fetch(const v1::DicomInstance& record,
                             IoBuffer* buffer) = 0;

  // Workers worth running when LoaderOptions.threads is 0 (beyond the
  // hardware threads): network sources want more reads in flight.
  virtual uint32_t PreferredWorkers() const { return 0; }

  // For logs and stats: "local:/path" or "medfs:host:port/dataset".
  virtual std::string Describe() const = 0;
};

// Files under `root`; record.path is relative to it.
std::unique_ptr<PixelSource> NewLocalPixelSource(std::string root);

}  // namespace medfs::loader
