// FileSystem: open files and directories (the namespace half is in
// file_system.cc).
#include <fcntl.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client-fuse/file_system.h"
#include "common/logging.h"
#include "common/status.h"

namespace medfs::fuse {

absl::StatusOr<OpenResult> FileSystem::Open(uint64_t inode, int flags) {
  ASSIGN_OR_RETURN(v1::Inode attributes, client_->GetAttr(inode, true));
  if (attributes.type() == v1::FILE_TYPE_DIRECTORY) {
    return absl::FailedPreconditionError(
        absl::StrCat("open inode ", inode, ": is a directory"));
  }
  if ((flags & O_ACCMODE) != O_RDONLY) return OpenForWrite(std::move(attributes), flags);

  // A scan of the file's folder may have loaded it already.
  std::unique_ptr<ReadHandle> prefetched = prefetcher_.OnOpen(attributes);
  auto file = std::make_unique<OpenFile>();
  file->inode = inode;
  OpenResult result;
  result.file = file.get();
  absl::MutexLock lock(&mu_);
  auto seen = seen_versions_.find(inode);
  const bool same_version =
      seen != seen_versions_.end() && seen->second == attributes.content_version();
  result.keep_cache = options_.read_only || same_version;
  result.invalidate_attributes = seen != seen_versions_.end() && !same_version;
  // A writer on this mount may change the kernel's idea of the size while
  // we read an older version: read around the page cache then.
  result.direct_io = writers_.contains(inode);
  // Readers of another version still open share the page cache: read
  // around it, and make the next cached open start from an empty cache.
  const uint64_t version = attributes.content_version();
  auto& readers = open_readers_[inode];
  const bool other_versions_open =
      readers.size() > 1 || (readers.size() == 1 && !readers.contains(version));
  // A file seen in more than one version on this mount is being rewritten:
  // its readers read around the page cache from then on, so no reader can
  // meet pages cached by a reader of another version.
  const bool rewritten = seen != seen_versions_.end() && !same_version;
  if (rewritten && rewritten_.size() < kMaxSeenVersions) rewritten_.insert(inode);
  if ((other_versions_open || rewritten_.contains(inode)) && !options_.read_only) {
    result.direct_io = true;
    result.keep_cache = false;
    result.invalidate_attributes = true;
    // Version 0 is never a content version: the next open drops the cache
    // and the kernel's attributes.
    seen_versions_[inode] = 0;
  } else {
    if (seen_versions_.size() >= kMaxSeenVersions) seen_versions_.clear();
    seen_versions_[inode] = version;
  }
  ++readers[version];
  file->reader_version = version;
  file->reader = prefetched != nullptr
                     ? std::move(prefetched)
                     : std::make_unique<ReadHandle>(client_, &pool_, &loaders_,
                                                    std::move(attributes), options_.readahead);
  files_[file.get()] = std::move(file);
  return result;
}

absl::StatusOr<OpenResult> FileSystem::OpenForWrite(v1::Inode inode, int flags) {
  if (inode.type() != v1::FILE_TYPE_REGULAR) {
    return absl::InvalidArgumentError(
        absl::StrCat("open inode ", inode.id(), " for writing: not a regular file"));
  }
  auto file = std::make_unique<OpenFile>();
  file->inode = inode.id();
  file->append = (flags & O_APPEND) != 0;
  file->writer = std::make_unique<WriteHandle>(client_, std::move(inode),
                                               (flags & O_TRUNC) != 0, options_.write);
  OpenResult result;
  result.file = file.get();
  result.direct_io = true;
  absl::MutexLock lock(&mu_);
  writers_[file->inode].push_back(file->writer.get());
  files_[file.get()] = std::move(file);
  return result;
}

absl::StatusOr<std::pair<v1::Inode, OpenResult>> FileSystem::Create(
    uint64_t parent, const std::string& name, mode_t mode, int flags,
    Caller caller) {
  RETURN_IF_ERROR(CheckName(name));
  client::CreateFileOptions create;
  create.mode = mode & 07777;
  create.uid = caller.uid;
  create.gid = caller.gid;
  create.exclusive = (flags & O_EXCL) != 0;
  absl::StatusOr<v1::Inode> created =
      client_->CreateFile(parent, name, client::FileContent{}, create);
  if (absl::IsAlreadyExists(created.status()) && !create.exclusive) {
    // Lost a race with another creator: open what is there.
    ASSIGN_OR_RETURN(v1::Inode existing, client_->Lookup(parent, name));
    ASSIGN_OR_RETURN(OpenResult opened, Open(existing.id(), flags));
    return std::make_pair(std::move(existing), opened);
  }
  RETURN_IF_ERROR(created.status());
  ASSIGN_OR_RETURN(OpenResult opened, OpenForWrite(*created, flags & ~O_TRUNC));
  return std::make_pair(std::move(*created), opened);
}

absl::StatusOr<ReadResult> FileSystem::Read(OpenFile* file, uint64_t offset,
                                            size_t size) {
  if (file->reader != nullptr) return file->reader->Read(offset, size);
  auto buffer = std::make_shared<std::vector<std::byte>>(size);
  ASSIGN_OR_RETURN(size_t bytes, file->writer->Read(offset, *buffer));
  ReadResult result;
  result.iov.push_back({buffer->data(), bytes});
  result.bytes = bytes;
  result.Hold(std::move(buffer));
  return result;
}

absl::Status FileSystem::Write(OpenFile* file, uint64_t offset,
                               std::span<const std::byte> data) {
  if (file->writer == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat("write inode ", file->inode, ": not open for writing"));
  }
  // O_APPEND: the end as this handle sees it (the kernel's size may be
  // the committed one).
  if (file->append) offset = file->writer->size();
  return file->writer->Write(offset, data);
}

absl::StatusOr<bool> FileSystem::CommitWriter(WriteHandle* writer) {
  absl::StatusOr<std::optional<v1::Inode>> committed = writer->Commit();
  if (absl::IsNotFound(committed.status())) {
    MEDFS_LOG(INFO) << "inode " << writer->inode_id()
                    << " was removed while open for writing; its new content is dropped";
    return false;
  }
  if (!committed.ok()) {
    MEDFS_LOG(WARNING) << "commit: " << committed.status();
    return committed.status();
  }
  if (!committed->has_value()) return false;
  prefetcher_.Forget(0, writer->inode_id());
  absl::MutexLock lock(&mu_);
  seen_versions_.erase(writer->inode_id());
  if (rewritten_.size() < kMaxSeenVersions) rewritten_.insert(writer->inode_id());
  return true;
}

absl::StatusOr<bool> FileSystem::Flush(OpenFile* file) {
  if (file->writer == nullptr) return false;
  return CommitWriter(file->writer.get());
}

bool FileSystem::Release(OpenFile* file) {
  bool committed = false;
  if (file->writer != nullptr) {
    absl::StatusOr<bool> result = CommitWriter(file->writer.get());
    committed = result.ok() && *result;
  }
  std::unique_ptr<OpenFile> owned;
  {
    absl::MutexLock lock(&mu_);
    if (file->reader != nullptr) {
      auto readers = open_readers_.find(file->inode);
      if (readers != open_readers_.end()) {
        auto count = readers->second.find(file->reader_version);
        if (count != readers->second.end() && --count->second == 0) {
          readers->second.erase(count);
        }
        if (readers->second.empty()) open_readers_.erase(readers);
      }
    }
    if (file->writer != nullptr) {
      auto it = writers_.find(file->inode);
      if (it != writers_.end()) {
        std::erase(it->second, file->writer.get());
        if (it->second.empty()) writers_.erase(it);
      }
    }
    auto it = files_.find(file);
    if (it != files_.end()) {
      owned = std::move(it->second);
      files_.erase(it);
    }
  }
  return committed;  // `owned` is destroyed outside the lock
}

std::vector<WriteHandle*> FileSystem::WritersOf(uint64_t inode) const {
  absl::MutexLock lock(&mu_);
  auto it = writers_.find(inode);
  if (it == writers_.end()) return {};
  return it->second;
}

size_t FileSystem::open_files() const {
  absl::MutexLock lock(&mu_);
  return files_.size();
}

absl::StatusOr<OpenDirectory*> FileSystem::OpenDir(uint64_t inode) {
  ASSIGN_OR_RETURN(v1::Inode attributes, client_->GetAttr(inode, false));
  if (attributes.type() != v1::FILE_TYPE_DIRECTORY) {
    return absl::FailedPreconditionError(
        absl::StrCat("opendir inode ", inode, ": not a directory"));
  }
  auto dir = std::make_unique<OpenDirectory>();
  dir->inode = inode;
  dir->parent = attributes.parent() != 0 ? attributes.parent() : inode;
  OpenDirectory* raw = dir.get();
  absl::MutexLock lock(&mu_);
  dirs_[raw] = std::move(dir);
  return raw;
}

absl::StatusOr<std::vector<v1::ReadDirEntry>> FileSystem::ReadDir(
    OpenDirectory* dir, size_t index, size_t max, bool with_attributes) {
  absl::MutexLock lock(&dir->mu);
  if (index == 0) {  // from the start (or rewinddir): list afresh
    dir->entries.clear();
    dir->complete = false;
  }
  while (!dir->complete && dir->entries.size() < index + max) {
    const std::string after = dir->entries.empty() ? "" : dir->entries.back().name();
    ASSIGN_OR_RETURN(client::DirectoryPage page,
                     client_->ReadDir(dir->inode, after, kDirPageEntries,
                                      with_attributes, /*extents_up_to=*/0));
    for (v1::ReadDirEntry& entry : page.entries) {
      if (entry.type() == v1::FILE_TYPE_REGULAR) {
        prefetcher_.NoteName(dir->inode, entry.name(), entry.inode());
      }
      dir->entries.push_back(std::move(entry));
    }
    dir->complete = page.end_of_directory || page.entries.empty();
  }
  std::vector<v1::ReadDirEntry> result;
  for (size_t i = index; i < dir->entries.size() && result.size() < max; ++i) {
    result.push_back(dir->entries[i]);
  }
  return result;
}

void FileSystem::ReleaseDir(OpenDirectory* dir) {
  std::unique_ptr<OpenDirectory> owned;
  absl::MutexLock lock(&mu_);
  auto it = dirs_.find(dir);
  if (it == dirs_.end()) return;
  owned = std::move(it->second);
  dirs_.erase(it);
}

}  // namespace medfs::fuse
