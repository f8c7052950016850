#include "chunkserver/chunk_store.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/match.h"
#include "common/crc32c.h"
#include "common/logging.h"
#include "common/status.h"

namespace medfs::chunkserver {

// A sealed chunk with its file open and header parsed.
struct ChunkStore::OpenChunk {
  int dir = 0;
  std::unique_ptr<ChunkFile> file;
  ChunkHeader header;
  // The file mapped into the store's arena, on first ReadMapped().
  absl::Mutex map_mu;
  bool map_tried ABSL_GUARDED_BY(map_mu) = false;
  std::unique_ptr<MappedFile> mapping ABSL_GUARDED_BY(map_mu);
};

// A chunk being written. Its part file lives in <dir>/tmp.
struct ChunkStore::PendingChunk {
  explicit PendingChunk(uint64_t id) : id(id) {}
  const uint64_t id;
  absl::Mutex mu;
  int dir ABSL_GUARDED_BY(mu) = -1;
  // Null while being created and once sealed or dropped.
  std::unique_ptr<ChunkFile> file ABSL_GUARDED_BY(mu);
  uint64_t written ABSL_GUARDED_BY(mu) = 0;
  uint32_t crc32c ABSL_GUARDED_BY(mu) = 0;
  std::vector<uint32_t> block_crcs ABSL_GUARDED_BY(mu);
  absl::Time last_piece ABSL_GUARDED_BY(mu) = absl::Now();
};

namespace {

std::string NotHere(uint64_t id) {
  return absl::StrCat("chunk ", id, ": not on this server");
}

std::string HexId(uint64_t id) { return absl::StrFormat("%016x", id); }

constexpr size_t kAlign = kDirectIoAlignment;
static_assert(kChunkHeaderBytes % kAlign == 0 && kChunkBlockBytes % kAlign == 0,
              "direct writes of whole blocks must stay aligned");

size_t RoundUp(size_t n) { return RoundUpToDirectIo(n); }

struct FreeDeleter {
  void operator()(char* p) const { std::free(p); }
};

// Writes [data, data+length) at `offset` (REQUIRES: aligned) of `file`.
// A direct file gets the aligned part of `data` straight from the caller's
// buffer (pooled, registered, so never faulted in again) and whatever is
// not aligned through an aligned copy, zero-padded to kAlign: the file may
// then be longer than the data until it is truncated at seal. A buffered
// file gets a plain write, and its writeback starts at once.
absl::Status WriteChunkBytes(ChunkFile& file, uint64_t offset,
                             const char* data, size_t length) {
  if (!file.direct()) {
    RETURN_IF_ERROR(file.WriteAt(offset, data, length));
    return file.StartWriteback(offset, length);
  }
  const bool aligned = reinterpret_cast<uintptr_t>(data) % kAlign == 0;
  const size_t direct = aligned ? length - length % kAlign : 0;
  if (direct > 0) RETURN_IF_ERROR(file.WriteAt(offset, data, direct));
  if (direct == length) return absl::OkStatus();
  const size_t step = std::min<size_t>(RoundUp(length - direct), 1 << 20);
  std::unique_ptr<char, FreeDeleter> scratch(
      static_cast<char*>(std::aligned_alloc(kAlign, step)));
  if (scratch == nullptr) {
    return absl::ResourceExhaustedError("no memory for an aligned write");
  }
  for (size_t at = direct; at < length; at += step) {
    const size_t n = std::min(step, length - at);
    std::memcpy(scratch.get(), data + at, n);
    std::memset(scratch.get() + n, 0, RoundUp(n) - n);
    RETURN_IF_ERROR(file.WriteAt(offset + at, scratch.get(), RoundUp(n)));
  }
  return absl::OkStatus();
}

}  // namespace

// ------------------------------------------------------------- open/scan

ChunkStore::ChunkStore(ChunkStoreOptions options, ChunkFileSystem* fs)
    : options_(std::move(options)), fs_(fs), dirs_(options_.data_dirs) {}

ChunkStore::~ChunkStore() = default;

absl::StatusOr<std::unique_ptr<ChunkStore>> ChunkStore::Open(
    const ChunkStoreOptions& options) {
  if (options.data_dirs.empty()) {
    return absl::InvalidArgumentError("opening chunk store: no data folders");
  }
  if (options.max_chunk_bytes == 0 ||
      options.max_chunk_bytes > kMaxChunkBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("opening chunk store: max_chunk_bytes ",
                     options.max_chunk_bytes, " not in 1..", kMaxChunkBytes));
  }
  if (options.max_open_chunks == 0) {
    return absl::InvalidArgumentError(
        "opening chunk store: max_open_chunks must be at least 1");
  }
  ChunkFileSystem* fs =
      options.file_system != nullptr ? options.file_system : PosixFileSystem();
  std::unique_ptr<ChunkStore> store(new ChunkStore(options, fs));
  for (int dir = 0; dir < static_cast<int>(store->dirs_.size()); ++dir) {
    RETURN_IF_ERROR(store->OpenDir(dir));
  }
  return store;
}

absl::Status ChunkStore::OpenDir(int dir) {
  const std::string& root = dirs_[dir];
  const std::string what = absl::StrCat("opening data folder ", root);
  RETURN_IF_ERROR(Annotate(fs_->CreateDir(root), what));
  RETURN_IF_ERROR(Annotate(fs_->CreateDir(root + "/tmp"), what));
  RETURN_IF_ERROR(Annotate(fs_->CreateDir(root + "/chunks"), what));
  ASSIGN_OR_RETURN(std::vector<std::string> parts,
                   fs_->ListDir(root + "/tmp"));
  for (const std::string& name : parts) {
    std::string path = absl::StrCat(root, "/tmp/", name);
    absl::Status removed = fs_->Remove(path);
    MEDFS_LOG(INFO) << "removed unfinished chunk file " << path
                    << (removed.ok() ? "" : absl::StrCat(": ", removed.message()));
  }
  for (int sub = 0; sub < 256; ++sub) {
    std::string subdir = absl::StrFormat("%s/chunks/%02x", root, sub);
    RETURN_IF_ERROR(Annotate(fs_->CreateDir(subdir), what));
    ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->ListDir(subdir));
    for (const std::string& name : names) {
      ScanChunkFile(dir, absl::StrCat(subdir, "/", name), name);
    }
  }
  return absl::OkStatus();
}

void ChunkStore::ScanChunkFile(int dir, const std::string& path,
                               absl::string_view name) {
  uint64_t id = 0;
  if (name.size() != 16 || !absl::SimpleHexAtoi(name, &id) ||
      ChunkPath(dir, id) != path) {
    MEDFS_LOG(WARNING) << "scanning " << dirs_[dir] << ": ignoring " << path
                       << " (not a chunk file name)";
    return;
  }
  auto opened = OpenSealed(id, dir);
  if (!opened.ok()) {
    MEDFS_LOG(ERROR) << "scanning " << dirs_[dir] << ": leaving out chunk "
                     << id << ": " << opened.status().message();
    return;
  }
  const ChunkHeader& header = (*opened)->header;
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = index_.try_emplace(
      id, IndexEntry{dir, header.length, header.chunk_crc32c});
  if (!inserted) {
    MEDFS_LOG(WARNING) << "scanning: chunk " << id << " is on both "
                       << dirs_[it->second.dir] << " and " << dirs_[dir]
                       << "; using the first";
  }
}

std::string ChunkStore::ChunkPath(int dir, uint64_t id) const {
  return absl::StrFormat("%s/chunks/%02x/%s", dirs_[dir], id % 256, HexId(id));
}

std::string ChunkStore::PartPath(int dir, uint64_t id) const {
  return absl::StrCat(dirs_[dir], "/tmp/", HexId(id), ".part");
}

absl::Status ChunkStore::CheckHealth() {
  std::string probe(4096, '\0');
  for (size_t i = 0; i < probe.size(); ++i) probe[i] = static_cast<char>(i * 7);
  for (const std::string& dir : dirs_) {
    const std::string path = dir + "/health.probe";
    (void)fs_->Remove(path);
    absl::Status status = [&]() -> absl::Status {
      ASSIGN_OR_RETURN(std::unique_ptr<ChunkFile> file, fs_->Create(path));
      RETURN_IF_ERROR(file->WriteAt(0, probe.data(), probe.size()));
      RETURN_IF_ERROR(file->Sync());
      std::string back(probe.size(), '\0');
      RETURN_IF_ERROR(file->ReadAt(0, back.data(), back.size()));
      if (back != probe) return absl::DataLossError("read back other bytes");
      return fs_->Remove(path);
    }();
    if (!status.ok()) {
      (void)fs_->Remove(path);
      return absl::FailedPreconditionError(absl::StrCat(
          "health check of data folder ", dir, ": ", status.message()));
    }
  }
  return absl::OkStatus();
}

// ----------------------------------------------------------------- write

absl::StatusOr<int> ChunkStore::PickDir() {
  int best = -1;
  uint64_t best_free = 0;
  absl::Status last_error;
  for (int dir = 0; dir < static_cast<int>(dirs_.size()); ++dir) {
    auto space = fs_->Space(dirs_[dir]);
    if (!space.ok()) {
      last_error = space.status();
      continue;
    }
    if (best < 0 || space->free_bytes > best_free) {
      best = dir;
      best_free = space->free_bytes;
    }
  }
  if (best < 0) return last_error;
  if (best_free < options_.max_chunk_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "no data folder has room for a chunk of ", options_.max_chunk_bytes,
        " bytes (most free: ", best_free, " bytes on ", dirs_[best], ")"));
  }
  return best;
}

absl::Status ChunkStore::Create(uint64_t id) {
  auto pending = std::make_shared<PendingChunk>(id);
  absl::MutexLock pending_lock(&pending->mu);
  {
    absl::MutexLock lock(&mu_);
    if (index_.contains(id) || pending_.contains(id)) {
      return absl::AlreadyExistsError(
          absl::StrCat("creating chunk ", id, ": it exists already"));
    }
    pending_[id] = pending;
  }
  auto dir = PickDir();
  absl::StatusOr<std::unique_ptr<ChunkFile>> file =
      dir.ok() ? fs_->CreateDirect(PartPath(*dir, id)) : dir.status();
  if (!file.ok()) {
    absl::MutexLock lock(&mu_);
    pending_.erase(id);
    return Annotate(file.status(), absl::StrCat("creating chunk ", id));
  }
  pending->dir = *dir;
  pending->file = *std::move(file);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<ChunkStore::PendingChunk>>
ChunkStore::FindPending(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = pending_.find(id);
  if (it != pending_.end()) return it->second;
  if (index_.contains(id)) {
    return absl::FailedPreconditionError(
        absl::StrCat("writing chunk ", id, ": it is sealed"));
  }
  return absl::NotFoundError(NotHere(id));
}

void ChunkStore::DropPending(const std::shared_ptr<PendingChunk>& pending) {
  if (pending->file != nullptr) {
    pending->file.reset();
    absl::Status removed = fs_->Remove(PartPath(pending->dir, pending->id));
    if (!removed.ok()) {
      MEDFS_LOG(WARNING) << "dropping chunk " << pending->id << ": "
                         << removed.message();
    }
  }
  absl::MutexLock lock(&mu_);
  auto it = pending_.find(pending->id);
  if (it != pending_.end() && it->second == pending) pending_.erase(it);
}

absl::Status ChunkStore::FailWrite(
    const std::shared_ptr<PendingChunk>& pending, const absl::Status& status) {
  absl::Status annotated =
      Annotate(status, absl::StrCat("writing chunk ", pending->id, " on ",
                                    dirs_[pending->dir]));
  MEDFS_LOG(WARNING) << annotated.message() << "; chunk abandoned";
  DropPending(pending);
  return annotated;
}

absl::StatusOr<ChunkState> ChunkStore::Append(uint64_t id, uint64_t offset,
                                              const char* data,
                                              size_t length) {
  ASSIGN_OR_RETURN(std::shared_ptr<PendingChunk> pending, FindPending(id));
  absl::MutexLock pending_lock(&pending->mu);
  if (pending->file == nullptr) return absl::NotFoundError(NotHere(id));
  if (offset != pending->written) {
    return absl::FailedPreconditionError(
        absl::StrCat("writing chunk ", id, ": piece at offset ", offset,
                     " but ", pending->written, " bytes are written"));
  }
  if (offset % kChunkBlockBytes != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "writing chunk ", id, ": offset ", offset, " is not block-aligned"));
  }
  if (offset + length > options_.max_chunk_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "writing chunk ", id, ": piece ends at ", offset + length,
        ", past max_chunk_bytes ", options_.max_chunk_bytes));
  }
  // The bytes reach the disk as pieces arrive (direct I/O, else writeback
  // started at once), so the disk works while the next pieces cross the
  // network and Seal()'s fdatasync has little left to do.
  absl::Status written = WriteChunkBytes(
      *pending->file, kChunkHeaderBytes + offset, data, length);
  if (!written.ok()) return FailWrite(pending, written);
  for (size_t at = 0; at < length; at += kChunkBlockBytes) {
    size_t n = std::min<size_t>(kChunkBlockBytes, length - at);
    pending->block_crcs.push_back(Crc32c(data + at, n));
  }
  pending->crc32c = Crc32cExtend(pending->crc32c, data, length);
  pending->written += length;
  pending->last_piece = absl::Now();
  return ChunkState{true, false, pending->written, pending->crc32c};
}

absl::Status ChunkStore::FinishSeal(PendingChunk& pending,
                                    const std::string& header) {
  const std::string part = PartPath(pending.dir, pending.id);
  const std::string final_path = ChunkPath(pending.dir, pending.id);
  RETURN_IF_ERROR(WriteChunkBytes(*pending.file, 0, header.data(),
                                  header.size()));
  // A direct file's last piece may have been padded to kAlign.
  if (pending.file->direct()) {
    RETURN_IF_ERROR(pending.file->Truncate(kChunkHeaderBytes + pending.written));
  }
  RETURN_IF_ERROR(pending.file->Sync());
  RETURN_IF_ERROR(fs_->Rename(part, final_path));
  absl::Status synced = fs_->SyncDir(
      absl::StrFormat("%s/chunks/%02x", dirs_[pending.dir], pending.id % 256));
  if (!synced.ok()) {
    // Not durable: undo, so the chunk is not reported as stored.
    (void)fs_->Rename(final_path, part);
    return synced;
  }
  return absl::OkStatus();
}

absl::StatusOr<ChunkState> ChunkStore::Seal(uint64_t id,
                                            uint64_t total_length) {
  ASSIGN_OR_RETURN(std::shared_ptr<PendingChunk> pending, FindPending(id));
  absl::MutexLock pending_lock(&pending->mu);
  if (pending->file == nullptr) return absl::NotFoundError(NotHere(id));
  if (total_length != pending->written) {
    return absl::FailedPreconditionError(
        absl::StrCat("sealing chunk ", id, " at ", total_length, " bytes: ",
                     pending->written, " bytes are written"));
  }
  ChunkHeader header;
  header.chunk_id = id;
  header.length = pending->written;
  header.chunk_crc32c = pending->crc32c;
  header.block_crcs = pending->block_crcs;
  std::string encoded;
  header.EncodeTo(&encoded);
  absl::Status sealed = FinishSeal(*pending, encoded);
  if (!sealed.ok()) return FailWrite(pending, sealed);
  pending->file.reset();
  absl::MutexLock lock(&mu_);
  index_[id] = IndexEntry{pending->dir, header.length, header.chunk_crc32c};
  pending_.erase(id);
  return ChunkState{true, true, header.length, header.chunk_crc32c};
}

absl::Status ChunkStore::Abort(uint64_t id) {
  ASSIGN_OR_RETURN(std::shared_ptr<PendingChunk> pending, FindPending(id));
  absl::MutexLock pending_lock(&pending->mu);
  if (pending->file == nullptr) return absl::NotFoundError(NotHere(id));
  DropPending(pending);
  return absl::OkStatus();
}

int ChunkStore::AbortIdleWrites(absl::Duration idle) {
  std::vector<std::shared_ptr<PendingChunk>> candidates;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, pending] : pending_) candidates.push_back(pending);
  }
  int aborted = 0;
  const absl::Time cutoff = absl::Now() - idle;
  for (const auto& pending : candidates) {
    if (!pending->mu.TryLock()) continue;  // busy: not idle
    if (pending->file != nullptr && pending->last_piece < cutoff) {
      MEDFS_LOG(WARNING) << "chunk " << pending->id << ": no piece for "
                         << absl::FormatDuration(idle) << "; abandoned";
      DropPending(pending);
      ++aborted;
    }
    pending->mu.Unlock();
  }
  return aborted;
}

// ------------------------------------------------------------------ read

size_t ChunkStore::CoveringBytes(uint64_t offset, uint64_t length) {
  if (length == 0) return 0;
  uint64_t first = offset / kChunkBlockBytes;
  uint64_t last = (offset + length - 1) / kChunkBlockBytes;
  return (last - first + 1) * kChunkBlockBytes;
}

absl::StatusOr<std::shared_ptr<ChunkStore::OpenChunk>> ChunkStore::OpenSealed(
    uint64_t id, int dir) {
  const std::string where = absl::StrCat("chunk ", id, " on ", dirs_[dir]);
  auto chunk = std::make_shared<OpenChunk>();
  chunk->dir = dir;
  ASSIGN_OR_RETURN(chunk->file, fs_->OpenForRead(ChunkPath(dir, id)));
  std::string raw(kChunkHeaderBytes, '\0');
  RETURN_IF_ERROR(Annotate(chunk->file->ReadAt(0, raw.data(), raw.size()),
                           absl::StrCat("reading header of ", where)));
  RETURN_IF_ERROR(chunk->header.DecodeFrom(raw, where));
  if (chunk->header.chunk_id != id) {
    return absl::DataLossError(absl::StrCat(
        where, ": header names chunk ", chunk->header.chunk_id));
  }
  ASSIGN_OR_RETURN(uint64_t size, chunk->file->Size());
  if (size != kChunkHeaderBytes + chunk->header.length) {
    return absl::DataLossError(
        absl::StrCat(where, ": file has ", size, " bytes, header says ",
                     kChunkHeaderBytes + chunk->header.length));
  }
  return chunk;
}

std::shared_ptr<ChunkStore::OpenChunk> ChunkStore::FindOpenChunk(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = open_.find(id);
  if (it == open_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.chunk;
}

absl::StatusOr<std::shared_ptr<ChunkStore::OpenChunk>>
ChunkStore::GetOpenChunk(uint64_t id) {
  int dir = 0;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = open_.find(id); it != open_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return it->second.chunk;
    }
    auto entry = index_.find(id);
    if (entry == index_.end()) {
      if (pending_.contains(id)) {
        return absl::FailedPreconditionError(
            absl::StrCat("reading chunk ", id, ": it is not sealed"));
      }
      return absl::NotFoundError(NotHere(id));
    }
    dir = entry->second.dir;
  }
  ASSIGN_OR_RETURN(std::shared_ptr<OpenChunk> chunk, OpenSealed(id, dir));
  absl::MutexLock lock(&mu_);
  if (!index_.contains(id)) return chunk;  // deleted meanwhile: don't cache
  if (auto it = open_.find(id); it != open_.end()) return it->second.chunk;
  lru_.push_front(id);
  open_[id] = CacheEntry{chunk, lru_.begin()};
  while (open_.size() > options_.max_open_chunks) {
    open_.erase(lru_.back());
    lru_.pop_back();
  }
  return chunk;
}

absl::Status ChunkStore::VerifyBlocks(const OpenChunk& chunk,
                                      uint64_t first_block, const char* data,
                                      uint64_t bytes) {
  for (uint64_t at = 0; at < bytes; at += kChunkBlockBytes) {
    uint64_t block = first_block + at / kChunkBlockBytes;
    size_t n = std::min<uint64_t>(kChunkBlockBytes, bytes - at);
    if (Crc32c(data + at, n) != chunk.header.block_crcs[block]) {
      return absl::DataLossError(
          absl::StrCat("chunk ", chunk.header.chunk_id, " block ", block,
                       " on ", dirs_[chunk.dir], ": checksum mismatch"));
    }
  }
  return absl::OkStatus();
}

absl::Status ChunkStore::CheckRange(const OpenChunk& chunk, uint64_t offset,
                                    uint64_t length) {
  const uint64_t chunk_length = chunk.header.length;
  if (offset > chunk_length || length > chunk_length - offset) {
    return absl::OutOfRangeError(absl::StrCat(
        "reading chunk ", chunk.header.chunk_id, ": range [", offset, ", ",
        offset + length, ") is past its length ", chunk_length));
  }
  return absl::OkStatus();
}

ChunkStore::BlockSpan ChunkStore::CoveringBlocks(const OpenChunk& chunk,
                                                 uint64_t offset, uint64_t length) {
  const uint64_t first_block = offset / kChunkBlockBytes;
  const uint64_t start = first_block * kChunkBlockBytes;
  return BlockSpan{first_block, start,
                   std::min(chunk.header.length, start + CoveringBytes(offset, length))};
}

absl::StatusOr<const char*> ChunkStore::Read(uint64_t id, uint64_t offset,
                                             uint64_t length, char* buffer,
                                             size_t buffer_size, Caching caching,
                                             bool* read_around_cache_out) {
  ASSIGN_OR_RETURN(std::shared_ptr<OpenChunk> chunk, GetOpenChunk(id));
  RETURN_IF_ERROR(CheckRange(*chunk, offset, length));
  if (length == 0) return buffer;
  const auto [first_block, start, end] = CoveringBlocks(*chunk, offset, length);
  if (buffer_size < end - start) {
    return absl::InvalidArgumentError(
        absl::StrCat("reading chunk ", id, ": buffer of ", buffer_size,
                     " bytes, ", end - start, " needed"));
  }
  const std::string where = absl::StrCat("reading chunk ", id, " on ", dirs_[chunk->dir]);
  // Reading around the page cache may fill the buffer up to the next
  // alignment boundary.
  const size_t capacity = buffer_size / kDirectIoAlignment * kDirectIoAlignment;
  const bool can_read_around =
      caching == Caching::kBypassWhenNotCached && options_.mapping_arena != nullptr &&
      reinterpret_cast<uintptr_t>(buffer) % kDirectIoAlignment == 0 &&
      capacity >= RoundUp(end - start);
  bool read_around_cache = false;
  if (can_read_around) {
    const MappedFile* mapping = MappingOf(*chunk);
    if (mapping != nullptr && !mapping->Resident(kChunkHeaderBytes + start, end - start)) {
      absl::StatusOr<bool> around = chunk->file->ReadAroundCacheAt(
          kChunkHeaderBytes + start, buffer, end - start, capacity);
      RETURN_IF_ERROR(Annotate(around.status(), where));
      read_around_cache = *around;
    }
  }
  if (!read_around_cache) {
    RETURN_IF_ERROR(Annotate(
        chunk->file->ReadAt(kChunkHeaderBytes + start, buffer, end - start), where));
  }
  if (read_around_cache_out != nullptr) *read_around_cache_out = read_around_cache;
  RETURN_IF_ERROR(VerifyBlocks(*chunk, first_block, buffer, end - start));
  return buffer + (offset - start);
}

const MappedFile* ChunkStore::MappingOf(OpenChunk& chunk) {
  absl::MutexLock lock(&chunk.map_mu);
  if (!chunk.map_tried) {
    chunk.map_tried = true;
    absl::StatusOr<std::unique_ptr<MappedFile>> mapped = chunk.file->MapInto(
        *options_.mapping_arena, kChunkHeaderBytes + chunk.header.length);
    if (mapped.ok()) {
      chunk.mapping = *std::move(mapped);
    } else if (mapped.status().code() != absl::StatusCode::kUnimplemented &&
               mapped.status().code() != absl::StatusCode::kResourceExhausted) {
      MEDFS_LOG(WARNING) << "reading chunk " << chunk.header.chunk_id
                         << " with copies: " << mapped.status().message();
    }
  }
  return chunk.mapping.get();
}

absl::StatusOr<std::optional<MappedRead>> ChunkStore::ReadMapped(
    uint64_t id, uint64_t offset, uint64_t length, MapMode mode) {
  if (options_.mapping_arena == nullptr) return std::nullopt;
  std::shared_ptr<OpenChunk> chunk;
  const MappedFile* mapping = nullptr;
  if (mode == MapMode::kOnlyIfMapped) {
    chunk = FindOpenChunk(id);
    if (chunk == nullptr) return std::nullopt;
    absl::MutexLock lock(&chunk->map_mu);
    mapping = chunk->mapping.get();
  } else {
    ASSIGN_OR_RETURN(chunk, GetOpenChunk(id));
    mapping = MappingOf(*chunk);
  }
  RETURN_IF_ERROR(CheckRange(*chunk, offset, length));
  if (mapping == nullptr || length == 0) return std::nullopt;
  const auto [first_block, start, end] = CoveringBlocks(*chunk, offset, length);
  // Touching a page that is not cached would read the disk through the
  // mapping, where an I/O error is SIGBUS: such ranges go through Read().
  if (!mapping->Resident(kChunkHeaderBytes + start, end - start)) {
    return std::nullopt;
  }
  const char* blocks = mapping->data() + kChunkHeaderBytes + start;
  RETURN_IF_ERROR(VerifyBlocks(*chunk, first_block, blocks, end - start));
  return MappedRead{blocks + (offset - start), length, mapping, std::move(chunk)};
}

// ----------------------------------------------------------- management

absl::Status ChunkStore::Delete(uint64_t id) {
  int dir = 0;
  {
    absl::MutexLock lock(&mu_);
    auto entry = index_.find(id);
    if (entry == index_.end()) {
      if (!pending_.contains(id)) return absl::NotFoundError(NotHere(id));
      dir = -1;
    } else {
      dir = entry->second.dir;
      index_.erase(entry);
      if (auto it = open_.find(id); it != open_.end()) {
        lru_.erase(it->second.lru);
        open_.erase(it);
      }
    }
  }
  if (dir < 0) return Abort(id);
  return Annotate(fs_->Remove(ChunkPath(dir, id)),
                  absl::StrCat("deleting chunk ", id));
}

ChunkState ChunkStore::Stat(uint64_t id) {
  std::shared_ptr<PendingChunk> pending;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = index_.find(id); it != index_.end()) {
      return ChunkState{true, true, it->second.length, it->second.crc32c};
    }
    auto it = pending_.find(id);
    if (it == pending_.end()) return ChunkState{};
    pending = it->second;
  }
  absl::MutexLock pending_lock(&pending->mu);
  return ChunkState{pending->file != nullptr, false, pending->written,
                    pending->crc32c};
}

std::vector<uint64_t> ChunkStore::ListChunks() {
  absl::MutexLock lock(&mu_);
  std::vector<uint64_t> ids;
  ids.reserve(index_.size());
  for (const auto& [id, entry] : index_) ids.push_back(id);
  return ids;
}

absl::StatusOr<StoreUsage> ChunkStore::Usage() {
  StoreUsage usage;
  std::vector<uint64_t> seen;  // folders sharing a file system count once
  for (const std::string& dir : dirs_) {
    ASSIGN_OR_RETURN(DiskSpace space, fs_->Space(dir));
    if (std::find(seen.begin(), seen.end(), space.fs_id) != seen.end()) {
      continue;
    }
    seen.push_back(space.fs_id);
    usage.capacity_bytes += space.capacity_bytes;
    usage.free_bytes += space.free_bytes;
  }
  absl::MutexLock lock(&mu_);
  usage.chunk_count = index_.size();
  return usage;
}

size_t ChunkStore::chunk_count() {
  absl::MutexLock lock(&mu_);
  return index_.size();
}

size_t ChunkStore::open_chunk_count() {
  absl::MutexLock lock(&mu_);
  return open_.size();
}

}  // namespace medfs::chunkserver
