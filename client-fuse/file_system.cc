#include "client-fuse/file_system.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <fuse_lowlevel.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/status.h"

namespace medfs::fuse {
namespace {


mode_t TypeBits(v1::FileType type) {
  switch (type) {
    case v1::FILE_TYPE_DIRECTORY: return S_IFDIR;
    case v1::FILE_TYPE_SYMLINK: return S_IFLNK;
    default: return S_IFREG;
  }
}

timespec ToTimespec(int64_t ns) {
  timespec ts;
  ts.tv_sec = ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  return ts;
}

int64_t TimespecNs(const timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

FileSystem::FileSystem(client::Client* client, FileSystemOptions options)
    : client_(client),
      options_(std::move(options)),
      pool_(client, options_.read_block_bytes,
            std::max<size_t>(options_.read_cache_bytes / options_.read_block_bytes,
                             options_.readahead.reserve_blocks + 2)),
      loaders_(options_.loader_threads),
      prefetcher_(client, &pool_, &loaders_, options_.readahead, options_.scan_prefetch) {}

FileSystem::~FileSystem() {
  absl::MutexLock lock(&mu_);
  for (auto& [ptr, file] : files_) {
    if (file->writer == nullptr || !file->writer->dirty()) continue;
    absl::StatusOr<std::optional<v1::Inode>> committed = file->writer->Commit();
    if (!committed.ok()) {
      MEDFS_LOG(ERROR) << "commit inode " << file->inode
                       << " at unmount failed, its new content is lost: "
                       << committed.status();
    }
  }
}

void FileSystem::FillStat(const v1::Inode& inode, struct stat* st) const {
  *st = {};
  st->st_ino = inode.id();
  st->st_mode = TypeBits(inode.type()) | (inode.mode() & 07777);
  uint32_t nlink = inode.nlink();
  if (nlink == 0) nlink = inode.type() == v1::FILE_TYPE_DIRECTORY ? 2 : 1;
  st->st_nlink = nlink;
  st->st_uid = inode.uid();
  st->st_gid = inode.gid();
  st->st_size = static_cast<off_t>(inode.size());
  if (inode.type() == v1::FILE_TYPE_SYMLINK && inode.size() == 0) {
    st->st_size = static_cast<off_t>(inode.symlink_target().size());
  }
  st->st_blksize = options_.io_block_bytes;
  st->st_blocks = static_cast<blkcnt_t>((inode.size() + 511) / 512);
  st->st_atim = ToTimespec(inode.atime_ns());
  st->st_mtim = ToTimespec(inode.mtime_ns());
  st->st_ctim = ToTimespec(inode.ctime_ns());
}

absl::Status FileSystem::CheckName(const std::string& name) const {
  if (name.size() > options_.max_name_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("name too long: ", name.size(), " bytes, at most ",
                     options_.max_name_length));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Inode> FileSystem::Lookup(uint64_t parent,
                                             const std::string& name) {
  RETURN_IF_ERROR(CheckName(name));
  // The next file of a folder scan: listed a moment ago, no round trip.
  if (std::optional<v1::Inode> listed = prefetcher_.ListedEntry(parent, name)) {
    listed->clear_extents();
    return *std::move(listed);
  }
  absl::StatusOr<v1::Inode> inode = client_->Lookup(parent, name);
  if (inode.ok() && inode->type() == v1::FILE_TYPE_REGULAR) {
    prefetcher_.NoteName(parent, name, inode->id());
  }
  return inode;
}

absl::StatusOr<v1::Inode> FileSystem::GetAttr(uint64_t inode, OpenFile* file) {
  if (file != nullptr && file->reader != nullptr) {
    // A reader sees the version it opened, size included, even after the
    // file was removed (an open file stays readable, with no links).
    absl::StatusOr<v1::Inode> attributes = client_->GetAttr(inode, false);
    if (absl::IsNotFound(attributes.status())) {
      v1::Inode opened = file->reader->inode();
      opened.clear_extents();
      opened.set_nlink(0);
      return opened;
    }
    RETURN_IF_ERROR(attributes.status());
    attributes->set_size(file->reader->inode().size());
    return attributes;
  }
  ASSIGN_OR_RETURN(v1::Inode attributes, client_->GetAttr(inode, false));
  if (file != nullptr && file->writer != nullptr) {
    attributes.set_size(file->writer->size());
  }
  return attributes;
}

absl::StatusOr<v1::Inode> FileSystem::SetAttr(uint64_t inode,
                                              const struct stat& attr,
                                              int to_set, OpenFile* file) {
  prefetcher_.Forget(0, inode);
  std::vector<WriteHandle*> writers;
  if (file != nullptr && file->writer != nullptr) {
    writers.push_back(file->writer.get());
  } else {
    writers = WritersOf(inode);
  }
  v1::SetAttrRequest request;
  request.set_inode(inode);
  if (to_set & FUSE_SET_ATTR_MODE) {
    request.set_set_mode(true);
    request.set_mode(attr.st_mode & 07777);
  }
  if (to_set & FUSE_SET_ATTR_UID) {
    request.set_set_uid(true);
    request.set_uid(attr.st_uid);
  }
  if (to_set & FUSE_SET_ATTR_GID) {
    request.set_set_gid(true);
    request.set_gid(attr.st_gid);
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    // An open writer owns the content: it truncates, and commits on close.
    for (WriteHandle* writer : writers) RETURN_IF_ERROR(writer->Truncate(attr.st_size));
    if (writers.empty()) {
      request.set_set_size(true);
      request.set_size(attr.st_size);
    }
  }
  const int64_t now = absl::ToUnixNanos(absl::Now());
  std::optional<int64_t> atime, mtime;
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) atime = now;
  else if (to_set & FUSE_SET_ATTR_ATIME) atime = TimespecNs(attr.st_atim);
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) mtime = now;
  else if (to_set & FUSE_SET_ATTR_MTIME) mtime = TimespecNs(attr.st_mtim);
  if (atime) {
    request.set_set_atime(true);
    request.set_atime_ns(*atime);
  }
  if (mtime) {
    request.set_set_mtime(true);
    request.set_mtime_ns(*mtime);
  }
  // A commit later would set mtime to its own time: replay the times then.
  if (atime || mtime) {
    for (WriteHandle* writer : writers) writer->SetTimesAfterCommit(atime, mtime);
  }
  v1::Inode result;
  if (request.set_mode() || request.set_uid() || request.set_gid() ||
      request.set_size() || request.set_atime() || request.set_mtime()) {
    ASSIGN_OR_RETURN(result, client_->SetAttr(request));
  } else {
    ASSIGN_OR_RETURN(result, client_->GetAttr(inode, false));
  }
  if (file != nullptr && file->writer != nullptr) result.set_size(file->writer->size());
  else if (!writers.empty()) result.set_size(writers.front()->size());
  return result;
}

absl::StatusOr<std::string> FileSystem::ReadLink(uint64_t inode) {
  return client_->ReadLink(inode);
}

absl::StatusOr<v1::Inode> FileSystem::MkDir(uint64_t parent,
                                            const std::string& name,
                                            uint32_t mode, Caller caller) {
  RETURN_IF_ERROR(CheckName(name));
  return client_->MkDir(parent, name, mode & 07777, caller.uid, caller.gid);
}

absl::Status FileSystem::Unlink(uint64_t parent, const std::string& name) {
  RETURN_IF_ERROR(CheckName(name));
  prefetcher_.Forget(parent, 0);
  return client_->Unlink(parent, name);
}

absl::Status FileSystem::RmDir(uint64_t parent, const std::string& name) {
  RETURN_IF_ERROR(CheckName(name));
  return client_->RmDir(parent, name);
}

absl::StatusOr<v1::Inode> FileSystem::Symlink(uint64_t parent,
                                              const std::string& name,
                                              const std::string& target,
                                              Caller caller) {
  RETURN_IF_ERROR(CheckName(name));
  if (target.size() >= PATH_MAX) {
    return absl::InvalidArgumentError(absl::StrCat(
        "symlink ", name, ": name too long: target of ", target.size(), " bytes"));
  }
  return client_->Symlink(parent, name, target, caller.uid, caller.gid);
}

absl::Status FileSystem::Rename(uint64_t parent, const std::string& name,
                                uint64_t new_parent, const std::string& new_name,
                                unsigned int flags) {
  RETURN_IF_ERROR(CheckName(name));
  RETURN_IF_ERROR(CheckName(new_name));
  if (flags & RENAME_EXCHANGE) {
    return absl::InvalidArgumentError(
        absl::StrCat("rename ", name, " <-> ", new_name, ": exchange is not supported"));
  }
  prefetcher_.Forget(parent, 0);
  prefetcher_.Forget(new_parent, 0);
  return client_->Rename(parent, name, new_parent, new_name,
                         (flags & RENAME_NOREPLACE) != 0);
}

absl::Status FileSystem::Link(uint64_t inode, uint64_t new_parent,
                              const std::string& new_name) {
  return absl::PermissionDeniedError(absl::StrCat(
      "link inode ", inode, " as ", new_name,
      ": operation not permitted: medfs files have one name (hard links are "
      "not supported; use a symlink or a copy)"));
}

absl::StatusOr<v1::Inode> FileSystem::MkNod(uint64_t parent,
                                            const std::string& name,
                                            mode_t mode, Caller caller) {
  RETURN_IF_ERROR(CheckName(name));
  if (!S_ISREG(mode)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "mknod ", name, ": operation not permitted: only regular files, "
        "directories and symlinks exist in medfs"));
  }
  client::CreateFileOptions create;
  create.mode = mode & 07777;
  create.uid = caller.uid;
  create.gid = caller.gid;
  create.exclusive = true;
  return client_->CreateFile(parent, name, client::FileContent{}, create);
}

absl::StatusOr<v1::StatFsReply> FileSystem::StatFs() { return client_->StatFs(); }

}  // namespace medfs::fuse
