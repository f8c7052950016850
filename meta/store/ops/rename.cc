// Rename: atomically move a directory entry, possibly across directories,
// possibly replacing the destination. One Txn: both entries, the moved
// inode's parent pointer, both parents' counts and times, the replaced
// inode's release.
#include "absl/strings/escaping.h"
#include "common/status.h"
#include "meta/store/commit_pipeline.h"
#include "meta/store/keys.h"
#include "meta/store/meta_store.h"
#include "meta/store/ops/common.h"

namespace medfs::meta {
namespace {

// Deepest directory tree the cycle check walks before giving up.
constexpr int kMaxDepth = 4096;

// kInvalidArgument when `dir` is `ancestor` or inside it.
absl::Status CheckNotInside(Txn& txn, uint64_t dir, uint64_t ancestor,
                            absl::string_view where) {
  for (int depth = 0; depth < kMaxDepth; ++depth) {
    if (dir == ancestor) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": cannot move directory ", ancestor, " into its own subtree"));
    }
    if (dir == kRootInode) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::optional<v1::Inode> inode, txn.GetInode(dir));
    if (!inode) {
      return absl::DataLossError(
          absl::StrCat(where, ": ancestor inode ", dir, " is missing"));
    }
    dir = inode->parent();
  }
  return absl::DataLossError(
      absl::StrCat(where, ": directory tree deeper than ", kMaxDepth));
}

// kFailedPrecondition unless `dst` may be replaced by an entry of the
// source's kind.
absl::Status CheckReplaceable(bool src_is_dir, const v1::Inode& dst,
                              absl::string_view where) {
  bool dst_is_dir = dst.type() == v1::FILE_TYPE_DIRECTORY;
  if (src_is_dir && !dst_is_dir) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, ": destination inode ", dst.id(), " is not a directory"));
  }
  if (!src_is_dir && dst_is_dir) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, ": destination inode ", dst.id(), " is a directory"));
  }
  if (dst_is_dir && dst.entry_count() > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, ": destination directory ", dst.id(), " is not empty"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status MetaStore::Rename(const v1::RenameRequest& request) {
  return pipeline_->Run([&](Txn& txn) { return RenameLogic(txn, request); });
}

void MetaStore::RenameAsync(const v1::RenameRequest& request,
                            StatusCallback done) {
  pipeline_->RunAsync([&](Txn& txn) { return RenameLogic(txn, request); },
                      std::move(done));
}

absl::Status MetaStore::RenameLogic(Txn& txn, const v1::RenameRequest& request) {
  std::string where = absl::StrCat(
      ops::Where("rename", request.src_parent(), request.src_name()), " to dir ",
      request.dst_parent(), " name \"", absl::CEscape(request.dst_name()), "\"");
  RETURN_IF_ERROR(ops::ValidateName(request.src_name(), where));
  RETURN_IF_ERROR(ops::ValidateName(request.dst_name(), where));
  RETURN_IF_ERROR(ops::GetDirectory(txn, request.src_parent(), where).status());
  RETURN_IF_ERROR(ops::GetDirectory(txn, request.dst_parent(), where).status());
  ASSIGN_OR_RETURN(auto src_entry,
                   txn.GetDentry(request.src_parent(), request.src_name()));
  if (!src_entry) {
    return absl::NotFoundError(absl::StrCat(where, ": no such source entry"));
  }
  if (request.src_parent() == request.dst_parent() &&
      request.src_name() == request.dst_name()) {
    return absl::OkStatus();  // onto itself
  }
  ASSIGN_OR_RETURN(std::optional<v1::Inode> src, txn.GetInode(src_entry->inode()));
  if (!src) {
    return absl::DataLossError(absl::StrCat(
        where, ": entry points to missing inode ", src_entry->inode()));
  }
  bool src_is_dir = src->type() == v1::FILE_TYPE_DIRECTORY;
  ASSIGN_OR_RETURN(auto dst_entry,
                   txn.GetDentry(request.dst_parent(), request.dst_name()));
  std::optional<v1::Inode> dst;
  if (dst_entry) {
    if (dst_entry->inode() == src->id()) return absl::OkStatus();
    if (request.no_replace()) {
      return absl::AlreadyExistsError(absl::StrCat(where, ": destination exists"));
    }
    ASSIGN_OR_RETURN(dst, txn.GetInode(dst_entry->inode()));
    if (!dst) {
      return absl::DataLossError(absl::StrCat(
          where, ": destination points to missing inode ", dst_entry->inode()));
    }
    RETURN_IF_ERROR(CheckReplaceable(src_is_dir, *dst, where));
  }
  if (src_is_dir && request.src_parent() != request.dst_parent()) {
    RETURN_IF_ERROR(CheckNotInside(txn, request.dst_parent(), src->id(), where));
  }

  // Checks done; from here on only writes.
  bool dst_was_dir = dst && dst->type() == v1::FILE_TYPE_DIRECTORY;
  if (dst) RETURN_IF_ERROR(ReleaseInode(txn, *dst));
  txn.DeleteDentry(request.src_parent(), request.src_name());
  v1::DirEntryValue moved;
  moved.set_inode(src->id());
  moved.set_type(src->type());
  txn.PutDentry(request.dst_parent(), request.dst_name(), moved);
  src->set_ctime_ns(txn.now_ns());
  if (src_is_dir) src->set_parent(request.dst_parent());
  txn.PutInode(*src);

  // Re-read the parents through the Txn: they may be the same inode.
  ASSIGN_OR_RETURN(v1::Inode from,
                   ops::GetDirectory(txn, request.src_parent(), where));
  from.set_entry_count(from.entry_count() - 1);
  if (src_is_dir) from.set_nlink(from.nlink() - 1);
  ops::TouchDirectory(from, txn.now_ns());
  txn.PutInode(from);
  ASSIGN_OR_RETURN(v1::Inode to, ops::GetDirectory(txn, request.dst_parent(), where));
  if (!dst) to.set_entry_count(to.entry_count() + 1);
  to.set_nlink(to.nlink() + (src_is_dir ? 1 : 0) - (dst_was_dir ? 1 : 0));
  ops::TouchDirectory(to, txn.now_ns());
  txn.PutInode(to);
  return absl::OkStatus();
}

}  // namespace medfs::meta
