// ClientImpl: file content (writers, commits, reads) and buffer
// registration. The namespace half is in client.cc.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/chunk_reader.h"
#include "client/client_impl.h"
#include "client/file_writer.h"
#include "client/read_plan.h"
#include "common/dataplane/protocol.h"
#include "common/status.h"

namespace medfs::client {
namespace {

template <typename Request>
void FillContent(const FileContent& content, Request* request) {
  for (const v1::Extent& e : content.extents) *request->add_extents() = e;
  for (const v1::SealedChunk& c : content.sealed_chunks) {
    *request->add_sealed_chunks() = c;
  }
  request->set_size(content.size);
}

}  // namespace

absl::StatusOr<v1::Inode> ClientImpl::CreateFile(
    uint64_t parent, const std::string& name, const FileContent& content,
    const CreateFileOptions& options) {
  v1::CreateFileRequest request;
  request.set_parent(parent);
  request.set_name(name);
  request.set_mode(options.mode);
  request.mutable_owner()->set_uid(options.uid);
  request.mutable_owner()->set_gid(options.gid);
  request.set_exclusive(options.exclusive);
  request.set_replace_existing(options.replace_existing);
  // With an attribute cache, take the parent's new attributes along.
  request.set_want_parent(options_.attribute_cache_entries > 0);
  FillContent(content, &request);
  attributes_.Invalidate(parent);
  ASSIGN_OR_RETURN(v1::InodeReply reply, meta_->CreateFileReply(request));
  // The parent as the create left it: the next stat of the folder (the
  // kernel asks before every lookup in it) needs no round trip. Of two
  // creates in one folder answered out of order, the later change wins.
  if (reply.has_parent()) {
    std::optional<v1::Inode> cached = attributes_.Get(parent, /*need_extents=*/false);
    if (!cached || cached->ctime_ns() <= reply.parent().ctime_ns()) {
      attributes_.Put(reply.parent(), /*has_extents=*/false);
    }
  } else {
    attributes_.Invalidate(parent);
  }
  attributes_.Invalidate(reply.inode().id());
  return std::move(*reply.mutable_inode());
}

absl::StatusOr<v1::Inode> ClientImpl::CommitFile(
    uint64_t inode, const FileContent& content,
    uint64_t expected_content_version) {
  v1::CommitFileRequest request;
  request.set_inode(inode);
  request.set_expected_content_version(expected_content_version);
  FillContent(content, &request);
  attributes_.Invalidate(inode);
  absl::StatusOr<v1::Inode> result = meta_->CommitFile(request);
  attributes_.Invalidate(inode);
  return result;
}

absl::StatusOr<uint64_t> ClientImpl::MaxChunkBytes() {
  {
    absl::MutexLock lock(&mu_);
    if (max_chunk_bytes_ != 0) return max_chunk_bytes_;
  }
  ASSIGN_OR_RETURN(v1::ClusterStatusReply status, meta_->ClusterStatus());
  const uint64_t bytes = status.max_chunk_bytes() != 0
                             ? status.max_chunk_bytes()
                             : uint64_t{64} << 20;
  absl::MutexLock lock(&mu_);
  max_chunk_bytes_ = bytes;
  return bytes;
}

absl::StatusOr<const DataPlane*> ClientImpl::Data() {
  absl::MutexLock lock(&mu_);
  if (pool_ == nullptr) {
    ASSIGN_OR_RETURN(fabric::Endpoint * endpoint, EndpointLocked());
    ASSIGN_OR_RETURN(pool_, IoBufferPool::Create(
                                endpoint,
                                std::max<size_t>(1, options_.io_buffer_count),
                                dataplane::kMaxPieceBytes));
    data_plane_.endpoint = endpoint;
    data_plane_.pool = pool_.get();
    data_plane_.meta = meta_.get();
    data_plane_.locations = &locations_;
    data_plane_.selector = &selector_;
    data_plane_.reservoir = &reservoir_;
    data_plane_.call_timeout = options_.chunk_call_timeout;
    data_plane_.reads_cached_by_caller = options_.reads_cached_by_caller;
    data_plane_.max_parallel_pieces =
        std::max<size_t>(1, options_.max_parallel_pieces);
    data_plane_.replication = options_.replication;
    data_plane_.write_stripes = std::max<size_t>(1, options_.write_stripes);
    data_plane_.write_chunk_bytes = options_.write_chunk_bytes;
  }
  return &data_plane_;
}

absl::StatusOr<std::unique_ptr<FileWriter>> ClientImpl::NewWriter() {
  ASSIGN_OR_RETURN(uint64_t max_chunk_bytes, MaxChunkBytes());
  ASSIGN_OR_RETURN(const DataPlane* dp, Data());
  return std::make_unique<StripedFileWriter>(*dp, max_chunk_bytes);
}

absl::StatusOr<size_t> ClientImpl::Read(const v1::Inode& inode,
                                        uint64_t offset,
                                        std::span<std::byte> dst) {
  if (inode.type() == v1::FILE_TYPE_DIRECTORY) {
    return absl::FailedPreconditionError(
        absl::StrCat("read inode ", inode.id(), ": is a directory"));
  }
  const v1::Inode* source = &inode;
  v1::Inode with_extents;
  if (inode.extents_size() == 0 && inode.size() > 0) {
    // Either a sparse file or attributes fetched without extents.
    ASSIGN_OR_RETURN(with_extents, GetAttr(inode.id(), /*with_extents=*/true));
    source = &with_extents;
  }
  absl::StatusOr<ReadPlan> plan =
      PlanRead(source->extents(), source->size(), offset, dst.size(),
               dataplane::kMaxPieceBytes);
  if (!plan.ok()) {
    return Annotate(plan.status(), absl::StrCat("read inode ", inode.id()));
  }
  if (plan->length == 0) return size_t{0};
  ASSIGN_OR_RETURN(const DataPlane* dp, Data());
  absl::Status status = ExecuteRead(*dp, *plan, dst.data(),
                                    RegionFor(dst.data(), plan->length));
  if (!status.ok()) {
    return Annotate(status, absl::StrCat("read inode ", inode.id(),
                                         " at offset ", offset));
  }
  return static_cast<size_t>(plan->length);
}

absl::Status ClientImpl::RegisterBuffer(void* data, size_t length) {
  fabric::Endpoint* endpoint = nullptr;
  {
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(endpoint, EndpointLocked());
  }
  absl::StatusOr<const fabric::MemoryRegion*> region = endpoint->Register(data, length);
  if (!region.ok()) {
    return Annotate(region.status(),
                    absl::StrCat("register buffer of ", length, " bytes"));
  }
  absl::MutexLock lock(&mu_);
  if (std::find(user_regions_.begin(), user_regions_.end(), *region) ==
      user_regions_.end()) {
    user_regions_.push_back(*region);
  }
  return absl::OkStatus();
}

const fabric::MemoryRegion* ClientImpl::RegionFor(const void* data,
                                                  size_t length) {
  const auto* begin = static_cast<const std::byte*>(data);
  absl::MutexLock lock(&mu_);
  for (const fabric::MemoryRegion* region : user_regions_) {
    const auto* r = static_cast<const std::byte*>(region->data());
    if (begin >= r && begin + length <= r + region->size()) return region;
  }
  return nullptr;
}

}  // namespace medfs::client
