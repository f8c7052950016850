#include "tests/chunkserver/fault_file_system.h"

#include "absl/strings/match.h"
#include "common/status.h"

namespace medfs::chunkserver::testing {
namespace {

class FaultFile final : public ChunkFile {
 public:
  FaultFile(FaultFileSystem* fs, std::unique_ptr<ChunkFile> base)
      : fs_(fs), base_(std::move(base)) {}
  ~FaultFile() override { fs_->FileClosed(); }

  absl::Status ReadAt(uint64_t offset, void* data, size_t length) override {
    return base_->ReadAt(offset, data, length);
  }
  absl::StatusOr<bool> ReadAroundCacheAt(uint64_t offset, void* data, size_t length,
                                         size_t capacity) override {
    return base_->ReadAroundCacheAt(offset, data, length, capacity);
  }
  absl::StatusOr<std::unique_ptr<MappedFile>> MapInto(MappingArena& arena,
                                                      size_t length) override {
    return base_->MapInto(arena, length);
  }
  absl::Status WriteAt(uint64_t offset, const void* data,
                       size_t length) override {
    RETURN_IF_ERROR(fs_->WriteFault(path()));
    return base_->WriteAt(offset, data, length);
  }
  absl::Status StartWriteback(uint64_t offset, size_t length) override {
    return base_->StartWriteback(offset, length);
  }
  absl::Status Sync() override {
    RETURN_IF_ERROR(fs_->SyncFault(path()));
    return base_->Sync();
  }
  absl::Status Truncate(uint64_t size) override {
    RETURN_IF_ERROR(fs_->WriteFault(path()));
    return base_->Truncate(size);
  }
  bool direct() const override { return base_->direct(); }
  absl::StatusOr<uint64_t> Size() override { return base_->Size(); }
  const std::string& path() const override { return base_->path(); }

 private:
  FaultFileSystem* const fs_;
  const std::unique_ptr<ChunkFile> base_;
};

}  // namespace

void FaultFileSystem::FailWrites(const std::string& path_part, int error) {
  absl::MutexLock lock(&mu_);
  write_part_ = path_part;
  write_error_ = error;
}

void FaultFileSystem::FailSyncs(const std::string& path_part, int error) {
  absl::MutexLock lock(&mu_);
  sync_part_ = path_part;
  sync_error_ = error;
}

void FaultFileSystem::SetFreeBytes(const std::string& path_part,
                                   uint64_t free_bytes) {
  absl::MutexLock lock(&mu_);
  space_part_ = path_part;
  space_free_ = free_bytes;
  space_set_ = true;
}

void FaultFileSystem::BlockWrites(bool block) {
  absl::MutexLock lock(&mu_);
  block_writes_ = block;
}

void FaultFileSystem::AwaitBlockedWriters(int n) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return blocked_writers_ >= n;
  };
  mu_.Await(absl::Condition(&enough));
}

absl::Status FaultFileSystem::WriteFault(const std::string& path) {
  absl::MutexLock lock(&mu_);
  if (block_writes_) {
    ++blocked_writers_;
    mu_.Await(absl::Condition(
        +[](bool* blocked) { return !*blocked; }, &block_writes_));
    --blocked_writers_;
  }
  if (write_error_ != 0 && absl::StrContains(path, write_part_)) {
    return ErrnoToStatus(write_error_, absl::StrCat("pwrite ", path));
  }
  return absl::OkStatus();
}

absl::Status FaultFileSystem::SyncFault(const std::string& path) {
  absl::MutexLock lock(&mu_);
  if (sync_error_ != 0 && absl::StrContains(path, sync_part_)) {
    return ErrnoToStatus(sync_error_, absl::StrCat("fdatasync ", path));
  }
  return absl::OkStatus();
}

std::unique_ptr<ChunkFile> FaultFileSystem::Wrap(
    std::unique_ptr<ChunkFile> file) {
  int now = ++open_files_;
  int peak = peak_open_files_.load();
  while (now > peak && !peak_open_files_.compare_exchange_weak(peak, now)) {
  }
  return std::make_unique<FaultFile>(this, std::move(file));
}

absl::StatusOr<std::unique_ptr<ChunkFile>> FaultFileSystem::OpenForRead(
    const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<ChunkFile> file, base_->OpenForRead(path));
  return Wrap(std::move(file));
}

absl::StatusOr<std::unique_ptr<ChunkFile>> FaultFileSystem::Create(
    const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<ChunkFile> file, base_->Create(path));
  return Wrap(std::move(file));
}

absl::StatusOr<std::unique_ptr<ChunkFile>> FaultFileSystem::CreateDirect(
    const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<ChunkFile> file, base_->CreateDirect(path));
  return Wrap(std::move(file));
}

absl::StatusOr<DiskSpace> FaultFileSystem::Space(const std::string& path) {
  ASSIGN_OR_RETURN(DiskSpace space, base_->Space(path));
  absl::MutexLock lock(&mu_);
  if (space_set_ && absl::StrContains(path, space_part_)) {
    space.free_bytes = space_free_;
  }
  return space;
}

}  // namespace medfs::chunkserver::testing
