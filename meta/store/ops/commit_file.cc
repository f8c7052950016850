// CommitFile: replace a regular file's whole content (close-to-open).
#include "common/status.h"
#include "meta/store/commit_pipeline.h"
#include "meta/store/meta_store.h"
#include "meta/store/mutate.h"
#include "meta/store/ops/common.h"

namespace medfs::meta {

absl::StatusOr<v1::Inode> MetaStore::CommitFile(
    const v1::CommitFileRequest& request) {
  v1::Inode out;
  RETURN_IF_ERROR(pipeline_->Run(
      [&](Txn& txn) { return CommitFileLogic(txn, request, &out); }));
  return out;
}

void MetaStore::CommitFileAsync(const v1::CommitFileRequest& request,
                                Callback<v1::Inode> done) {
  Mutate<v1::Inode>(
      [&](Txn& txn, v1::Inode* out) {
        return CommitFileLogic(txn, request, out);
      },
      std::move(done));
}

void MetaStore::CommitFilesAsync(
    const Requests<v1::CommitFileRequest>& requests,
    absl::FunctionRef<Callback<v1::Inode>(int)> done_of) {
  MutateEach<v1::Inode>(requests, done_of,
             [this](Txn& txn, const v1::CommitFileRequest& request, v1::Inode* out) {
               return CommitFileLogic(txn, request, out);
             });
}

absl::Status MetaStore::CommitFileLogic(Txn& txn,
                                        const v1::CommitFileRequest& request,
                                        v1::Inode* out) {
  std::string where = absl::StrCat("commit of inode ", request.inode());
  ASSIGN_OR_RETURN(std::optional<v1::Inode> file, txn.GetInode(request.inode()));
  if (!file) return absl::NotFoundError(absl::StrCat(where, ": not found"));
  if (file->type() == v1::FILE_TYPE_DIRECTORY) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, ": inode is a directory"));
  }
  if (file->type() != v1::FILE_TYPE_REGULAR) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": not a regular file"));
  }
  if (request.expected_content_version() != 0 &&
      request.expected_content_version() != file->content_version()) {
    return absl::AbortedError(absl::StrCat(
        where, ": content version is ", file->content_version(), ", expected ",
        request.expected_content_version()));
  }
  RETURN_IF_ERROR(ops::ValidateExtents(request.extents(), request.size(),
                                       options_.max_chunk_bytes, where));
  RETURN_IF_ERROR(UpdateChunkRefs(txn, file->extents(), request.extents(),
                                  request.sealed_chunks()));
  *file->mutable_extents() = request.extents();
  file->set_size(request.size());
  file->set_content_version(file->content_version() + 1);
  file->set_mtime_ns(request.mtime_ns() != 0 ? request.mtime_ns() : txn.now_ns());
  file->set_ctime_ns(txn.now_ns());
  txn.PutInode(*file);
  *out = ops::WithoutExtents(std::move(*file));
  return absl::OkStatus();
}

}  // namespace medfs::meta
