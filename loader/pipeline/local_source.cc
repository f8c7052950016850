#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "loader/pipeline/pixel_source.h"

namespace medfs::loader {

absl::Status IoBuffer::Allocate(size_t capacity) {
  capacity = (std::max<size_t>(capacity, 1) + 4095) & ~size_t{4095};
  void* p = std::aligned_alloc(4096, capacity);
  if (p == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("allocating a ", capacity, "-byte I/O buffer"));
  }
  std::memset(p, 0, capacity);  // take the page faults now, not per read
  std::free(data_);
  data_ = static_cast<std::byte*>(p);
  capacity_ = capacity;
  size_ = 0;
  return absl::OkStatus();
}

namespace {

class LocalPixelSource : public PixelSource {
 public:
  explicit LocalPixelSource(std::string root) : root_(std::move(root)) {}

  absl::Status Fetch(const v1::DicomInstance& record, IoBuffer* buffer) override {
    const uint64_t length = record.pixel_data_length();
    std::string path = absl::StrCat(root_, "/", record.path());
    if (length == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "reading pixels of ", path, ": the record has no pixel data location"));
    }
    if (length > buffer->capacity()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "reading pixels of ", path, ": ", length, " bytes exceed the ",
          buffer->capacity(), "-byte buffer"));
    }
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoToStatus(errno, absl::StrCat("opening ", path));
    size_t done = 0;
    while (done < length) {
      ssize_t n = ::pread(fd, buffer->data() + done, length - done,
                          record.pixel_data_offset() + done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int e = errno;
        ::close(fd);
        if (n < 0) return ErrnoToStatus(e, absl::StrCat("reading ", path));
        return absl::InvalidArgumentError(absl::StrCat(
            "reading pixels of ", path, ": file ends at ",
            record.pixel_data_offset() + done, ", record says ",
            record.pixel_data_offset() + length));
      }
      done += static_cast<size_t>(n);
    }
    ::close(fd);
    buffer->set_size(length);
    return absl::OkStatus();
  }

  std::string Describe() const override { return absl::StrCat("local:", root_); }

 private:
  const std::string root_;
};

}  // namespace

std::unique_ptr<PixelSource> NewLocalPixelSource(std::string root) {
  return std::make_unique<LocalPixelSource>(std::move(root));
}

}  // namespace medfs::loader
