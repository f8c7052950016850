// CreateFile: a new regular file with its content (extent list) in one
// mutation, optionally replacing an existing file atomically.
#include "common/status.h"
#include "meta/store/commit_pipeline.h"
#include "meta/store/id_allocator.h"
#include "meta/store/meta_store.h"
#include "meta/store/mutate.h"
#include "meta/store/ops/common.h"

namespace medfs::meta {
namespace {

v1::Inode NewFile(uint64_t id, const v1::CreateFileRequest& request,
                  int64_t now_ns) {
  v1::Inode file = ops::NewInode(id, v1::FILE_TYPE_REGULAR, request.mode(),
                                 request.owner(), now_ns);
  file.set_size(request.size());
  *file.mutable_extents() = request.extents();
  file.set_content_version(1);
  return file;
}

}  // namespace

absl::StatusOr<v1::Inode> MetaStore::CreateFile(
    const v1::CreateFileRequest& request) {
  v1::InodeReply out;
  RETURN_IF_ERROR(pipeline_->Run(
      [&](Txn& txn) { return CreateFileLogic(txn, request, &out); }));
  return std::move(*out.mutable_inode());
}

void MetaStore::CreateFileAsync(const v1::CreateFileRequest& request,
                                Callback<v1::InodeReply> done) {
  Mutate<v1::InodeReply>(
      [&](Txn& txn, v1::InodeReply* out) {
        return CreateFileLogic(txn, request, out);
      },
      std::move(done));
}

void MetaStore::CreateFilesAsync(
    const Requests<v1::CreateFileRequest>& requests,
    absl::FunctionRef<Callback<v1::InodeReply>(int)> done_of) {
  MutateEach<v1::InodeReply>(
      requests, done_of,
      [this](Txn& txn, const v1::CreateFileRequest& request, v1::InodeReply* out) {
        return CreateFileLogic(txn, request, out);
      });
}

absl::Status MetaStore::CreateFileLogic(Txn& txn,
                                        const v1::CreateFileRequest& request,
                                        v1::InodeReply* out) {
  std::string where = ops::Where("create", request.parent(), request.name());
  RETURN_IF_ERROR(ops::ValidateName(request.name(), where));
  ASSIGN_OR_RETURN(v1::Inode parent,
                   ops::GetDirectory(txn, request.parent(), where));
  RETURN_IF_ERROR(ops::ValidateExtents(request.extents(), request.size(),
                                       options_.max_chunk_bytes, where));
  ASSIGN_OR_RETURN(auto existing, txn.GetDentry(request.parent(), request.name()));
  if (!existing) {
    RETURN_IF_ERROR(UpdateChunkRefs(txn, {}, request.extents(),
                                    request.sealed_chunks()));
    ASSIGN_OR_RETURN(uint64_t id, inode_ids_->Next());
    v1::Inode file = NewFile(id, request, txn.now_ns());
    RETURN_IF_ERROR(ops::AddEntry(txn, parent, request.name(), file));
    *out->mutable_inode() = ops::WithoutExtents(std::move(file));
    if (request.want_parent()) *out->mutable_parent() = std::move(parent);
    return absl::OkStatus();
  }
  if (request.exclusive()) {
    return absl::AlreadyExistsError(absl::StrCat(where, ": exists"));
  }
  if (existing->type() == v1::FILE_TYPE_DIRECTORY) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, ": inode ", existing->inode(), " is a directory"));
  }
  ASSIGN_OR_RETURN(std::optional<v1::Inode> old, txn.GetInode(existing->inode()));
  if (!old) {
    return absl::DataLossError(absl::StrCat(
        where, ": entry points to missing inode ", existing->inode()));
  }
  if (!request.replace_existing()) {  // open(O_CREAT) of an existing file
    *out->mutable_inode() = ops::WithoutExtents(std::move(*old));
    if (request.want_parent()) *out->mutable_parent() = std::move(parent);
    return absl::OkStatus();
  }
  // One combined reference change, so chunks the old and the new content
  // share never drop to zero in between.
  RETURN_IF_ERROR(UpdateChunkRefs(txn, old->extents(), request.extents(),
                                  request.sealed_chunks()));
  txn.DeleteInode(old->id());
  ASSIGN_OR_RETURN(uint64_t id, inode_ids_->Next());
  v1::Inode file = NewFile(id, request, txn.now_ns());
  v1::DirEntryValue entry;
  entry.set_inode(id);
  entry.set_type(v1::FILE_TYPE_REGULAR);
  txn.PutDentry(parent.id(), request.name(), entry);
  txn.PutInode(file);
  ops::TouchDirectory(parent, txn.now_ns());
  txn.PutInode(parent);
  *out->mutable_inode() = ops::WithoutExtents(std::move(file));
  if (request.want_parent()) *out->mutable_parent() = std::move(parent);
  return absl::OkStatus();
}

}  // namespace medfs::meta
