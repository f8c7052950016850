#include "meta/store/ops/common.h"

#include "absl/strings/escaping.h"
#include "common/status.h"
#include "meta/store/keys.h"

namespace medfs::meta::ops {

std::string Where(absl::string_view op, uint64_t parent, absl::string_view name) {
  return absl::StrCat(op, " dir ", parent, " name \"", absl::CEscape(name), "\"");
}

absl::Status ValidateName(absl::string_view name, absl::string_view where) {
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": empty name"));
  }
  if (name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": name too long (", name.size(), " bytes, at most 255)"));
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": \".\" and \"..\" are reserved names"));
  }
  if (name.find('/') != absl::string_view::npos ||
      name.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": name contains '/' or NUL"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Inode> GetDirectory(Txn& txn, uint64_t id,
                                       absl::string_view where) {
  ASSIGN_OR_RETURN(std::optional<v1::Inode> dir, txn.GetInode(id));
  if (!dir) {
    return absl::NotFoundError(absl::StrCat(where, ": inode ", id, " not found"));
  }
  if (dir->type() != v1::FILE_TYPE_DIRECTORY) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, ": inode ", id, " is not a directory"));
  }
  return std::move(*dir);
}

v1::Inode NewInode(uint64_t id, v1::FileType type, uint32_t mode,
                   const v1::Credentials& owner, int64_t now_ns) {
  v1::Inode inode;
  inode.set_id(id);
  inode.set_type(type);
  inode.set_mode(mode & 07777);
  inode.set_uid(owner.uid());
  inode.set_gid(owner.gid());
  inode.set_nlink(1);
  inode.set_atime_ns(now_ns);
  inode.set_mtime_ns(now_ns);
  inode.set_ctime_ns(now_ns);
  inode.set_crtime_ns(now_ns);
  return inode;
}

absl::Status AddEntry(Txn& txn, v1::Inode& dir, absl::string_view name,
                      const v1::Inode& child) {
  v1::DirEntryValue entry;
  entry.set_inode(child.id());
  entry.set_type(child.type());
  txn.PutDentry(dir.id(), name, entry);
  txn.PutInode(child);
  dir.set_entry_count(dir.entry_count() + 1);
  if (child.type() == v1::FILE_TYPE_DIRECTORY) dir.set_nlink(dir.nlink() + 1);
  TouchDirectory(dir, txn.now_ns());
  txn.PutInode(dir);
  return txn.AddToCounter(kSystemInodeCount, 1);
}

absl::Status ValidateExtents(
    const google::protobuf::RepeatedPtrField<v1::Extent>& extents,
    uint64_t size, uint64_t max_chunk_bytes, absl::string_view where) {
  uint64_t end_of_previous = 0;
  for (int i = 0; i < extents.size(); ++i) {
    const v1::Extent& e = extents[i];
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": extent ", i, " (chunk ", e.chunk_id(), ", file offset ",
          e.file_offset(), ", length ", e.length(), ") ", why));
    };
    if (e.length() == 0) return bad("is empty");
    if (e.chunk_id() == 0) return bad("has no chunk id");
    if (e.file_offset() < end_of_previous) {
      return bad("overlaps or is out of order");
    }
    if (e.length() > size || e.file_offset() > size - e.length()) {
      return bad("ends past the size");
    }
    if (e.length() > max_chunk_bytes ||
        e.chunk_offset() > max_chunk_bytes - e.length()) {
      return bad("ends past the largest chunk");
    }
    end_of_previous = e.file_offset() + e.length();
  }
  return absl::OkStatus();
}

}  // namespace medfs::meta::ops
