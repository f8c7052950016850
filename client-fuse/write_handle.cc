#include "client-fuse/write_handle.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "common/logging.h"
#include "common/status.h"

namespace medfs::fuse {
namespace {

// An inode value whose extents describe `content` (readable by Client::Read).
v1::Inode InodeForContent(uint64_t id, const client::FileContent& content) {
  v1::Inode inode;
  inode.set_id(id);
  inode.set_type(v1::FILE_TYPE_REGULAR);
  inode.set_size(content.size);
  for (const v1::Extent& extent : content.extents) *inode.add_extents() = extent;
  return inode;
}

}  // namespace

WriteHandle::WriteHandle(client::Client* client, v1::Inode base, bool truncate,
                         WriteHandleOptions options)
    : client_(client), inode_id_(base.id()), options_(std::move(options)) {
  if (truncate) {
    base.clear_extents();
    base.set_size(0);
    dirty_ = true;
  }
  base_size_ = base.size();
  size_ = base.size();
  base_ = std::move(base);
}

WriteHandle::~WriteHandle() {
  if (temp_fd_ >= 0) ::close(temp_fd_);
}

uint64_t WriteHandle::size() const {
  absl::MutexLock lock(&mu_);
  return size_;
}

bool WriteHandle::dirty() const {
  absl::MutexLock lock(&mu_);
  return dirty_;
}

absl::Status WriteHandle::Write(uint64_t offset,
                                std::span<const std::byte> data) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(sticky_error_);
  if (data.empty()) return absl::OkStatus();
  if (stream_ == nullptr && offset == 0 && size_ == 0 && base_size_ == 0 &&
      ranges_.empty() && !frozen_.has_value()) {
    absl::StatusOr<std::unique_ptr<client::FileWriter>> writer = client_->NewWriter();
    if (!writer.ok()) {
      sticky_error_ = Annotate(writer.status(), absl::StrCat("write inode ", inode_id_));
      return sticky_error_;
    }
    stream_ = std::move(*writer);
  }
  if (stream_ != nullptr && offset == stream_->size()) {
    absl::Status status = stream_->Append(data);
    if (!status.ok()) {
      sticky_error_ = Annotate(status, absl::StrCat("write inode ", inode_id_));
      return sticky_error_;
    }
    size_ = std::max<uint64_t>(size_, offset + data.size());
    dirty_ = true;
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(FreezeStream());
  RETURN_IF_ERROR(EnsureTempFile());
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(temp_fd_, data.data() + done, data.size() - done,
                         static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      sticky_error_ = ErrnoToStatus(n < 0 ? errno : EIO,
                                    absl::StrCat("write inode ", inode_id_,
                                                 " to the local temporary file"));
      return sticky_error_;
    }
    done += static_cast<size_t>(n);
  }
  AddRange(offset, offset + data.size());
  size_ = std::max<uint64_t>(size_, offset + data.size());
  dirty_ = true;
  return absl::OkStatus();
}

absl::StatusOr<size_t> WriteHandle::Read(uint64_t offset,
                                         std::span<std::byte> dst) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(sticky_error_);
  if (offset >= size_) return 0;
  const size_t n = static_cast<size_t>(std::min<uint64_t>(dst.size(), size_ - offset));
  RETURN_IF_ERROR(FreezeStream());
  RETURN_IF_ERROR(Fill(offset, dst.first(n)));
  return n;
}

absl::Status WriteHandle::Truncate(uint64_t size) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(sticky_error_);
  if (size == size_) return absl::OkStatus();
  RETURN_IF_ERROR(FreezeStream());
  if (size < size_) {
    CutRanges(size);
    base_size_ = std::min(base_size_, size);
  }
  if (size == 0) frozen_.reset();  // empty again: the fast path may restart
  size_ = size;
  dirty_ = true;
  return absl::OkStatus();
}

void WriteHandle::SetTimesAfterCommit(std::optional<int64_t> atime_ns,
                                      std::optional<int64_t> mtime_ns) {
  absl::MutexLock lock(&mu_);
  if (atime_ns.has_value()) pending_atime_ns_ = atime_ns;
  if (mtime_ns.has_value()) pending_mtime_ns_ = mtime_ns;
}

absl::StatusOr<std::optional<v1::Inode>> WriteHandle::Commit() {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(sticky_error_);
  if (!dirty_) return std::optional<v1::Inode>();
  absl::StatusOr<client::FileContent> content = BuildContent();
  if (!content.ok()) {
    sticky_error_ = Annotate(content.status(), absl::StrCat("commit inode ", inode_id_));
    return sticky_error_;
  }
  // From here the content is the base: a failed commit can be retried.
  base_ = InodeForContent(inode_id_, *content);
  base_size_ = content->size;
  size_ = content->size;
  ranges_.clear();
  if (temp_fd_ >= 0 && ::ftruncate(temp_fd_, 0) != 0) {
    MEDFS_LOG(WARNING) << "shrink temporary file of inode " << inode_id_ << ": "
                       << std::strerror(errno);
  }
  frozen_ = *content;
  ASSIGN_OR_RETURN(v1::Inode committed, client_->CommitFile(inode_id_, *content));
  frozen_.reset();
  dirty_ = false;
  if (pending_atime_ns_.has_value() || pending_mtime_ns_.has_value()) {
    v1::SetAttrRequest request;
    request.set_inode(inode_id_);
    if (pending_atime_ns_) {
      request.set_set_atime(true);
      request.set_atime_ns(*pending_atime_ns_);
    }
    if (pending_mtime_ns_) {
      request.set_set_mtime(true);
      request.set_mtime_ns(*pending_mtime_ns_);
    }
    pending_atime_ns_.reset();
    pending_mtime_ns_.reset();
    ASSIGN_OR_RETURN(committed, client_->SetAttr(request));
  }
  client_->InvalidateAttributes(inode_id_);
  return std::optional<v1::Inode>(std::move(committed));
}

absl::Status WriteHandle::FreezeStream() {
  if (stream_ == nullptr) return absl::OkStatus();
  absl::StatusOr<client::FileContent> content = stream_->Finish();
  stream_.reset();
  if (!content.ok()) {
    sticky_error_ = Annotate(content.status(), absl::StrCat("write inode ", inode_id_));
    return sticky_error_;
  }
  base_ = InodeForContent(inode_id_, *content);
  base_size_ = content->size;
  frozen_ = std::move(*content);
  return absl::OkStatus();
}

absl::Status WriteHandle::EnsureTempFile() {
  if (temp_fd_ >= 0) return absl::OkStatus();
  temp_fd_ = ::open(options_.temp_dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (temp_fd_ < 0) {
    // Filesystems without O_TMPFILE: create, then unlink at once.
    std::string path = options_.temp_dir + "/medfs-write-XXXXXX";
    temp_fd_ = ::mkostemp(path.data(), O_CLOEXEC);
    if (temp_fd_ >= 0) ::unlink(path.c_str());
  }
  if (temp_fd_ < 0) {
    sticky_error_ = ErrnoToStatus(errno, absl::StrCat("create a temporary file in ",
                                                      options_.temp_dir, " for inode ",
                                                      inode_id_));
    return sticky_error_;
  }
  return absl::OkStatus();
}

void WriteHandle::AddRange(uint64_t start, uint64_t end) {
  auto it = ranges_.upper_bound(start);
  if (it != ranges_.begin()) {
    auto prev = std::prev(it);
    if (prev->second >= start) {
      start = prev->first;
      end = std::max(end, prev->second);
      it = ranges_.erase(prev);
    }
  }
  while (it != ranges_.end() && it->first <= end) {
    end = std::max(end, it->second);
    it = ranges_.erase(it);
  }
  ranges_[start] = end;
}

void WriteHandle::CutRanges(uint64_t size) {
  auto it = ranges_.lower_bound(size);
  ranges_.erase(it, ranges_.end());
  if (!ranges_.empty() && ranges_.rbegin()->second > size) {
    ranges_.rbegin()->second = size;
  }
}

absl::Status WriteHandle::Fill(uint64_t offset, std::span<std::byte> dst) {
  std::memset(dst.data(), 0, dst.size());
  const uint64_t end = offset + dst.size();
  uint64_t pos = offset;
  auto it = ranges_.upper_bound(pos);
  if (it != ranges_.begin() && std::prev(it)->second > pos) it = std::prev(it);
  while (pos < end) {
    const uint64_t next_start = it == ranges_.end() ? end : std::min(end, it->first);
    if (pos < next_start) {  // a gap: the base content, or zeros past it
      const uint64_t gap_end = std::min(next_start, base_size_);
      if (pos < gap_end) {
        ASSIGN_OR_RETURN(size_t ignored,
                         client_->Read(base_, pos, dst.subspan(pos - offset, gap_end - pos)));
        (void)ignored;  // a short read leaves zeros
      }
      pos = next_start;
      continue;
    }
    const uint64_t range_end = std::min(end, it->second);
    size_t done = 0;
    while (pos + done < range_end) {
      ssize_t n = ::pread(temp_fd_, dst.data() + (pos - offset) + done,
                          range_end - pos - done, static_cast<off_t>(pos + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        return ErrnoToStatus(errno, absl::StrCat("read back inode ", inode_id_,
                                                 " from the local temporary file"));
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    pos = range_end;
    ++it;
  }
  return absl::OkStatus();
}

absl::StatusOr<client::FileContent> WriteHandle::BuildContent() {
  if (stream_ != nullptr) {
    absl::StatusOr<client::FileContent> content = stream_->Finish();
    stream_.reset();
    return content;
  }
  if (frozen_.has_value() && ranges_.empty() && size_ == base_size_ &&
      frozen_->size == size_) {
    return *frozen_;
  }
  if (size_ == 0) return client::FileContent{};
  ASSIGN_OR_RETURN(std::unique_ptr<client::FileWriter> writer, client_->NewWriter());
  std::vector<std::byte> buffer(std::min<uint64_t>(options_.copy_bytes, size_));
  for (uint64_t pos = 0; pos < size_; pos += buffer.size()) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buffer.size(), size_ - pos));
    std::span<std::byte> piece(buffer.data(), n);
    RETURN_IF_ERROR(Fill(pos, piece));
    RETURN_IF_ERROR(writer->Append(piece));
  }
  return writer->Finish();
}

}  // namespace medfs::fuse
