// MkDir and Symlink: new directory entries without content.
#include "common/status.h"
#include "meta/store/commit_pipeline.h"
#include "meta/store/id_allocator.h"
#include "meta/store/meta_store.h"
#include "meta/store/mutate.h"
#include "meta/store/ops/common.h"

namespace medfs::meta {

constexpr size_t kMaxSymlinkTargetBytes = 4096;

absl::StatusOr<v1::Inode> MetaStore::MkDir(const v1::MkDirRequest& request) {
  v1::Inode out;
  RETURN_IF_ERROR(pipeline_->Run(
      [&](Txn& txn) { return MkDirLogic(txn, request, &out); }));
  return out;
}

void MetaStore::MkDirAsync(const v1::MkDirRequest& request,
                           Callback<v1::Inode> done) {
  Mutate<v1::Inode>(
      [&](Txn& txn, v1::Inode* out) { return MkDirLogic(txn, request, out); },
      std::move(done));
}

absl::Status MetaStore::MkDirLogic(Txn& txn, const v1::MkDirRequest& request,
                                   v1::Inode* out) {
  std::string where = ops::Where("mkdir", request.parent(), request.name());
  RETURN_IF_ERROR(ops::ValidateName(request.name(), where));
  ASSIGN_OR_RETURN(v1::Inode parent,
                   ops::GetDirectory(txn, request.parent(), where));
  ASSIGN_OR_RETURN(auto existing,
                   txn.GetDentry(request.parent(), request.name()));
  if (existing)
    return absl::AlreadyExistsError(absl::StrCat(where, ": exists"));
  ASSIGN_OR_RETURN(uint64_t id, inode_ids_->Next());
  v1::Inode dir = ops::NewInode(id, v1::FILE_TYPE_DIRECTORY, request.mode(),
                                request.owner(), txn.now_ns());
  dir.set_nlink(2);
  dir.set_parent(parent.id());
  RETURN_IF_ERROR(ops::AddEntry(txn, parent, request.name(), dir));
  *out = std::move(dir);
  return absl::OkStatus();
}

absl::StatusOr<v1::Inode> MetaStore::Symlink(
    const v1::SymlinkRequest& request) {
  v1::Inode out;
  RETURN_IF_ERROR(pipeline_->Run(
      [&](Txn& txn) { return SymlinkLogic(txn, request, &out); }));
  return out;
}

void MetaStore::SymlinkAsync(const v1::SymlinkRequest& request,
                             Callback<v1::Inode> done) {
  Mutate<v1::Inode>(
      [&](Txn& txn, v1::Inode* out) { return SymlinkLogic(txn, request, out); },
      std::move(done));
}

absl::Status MetaStore::SymlinkLogic(Txn& txn, const v1::SymlinkRequest& request,
                                     v1::Inode* out) {
  std::string where = ops::Where("symlink", request.parent(), request.name());
  RETURN_IF_ERROR(ops::ValidateName(request.name(), where));
  if (request.target().empty() ||
      request.target().size() > kMaxSymlinkTargetBytes ||
      request.target().find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": target must be 1..4096 bytes without NUL, got ",
        request.target().size(), " bytes"));
  }
  ASSIGN_OR_RETURN(v1::Inode parent,
                   ops::GetDirectory(txn, request.parent(), where));
  ASSIGN_OR_RETURN(auto existing, txn.GetDentry(request.parent(), request.name()));
  if (existing) return absl::AlreadyExistsError(absl::StrCat(where, ": exists"));
  ASSIGN_OR_RETURN(uint64_t id, inode_ids_->Next());
  v1::Inode link = ops::NewInode(id, v1::FILE_TYPE_SYMLINK, 0777,
                                 request.owner(), txn.now_ns());
  link.set_symlink_target(request.target());
  link.set_size(request.target().size());
  RETURN_IF_ERROR(ops::AddEntry(txn, parent, request.name(), link));
  *out = std::move(link);
  return absl::OkStatus();
}

}  // namespace medfs::meta
