// SetAttr: mode, owner, times and size (truncate / extend with a hole).
#include "common/status.h"
#include "meta/store/commit_pipeline.h"
#include "meta/store/meta_store.h"
#include "meta/store/mutate.h"
#include "meta/store/ops/common.h"

namespace medfs::meta {
namespace {

// The extents of `extents` that lie below `size`, the last one shortened.
google::protobuf::RepeatedPtrField<v1::Extent> TruncateExtents(
    const google::protobuf::RepeatedPtrField<v1::Extent>& extents,
    uint64_t size) {
  google::protobuf::RepeatedPtrField<v1::Extent> kept;
  for (const v1::Extent& e : extents) {
    if (e.file_offset() >= size) break;  // ordered by file_offset
    v1::Extent* copy = kept.Add();
    *copy = e;
    if (e.file_offset() + e.length() > size) copy->set_length(size - e.file_offset());
  }
  return kept;
}

}  // namespace

absl::StatusOr<v1::Inode> MetaStore::SetAttr(const v1::SetAttrRequest& request) {
  v1::Inode out;
  RETURN_IF_ERROR(pipeline_->Run(
      [&](Txn& txn) { return SetAttrLogic(txn, request, &out); }));
  return out;
}

void MetaStore::SetAttrAsync(const v1::SetAttrRequest& request,
                             Callback<v1::Inode> done) {
  Mutate<v1::Inode>(
      [&](Txn& txn, v1::Inode* out) { return SetAttrLogic(txn, request, out); },
      std::move(done));
}

absl::Status MetaStore::SetAttrLogic(Txn& txn, const v1::SetAttrRequest& request,
                                     v1::Inode* out) {
  std::string where = absl::StrCat("setattr of inode ", request.inode());
  ASSIGN_OR_RETURN(std::optional<v1::Inode> inode, txn.GetInode(request.inode()));
  if (!inode) return absl::NotFoundError(absl::StrCat(where, ": not found"));
  if (request.set_size()) {
    if (inode->type() == v1::FILE_TYPE_DIRECTORY) {
      return absl::FailedPreconditionError(
          absl::StrCat(where, ": cannot set the size: is a directory"));
    }
    if (inode->type() != v1::FILE_TYPE_REGULAR) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": cannot set the size of a non-regular file"));
    }
    if (request.size() < inode->size()) {
      auto kept = TruncateExtents(inode->extents(), request.size());
      RETURN_IF_ERROR(UpdateChunkRefs(txn, inode->extents(), kept, {}));
      *inode->mutable_extents() = std::move(kept);
    }
    if (request.size() != inode->size()) {
      inode->set_size(request.size());  // growing leaves a hole: zeros
      inode->set_content_version(inode->content_version() + 1);
      inode->set_mtime_ns(txn.now_ns());
    }
  }
  if (request.set_mode()) inode->set_mode(request.mode() & 07777);
  if (request.set_uid()) inode->set_uid(request.uid());
  if (request.set_gid()) inode->set_gid(request.gid());
  if (request.set_atime()) inode->set_atime_ns(request.atime_ns());
  if (request.set_mtime()) inode->set_mtime_ns(request.mtime_ns());
  inode->set_ctime_ns(txn.now_ns());
  txn.PutInode(*inode);
  *out = ops::WithoutExtents(std::move(*inode));
  return absl::OkStatus();
}

}  // namespace medfs::meta
