// Unlink and RmDir: removing a directory entry and its inode.
#include "common/status.h"
#include "meta/store/commit_pipeline.h"
#include "meta/store/meta_store.h"
#include "meta/store/ops/common.h"

namespace medfs::meta {

absl::Status MetaStore::Unlink(uint64_t parent, absl::string_view name) {
  return pipeline_->Run(
      [&](Txn& txn) { return RemoveLogic(txn, parent, name, false); });
}

absl::Status MetaStore::RmDir(uint64_t parent, absl::string_view name) {
  return pipeline_->Run(
      [&](Txn& txn) { return RemoveLogic(txn, parent, name, true); });
}

void MetaStore::UnlinkAsync(uint64_t parent, absl::string_view name,
                            StatusCallback done) {
  pipeline_->RunAsync(
      [&](Txn& txn) { return RemoveLogic(txn, parent, name, false); },
      std::move(done));
}

void MetaStore::RmDirAsync(uint64_t parent, absl::string_view name,
                           StatusCallback done) {
  pipeline_->RunAsync(
      [&](Txn& txn) { return RemoveLogic(txn, parent, name, true); },
      std::move(done));
}

absl::Status MetaStore::RemoveLogic(Txn& txn, uint64_t parent_id,
                                    absl::string_view name, bool directory) {
  std::string where = ops::Where(directory ? "rmdir" : "unlink", parent_id, name);
  RETURN_IF_ERROR(ops::ValidateName(name, where));
  ASSIGN_OR_RETURN(v1::Inode parent, ops::GetDirectory(txn, parent_id, where));
  ASSIGN_OR_RETURN(auto entry, txn.GetDentry(parent_id, name));
  if (!entry) return absl::NotFoundError(absl::StrCat(where, ": no such entry"));
  ASSIGN_OR_RETURN(std::optional<v1::Inode> victim, txn.GetInode(entry->inode()));
  if (!victim) {
    return absl::DataLossError(absl::StrCat(
        where, ": entry points to missing inode ", entry->inode()));
  }
  bool is_dir = victim->type() == v1::FILE_TYPE_DIRECTORY;
  if (directory && !is_dir) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, ": inode ", victim->id(), " is not a directory"));
  }
  if (!directory && is_dir) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, ": inode ", victim->id(), " is a directory"));
  }
  if (is_dir && victim->entry_count() > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, ": directory ", victim->id(), " is not empty (",
                     victim->entry_count(), " entries)"));
  }
  txn.DeleteDentry(parent_id, name);
  RETURN_IF_ERROR(ReleaseInode(txn, *victim));
  parent.set_entry_count(parent.entry_count() - 1);
  if (is_dir) parent.set_nlink(parent.nlink() - 1);
  ops::TouchDirectory(parent, txn.now_ns());
  txn.PutInode(parent);
  return absl::OkStatus();
}

}  // namespace medfs::meta
