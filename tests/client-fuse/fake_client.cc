#include "tests/client-fuse/fake_client.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"

namespace medfs::fuse::testing {
namespace {

int64_t NowNs() { return absl::ToUnixNanos(absl::Now()); }

class FakeWriter : public client::FileWriter {
 public:
  explicit FakeWriter(FakeClient* client) : client_(client) {}
  absl::Status Append(std::span<const std::byte> data) override {
    bytes_.append(reinterpret_cast<const char*>(data.data()), data.size());
    return absl::OkStatus();
  }
  absl::StatusOr<client::FileContent> Finish() override {
    client::FileContent content;
    content.size = bytes_.size();
    if (!bytes_.empty()) {
      v1::Extent extent;
      extent.set_chunk_id(client_->StoreChunk(bytes_));
      extent.set_length(bytes_.size());
      content.extents.push_back(extent);
    }
    return content;
  }
  uint64_t size() const override { return bytes_.size(); }

 private:
  FakeClient* client_;
  std::string bytes_;
};

}  // namespace

FakeClient::FakeClient() {
  absl::MutexLock lock(&mu_);
  v1::Inode root = NewInodeLocked(v1::FILE_TYPE_DIRECTORY, 0755, 0, 0);
  root.set_id(client::kRootInode);
  root.set_parent(client::kRootInode);
  inodes_[client::kRootInode] = root;
}

v1::Inode FakeClient::NewInodeLocked(v1::FileType type, uint32_t mode, uint32_t uid,
                                     uint32_t gid) {
  v1::Inode inode;
  inode.set_id(next_inode_++);
  inode.set_type(type);
  inode.set_mode(mode & 07777);
  inode.set_uid(uid);
  inode.set_gid(gid);
  inode.set_nlink(type == v1::FILE_TYPE_DIRECTORY ? 2 : 1);
  const int64_t now = NowNs();
  inode.set_atime_ns(now);
  inode.set_mtime_ns(now);
  inode.set_ctime_ns(now);
  inode.set_content_version(1);
  return inode;
}

uint64_t FakeClient::StoreChunk(std::string bytes) {
  absl::MutexLock lock(&mu_);
  chunks_[next_chunk_] = std::move(bytes);
  return next_chunk_++;
}

absl::Status FakeClient::CheckDirLocked(uint64_t dir) {
  auto it = inodes_.find(dir);
  if (it == inodes_.end()) return absl::NotFoundError(absl::StrCat("inode ", dir, " not found"));
  if (it->second.type() != v1::FILE_TYPE_DIRECTORY) {
    return absl::FailedPreconditionError(absl::StrCat("inode ", dir, ": not a directory"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Inode> FakeClient::ChildLocked(uint64_t parent, const std::string& name) {
  RETURN_IF_ERROR(CheckDirLocked(parent));
  auto it = dentries_.find({parent, name});
  if (it == dentries_.end()) {
    return absl::NotFoundError(absl::StrCat("lookup ", name, " in inode ", parent, ": not found"));
  }
  return inodes_.at(it->second);
}

bool FakeClient::HasChildrenLocked(uint64_t dir) {
  auto it = dentries_.lower_bound({dir, ""});
  return it != dentries_.end() && it->first.first == dir;
}

absl::StatusOr<v1::Inode> FakeClient::Lookup(uint64_t parent, const std::string& name) {
  ++lookup_calls_;
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(v1::Inode inode, ChildLocked(parent, name));
  inode.clear_extents();
  return inode;
}

absl::StatusOr<v1::Inode> FakeClient::ResolvePath(const std::string& path, bool) {
  return absl::UnimplementedError("ResolvePath is not part of the fake");
}

absl::StatusOr<v1::Inode> FakeClient::GetAttr(uint64_t id, bool with_extents) {
  absl::MutexLock lock(&mu_);
  auto it = inodes_.find(id);
  if (it == inodes_.end()) return absl::NotFoundError(absl::StrCat("inode ", id, " not found"));
  v1::Inode inode = it->second;
  if (!with_extents) inode.clear_extents();
  return inode;
}

absl::StatusOr<client::DirectoryPage> FakeClient::ReadDir(uint64_t dir,
                                                          const std::string& start_after,
                                                          uint32_t limit, bool with_attributes,
                                                          uint32_t extents_up_to) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckDirLocked(dir));
  client::DirectoryPage page;
  auto it = dentries_.upper_bound({dir, start_after});
  if (start_after.empty()) it = dentries_.lower_bound({dir, ""});
  for (; it != dentries_.end() && it->first.first == dir; ++it) {
    if (page.entries.size() >= limit) return page;
    const v1::Inode& inode = inodes_.at(it->second);
    v1::ReadDirEntry entry;
    entry.set_name(it->first.second);
    entry.set_inode(inode.id());
    entry.set_type(inode.type());
    if (with_attributes) {
      *entry.mutable_attributes() = inode;
      if (inode.type() == v1::FILE_TYPE_REGULAR && extents_up_to > 0 &&
          static_cast<uint32_t>(inode.extents_size()) <= extents_up_to) {
        entry.set_has_extents(true);
      } else {
        entry.mutable_attributes()->clear_extents();
      }
    }
    page.entries.push_back(std::move(entry));
  }
  page.end_of_directory = true;
  return page;
}

absl::StatusOr<v1::Inode> FakeClient::MkDir(uint64_t parent, const std::string& name,
                                            uint32_t mode, uint32_t uid, uint32_t gid) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckDirLocked(parent));
  if (dentries_.count({parent, name}) != 0) {
    return absl::AlreadyExistsError(absl::StrCat("mkdir ", name, ": already exists"));
  }
  v1::Inode inode = NewInodeLocked(v1::FILE_TYPE_DIRECTORY, mode, uid, gid);
  inode.set_parent(parent);
  inodes_[inode.id()] = inode;
  dentries_[{parent, name}] = inode.id();
  return inode;
}

absl::Status FakeClient::RmDir(uint64_t parent, const std::string& name) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(v1::Inode inode, ChildLocked(parent, name));
  if (inode.type() != v1::FILE_TYPE_DIRECTORY) {
    return absl::FailedPreconditionError(absl::StrCat("rmdir ", name, ": not a directory"));
  }
  if (HasChildrenLocked(inode.id())) {
    return absl::FailedPreconditionError(absl::StrCat("rmdir ", name, ": directory not empty"));
  }
  dentries_.erase({parent, name});
  inodes_.erase(inode.id());
  return absl::OkStatus();
}

absl::Status FakeClient::Unlink(uint64_t parent, const std::string& name) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(v1::Inode inode, ChildLocked(parent, name));
  if (inode.type() == v1::FILE_TYPE_DIRECTORY) {
    return absl::FailedPreconditionError(absl::StrCat("unlink ", name, ": is a directory"));
  }
  dentries_.erase({parent, name});
  inodes_.erase(inode.id());
  return absl::OkStatus();
}

absl::Status FakeClient::Rename(uint64_t src_parent, const std::string& src_name,
                                uint64_t dst_parent, const std::string& dst_name,
                                bool no_replace) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(v1::Inode source, ChildLocked(src_parent, src_name));
  RETURN_IF_ERROR(CheckDirLocked(dst_parent));
  auto existing = dentries_.find({dst_parent, dst_name});
  if (existing != dentries_.end()) {
    if (existing->second == source.id()) return absl::OkStatus();
    if (no_replace) return absl::AlreadyExistsError(absl::StrCat("rename to ", dst_name, ": exists"));
    const v1::Inode& target = inodes_.at(existing->second);
    const bool source_dir = source.type() == v1::FILE_TYPE_DIRECTORY;
    const bool target_dir = target.type() == v1::FILE_TYPE_DIRECTORY;
    if (target_dir && !source_dir) {
      return absl::FailedPreconditionError(absl::StrCat("rename to ", dst_name, ": is a directory"));
    }
    if (!target_dir && source_dir) {
      return absl::FailedPreconditionError(absl::StrCat("rename to ", dst_name, ": not a directory"));
    }
    if (target_dir && HasChildrenLocked(target.id())) {
      return absl::FailedPreconditionError(absl::StrCat("rename to ", dst_name, ": not empty"));
    }
    inodes_.erase(target.id());
  }
  dentries_.erase({src_parent, src_name});
  dentries_[{dst_parent, dst_name}] = source.id();
  if (source.type() == v1::FILE_TYPE_DIRECTORY) inodes_[source.id()].set_parent(dst_parent);
  return absl::OkStatus();
}

std::string FakeClient::ContentLocked(const v1::Inode& inode) {
  std::string bytes(inode.size(), '\0');
  for (const v1::Extent& extent : inode.extents()) {
    const std::string& chunk = chunks_.at(extent.chunk_id());
    if (extent.file_offset() >= bytes.size()) continue;
    const size_t n = std::min<uint64_t>(extent.length(), bytes.size() - extent.file_offset());
    std::memcpy(bytes.data() + extent.file_offset(), chunk.data() + extent.chunk_offset(), n);
  }
  return bytes;
}

void FakeClient::SetContentLocked(v1::Inode& inode, const client::FileContent& content) {
  inode.clear_extents();
  for (const v1::Extent& extent : content.extents) *inode.add_extents() = extent;
  inode.set_size(content.size);
  inode.set_content_version(inode.content_version() + 1);
  inode.set_mtime_ns(NowNs());
  inode.set_ctime_ns(NowNs());
}

absl::StatusOr<v1::Inode> FakeClient::SetAttr(const v1::SetAttrRequest& request) {
  absl::MutexLock lock(&mu_);
  auto it = inodes_.find(request.inode());
  if (it == inodes_.end()) return absl::NotFoundError(absl::StrCat("inode ", request.inode()));
  v1::Inode& inode = it->second;
  if (request.set_mode()) inode.set_mode(request.mode() & 07777);
  if (request.set_uid()) inode.set_uid(request.uid());
  if (request.set_gid()) inode.set_gid(request.gid());
  if (request.set_size()) {
    std::string bytes = ContentLocked(inode);
    bytes.resize(request.size(), '\0');
    chunks_[next_chunk_] = bytes;
    client::FileContent content;
    content.size = bytes.size();
    v1::Extent extent;
    extent.set_chunk_id(next_chunk_++);
    extent.set_length(bytes.size());
    content.extents.push_back(extent);
    SetContentLocked(inode, content);
  }
  if (request.set_atime()) inode.set_atime_ns(request.atime_ns());
  if (request.set_mtime()) inode.set_mtime_ns(request.mtime_ns());
  inode.set_ctime_ns(NowNs());
  v1::Inode result = inode;
  result.clear_extents();
  return result;
}

absl::StatusOr<v1::Inode> FakeClient::Symlink(uint64_t parent, const std::string& name,
                                              const std::string& target, uint32_t uid,
                                              uint32_t gid) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckDirLocked(parent));
  if (dentries_.count({parent, name}) != 0) {
    return absl::AlreadyExistsError(absl::StrCat("symlink ", name, ": already exists"));
  }
  v1::Inode inode = NewInodeLocked(v1::FILE_TYPE_SYMLINK, 0777, uid, gid);
  inode.set_symlink_target(target);
  inode.set_size(target.size());
  inodes_[inode.id()] = inode;
  dentries_[{parent, name}] = inode.id();
  return inode;
}

absl::StatusOr<std::string> FakeClient::ReadLink(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = inodes_.find(id);
  if (it == inodes_.end()) return absl::NotFoundError(absl::StrCat("inode ", id));
  if (it->second.type() != v1::FILE_TYPE_SYMLINK) {
    return absl::InvalidArgumentError(absl::StrCat("readlink inode ", id, ": not a symlink"));
  }
  return it->second.symlink_target();
}

absl::StatusOr<v1::StatFsReply> FakeClient::StatFs() {
  v1::StatFsReply reply;
  reply.set_capacity_bytes(100ull << 30);
  reply.set_free_bytes(60ull << 30);
  reply.set_used_bytes(40ull << 30);
  reply.set_block_size(4096);
  reply.set_max_name_length(255);
  return reply;
}

absl::StatusOr<v1::ClusterStatusReply> FakeClient::ClusterStatus() {
  return v1::ClusterStatusReply();
}

absl::StatusOr<v1::Inode> FakeClient::CreateFile(uint64_t parent, const std::string& name,
                                                 const client::FileContent& content,
                                                 const client::CreateFileOptions& options) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckDirLocked(parent));
  auto existing = dentries_.find({parent, name});
  if (existing != dentries_.end()) {
    if (options.exclusive || !options.replace_existing) {
      return absl::AlreadyExistsError(absl::StrCat("create ", name, ": already exists"));
    }
    inodes_.erase(existing->second);
  }
  v1::Inode inode = NewInodeLocked(v1::FILE_TYPE_REGULAR, options.mode, options.uid, options.gid);
  SetContentLocked(inode, content);
  inodes_[inode.id()] = inode;
  dentries_[{parent, name}] = inode.id();
  inode.clear_extents();
  return inode;
}

absl::StatusOr<v1::Inode> FakeClient::CommitFile(uint64_t id, const client::FileContent& content,
                                                 uint64_t expected_content_version) {
  ++commit_calls_;
  absl::MutexLock lock(&mu_);
  auto it = inodes_.find(id);
  if (it == inodes_.end()) return absl::NotFoundError(absl::StrCat("commit inode ", id));
  if (expected_content_version != 0 && it->second.content_version() != expected_content_version) {
    return absl::AbortedError(absl::StrCat("commit inode ", id, ": changed meanwhile"));
  }
  SetContentLocked(it->second, content);
  v1::Inode result = it->second;
  result.clear_extents();
  return result;
}

absl::StatusOr<std::unique_ptr<client::FileWriter>> FakeClient::NewWriter() {
  return std::unique_ptr<client::FileWriter>(new FakeWriter(this));
}

absl::StatusOr<size_t> FakeClient::Read(const v1::Inode& inode, uint64_t offset,
                                        std::span<std::byte> dst) {
  ++read_calls_;
  if (fail_reads_.load() > 0 && fail_reads_.fetch_sub(1) > 0) {
    return absl::UnavailableError(absl::StrCat("read inode ", inode.id(), ": injected failure"));
  }
  if (offset >= inode.size()) return 0;
  const size_t n = std::min<uint64_t>(dst.size(), inode.size() - offset);
  std::memset(dst.data(), 0, n);
  absl::MutexLock lock(&mu_);
  for (const v1::Extent& extent : inode.extents()) {
    const uint64_t start = std::max<uint64_t>(offset, extent.file_offset());
    const uint64_t end = std::min<uint64_t>(offset + n, extent.file_offset() + extent.length());
    if (start >= end) continue;
    const std::string& chunk = chunks_.at(extent.chunk_id());
    std::memcpy(dst.data() + (start - offset),
                chunk.data() + extent.chunk_offset() + (start - extent.file_offset()), end - start);
  }
  return n;
}

absl::Status FakeClient::RegisterBuffer(void*, size_t) { return absl::OkStatus(); }

std::string FakeClient::Content(uint64_t id) {
  absl::MutexLock lock(&mu_);
  return ContentLocked(inodes_.at(id));
}

}  // namespace medfs::fuse::testing
