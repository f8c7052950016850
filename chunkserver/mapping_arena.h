// MappingArena: one reserved range of address space, cut into equal slots,
// into which the chunk store maps sealed chunk files read-only.
//
// Why: a READ can then send the requested bytes straight from the page
// cache, with no copy into a bounce buffer. The fabric needs every local
// buffer of an RMA registered (FI_MR_LOCAL); registering each mapping would
// cost a registration per chunk opened and a deregistration racing the
// transfers still in flight. Instead the data service registers the whole
// arena once, at start, and chunk files come and go inside it.
//
// Only where registration pins nothing (tcp, shm): registering the arena
// with a provider that pins memory (efa, verbs) fails or would pin every
// mapped chunk, so there the chunkserver copies as before (main.cc).
//
// The address range is reserved PROT_NONE and MAP_NORESERVE: it costs
// address space, not memory. A slot holds one chunk file; a free slot is
// PROT_NONE again.
//
// Thread safety: thread safe. The arena must outlive its MappedFiles.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace medfs::chunkserver {

class MappingArena;

// One file mapped read-only into a slot of the arena. Destroying it unmaps
// the file and frees the slot.
class MappedFile {
 public:
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // The file's first size() bytes.
  const char* data() const { return data_; }
  size_t size() const { return size_; }

  // True when every page of [offset, offset+length) is in the page cache
  // now (mincore), so touching it reads no disk. Only then may a caller
  // read the bytes through the mapping: a disk error under a mapping is
  // SIGBUS, not an error status.
  bool Resident(uint64_t offset, uint64_t length) const;

  // Drops this process's page-table entries for the pages covering
  // [offset, offset+length) (MADV_DONTNEED; the page cache keeps the
  // pages): after a read is sent, so the chunkserver's resident size does
  // not grow with the data it has served. A later read maps them again.
  void DropPages(uint64_t offset, uint64_t length) const;

 private:
  friend class MappingArena;
  MappedFile(MappingArena* arena, size_t slot, const char* data, size_t size)
      : arena_(arena), slot_(slot), data_(data), size_(size) {}

  MappingArena* const arena_;
  const size_t slot_;
  const char* const data_;
  const size_t size_;
};

class MappingArena {
 public:
  // Reserves `slots` slots of at least `slot_bytes` each (rounded up to
  // 2 MiB). kInvalidArgument for zero sizes; kResourceExhausted when the
  // address space cannot be reserved.
  static absl::StatusOr<std::unique_ptr<MappingArena>> Reserve(size_t slot_bytes,
                                                               size_t slots);
  ~MappingArena();  // REQUIRES: no MappedFile of it alive
  MappingArena(const MappingArena&) = delete;
  MappingArena& operator=(const MappingArena&) = delete;

  // The whole reserved range: what the data service registers.
  char* data() const { return base_; }
  size_t size() const { return slot_bytes_ * slots_; }
  size_t slot_bytes() const { return slot_bytes_; }

  // Maps the first `length` bytes of the open file `fd` read-only into a
  // free slot. kResourceExhausted when every slot is taken; kInvalidArgument
  // when `length` is 0 or exceeds a slot; mmap errors name `what`.
  absl::StatusOr<std::unique_ptr<MappedFile>> Map(int fd, size_t length,
                                                  const char* what);

  // Slots holding a file now.
  size_t mapped_count() const;

 private:
  friend class MappedFile;
  MappingArena(char* base, size_t slot_bytes, size_t slots);
  // Returns slot `slot` to PROT_NONE and to the free list.
  void Release(size_t slot);

  // Constant after construction.
  char* const base_;
  const size_t slot_bytes_;
  const size_t slots_;

  mutable absl::Mutex mu_;
  std::vector<size_t> free_ ABSL_GUARDED_BY(mu_);
};

}  // namespace medfs::chunkserver
