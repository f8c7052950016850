#include "chunkserver/mapping_arena.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace medfs::chunkserver {
namespace {

constexpr size_t kSlotAlignment = 2u << 20;
constexpr int kReservedProtection = PROT_NONE;
constexpr int kReservedFlags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;

size_t PageBytes() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// The whole pages covering [offset, offset+length) of a `size`-byte
// mapping: [first, end), first page-aligned, end clipped to `size`.
struct PageSpan {
  uint64_t first, end;
};
PageSpan PagesCovering(uint64_t offset, uint64_t length, size_t size) {
  const size_t page = PageBytes();
  return PageSpan{offset / page * page, std::min<uint64_t>(offset + length, size)};
}

}  // namespace

// ----------------------------------------------------------- MappedFile

MappedFile::~MappedFile() { arena_->Release(slot_); }

bool MappedFile::Resident(uint64_t offset, uint64_t length) const {
  if (length == 0) return true;
  if (offset > size_ || length > size_ - offset) return false;
  const auto [first, end] = PagesCovering(offset, length, size_);
  const size_t pages = (end - first + PageBytes() - 1) / PageBytes();
  // One byte per page; a READ covers at most 4 MiB + one 64 KiB block
  // (1,040 pages of 4 KiB): no allocation on that path.
  constexpr size_t kMaxPagesOnStack = 2048;
  unsigned char on_stack[kMaxPagesOnStack];
  std::vector<unsigned char> on_heap;
  unsigned char* vec = on_stack;
  if (pages > kMaxPagesOnStack) {
    on_heap.resize(pages);
    vec = on_heap.data();
  }
  if (mincore(const_cast<char*>(data_) + first, end - first, vec) != 0) {
    return false;
  }
  for (size_t i = 0; i < pages; ++i) {
    if ((vec[i] & 1) == 0) return false;
  }
  return true;
}

void MappedFile::DropPages(uint64_t offset, uint64_t length) const {
  if (length == 0 || offset >= size_) return;
  const auto [first, end] = PagesCovering(offset, length, size_);
  madvise(const_cast<char*>(data_) + first, end - first, MADV_DONTNEED);
}

// ---------------------------------------------------------- MappingArena

absl::StatusOr<std::unique_ptr<MappingArena>> MappingArena::Reserve(
    size_t slot_bytes, size_t slots) {
  if (slot_bytes == 0 || slots == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mapping arena: ", slots, " slots of ", slot_bytes, " bytes"));
  }
  slot_bytes = (slot_bytes + kSlotAlignment - 1) / kSlotAlignment * kSlotAlignment;
  const size_t total = slot_bytes * slots;
  void* base = mmap(nullptr, total, kReservedProtection, kReservedFlags, -1, 0);
  if (base == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrCat("mapping arena: reserving ", total, " bytes of address space: ",
                     std::strerror(errno)));
  }
  return std::unique_ptr<MappingArena>(
      new MappingArena(static_cast<char*>(base), slot_bytes, slots));
}

MappingArena::MappingArena(char* base, size_t slot_bytes, size_t slots)
    : base_(base), slot_bytes_(slot_bytes), slots_(slots) {
  free_.reserve(slots);
  for (size_t i = slots; i > 0; --i) free_.push_back(i - 1);
}

MappingArena::~MappingArena() {
  {
    absl::MutexLock lock(&mu_);
    if (free_.size() != slots_) {
      MEDFS_LOG(FATAL) << "mapping arena destroyed with "
                       << slots_ - free_.size() << " files still mapped";
    }
  }
  munmap(base_, size());
}

absl::StatusOr<std::unique_ptr<MappedFile>> MappingArena::Map(
    int fd, size_t length, const char* what) {
  if (length == 0 || length > slot_bytes_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mapping ", what, ": ", length, " bytes, a slot holds ", slot_bytes_));
  }
  size_t slot = 0;
  {
    absl::MutexLock lock(&mu_);
    if (free_.empty()) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "mapping ", what, ": all ", slots_, " slots of the arena in use"));
    }
    slot = free_.back();
    free_.pop_back();
  }
  char* at = base_ + slot * slot_bytes_;
  void* mapped = mmap(at, length, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
  if (mapped == MAP_FAILED) {
    const int error = errno;
    Release(slot);
    return absl::InternalError(
        absl::StrCat("mapping ", what, ": mmap: ", std::strerror(error)));
  }
  return std::unique_ptr<MappedFile>(new MappedFile(this, slot, at, length));
}

size_t MappingArena::mapped_count() const {
  absl::MutexLock lock(&mu_);
  return slots_ - free_.size();
}

void MappingArena::Release(size_t slot) {
  char* at = base_ + slot * slot_bytes_;
  // Replace the file's pages with the reservation again (MAP_FIXED over our
  // own range), so the slot never points at a stale file.
  if (mmap(at, slot_bytes_, kReservedProtection, kReservedFlags | MAP_FIXED,
           -1, 0) == MAP_FAILED) {
    MEDFS_LOG(FATAL) << "mapping arena: returning slot " << slot << ": "
                     << std::strerror(errno);
  }
  absl::MutexLock lock(&mu_);
  free_.push_back(slot);
}

}  // namespace medfs::chunkserver
