// Namespace reads: Lookup, ResolvePath, GetAttr, ReadDir, ReadLink, StatFs.
// They read RocksDB directly and so see durable state only.
#include <deque>

#include "absl/strings/str_split.h"
#include "common/status.h"
#include "meta/store/keys.h"
#include "meta/store/kv_store.h"
#include "meta/store/meta_store.h"
#include "meta/store/ops/common.h"
#include "meta/store/server_table.h"

namespace medfs::meta {
namespace {

constexpr int kMaxSymlinkHops = 40;
constexpr uint32_t kDefaultReadDirLimit = 1000;
constexpr uint32_t kMaxReadDirLimit = 10000;

// A consistent view of the durable state for one read operation.
class Reader {
 public:
  explicit Reader(const KvStore* kv) : kv_(kv), snapshot_(kv->db()->GetSnapshot()) {}
  ~Reader() { kv_->db()->ReleaseSnapshot(snapshot_); }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  const rocksdb::Snapshot* snapshot() const { return snapshot_; }

  // kNotFound "where: inode N not found".
  absl::StatusOr<v1::Inode> Inode(uint64_t id, absl::string_view where) const {
    ASSIGN_OR_RETURN(auto bytes, kv_->Get(Cf::kInodes, EncodeId(id), snapshot_));
    if (!bytes) {
      return absl::NotFoundError(absl::StrCat(where, ": inode ", id, " not found"));
    }
    v1::Inode inode;
    if (!inode.ParseFromString(*bytes)) {
      return absl::DataLossError(
          absl::StrCat(where, ": inode ", id, " does not decode"));
    }
    return inode;
  }

  // The child id of `name` in `dir`; kNotFound.
  absl::StatusOr<uint64_t> Child(uint64_t dir, absl::string_view name,
                                 absl::string_view where) const {
    ASSIGN_OR_RETURN(auto bytes,
                     kv_->Get(Cf::kDentries, DentryKey(dir, name), snapshot_));
    v1::DirEntryValue entry;
    if (!bytes) {
      return absl::NotFoundError(absl::StrCat(where, ": no entry \"", name,
                                              "\" in directory ", dir));
    }
    if (!entry.ParseFromString(*bytes)) {
      return absl::DataLossError(absl::StrCat(
          where, ": entry \"", name, "\" in directory ", dir, " does not decode"));
    }
    return entry.inode();
  }

 private:
  const KvStore* const kv_;
  const rocksdb::Snapshot* const snapshot_;
};

absl::Status RequireDirectory(const v1::Inode& inode, absl::string_view where) {
  if (inode.type() == v1::FILE_TYPE_DIRECTORY) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(where, ": inode ", inode.id(), " is not a directory"));
}

}  // namespace

absl::StatusOr<v1::Inode> MetaStore::Lookup(uint64_t parent,
                                            absl::string_view name,
                                            bool with_extents) {
  std::string where = ops::Where("lookup", parent, name);
  Reader reader(kv_.get());
  ASSIGN_OR_RETURN(v1::Inode dir, reader.Inode(parent, where));
  RETURN_IF_ERROR(RequireDirectory(dir, where));
  if (name == ".") return ops::WithoutExtents(std::move(dir));
  if (name == "..") {
    ASSIGN_OR_RETURN(v1::Inode up, reader.Inode(dir.parent(), where));
    return ops::WithoutExtents(std::move(up));
  }
  RETURN_IF_ERROR(ops::ValidateName(name, where));
  ASSIGN_OR_RETURN(uint64_t child, reader.Child(parent, name, where));
  ASSIGN_OR_RETURN(v1::Inode inode, reader.Inode(child, where));
  if (with_extents) return inode;
  return ops::WithoutExtents(std::move(inode));
}

absl::StatusOr<v1::Inode> MetaStore::ResolvePath(absl::string_view path,
                                                 bool follow_last_symlink) {
  std::string where = absl::StrCat("resolving path \"", path, "\"");
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(where, ": not absolute"));
  }
  Reader reader(kv_.get());
  std::deque<std::string> rest = absl::StrSplit(path, '/', absl::SkipEmpty());
  ASSIGN_OR_RETURN(v1::Inode current, reader.Inode(kRootInode, where));
  int hops = 0;
  while (!rest.empty()) {
    std::string name = std::move(rest.front());
    rest.pop_front();
    if (name == ".") continue;
    RETURN_IF_ERROR(RequireDirectory(current, where));
    if (name == "..") {
      ASSIGN_OR_RETURN(current, reader.Inode(current.parent(), where));
      continue;
    }
    RETURN_IF_ERROR(ops::ValidateName(name, where));
    ASSIGN_OR_RETURN(uint64_t child_id, reader.Child(current.id(), name, where));
    ASSIGN_OR_RETURN(v1::Inode child, reader.Inode(child_id, where));
    bool follow = child.type() == v1::FILE_TYPE_SYMLINK &&
                  (!rest.empty() || follow_last_symlink);
    if (!follow) {
      current = std::move(child);
      continue;
    }
    if (++hops > kMaxSymlinkHops) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": too many levels of symbolic links"));
    }
    const std::string& target = child.symlink_target();
    std::vector<std::string> parts = absl::StrSplit(target, '/', absl::SkipEmpty());
    rest.insert(rest.begin(), parts.begin(), parts.end());
    if (!target.empty() && target[0] == '/') {
      ASSIGN_OR_RETURN(current, reader.Inode(kRootInode, where));
    }
  }
  return ops::WithoutExtents(std::move(current));
}

absl::StatusOr<v1::Inode> MetaStore::GetAttr(uint64_t id, bool with_extents) {
  ASSIGN_OR_RETURN(auto bytes, kv_->Get(Cf::kInodes, EncodeId(id)));
  if (!bytes) {
    return absl::NotFoundError(absl::StrCat("getattr: inode ", id, " not found"));
  }
  v1::Inode inode;
  if (!inode.ParseFromString(*bytes)) {
    return absl::DataLossError(
        absl::StrCat("getattr: inode ", id, " does not decode"));
  }
  if (!with_extents) inode.clear_extents();
  return inode;
}

absl::StatusOr<v1::ReadDirReply> MetaStore::ReadDir(
    const v1::ReadDirRequest& request) {
  std::string where = absl::StrCat("readdir of directory ", request.dir());
  Reader reader(kv_.get());
  ASSIGN_OR_RETURN(v1::Inode dir, reader.Inode(request.dir(), where));
  RETURN_IF_ERROR(RequireDirectory(dir, where));
  uint32_t limit = request.limit() == 0 ? kDefaultReadDirLimit
                                        : std::min(request.limit(), kMaxReadDirLimit);
  std::string prefix = EncodeId(request.dir());
  std::string upper = EncodeId(request.dir() + 1);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions read_options;
  read_options.snapshot = reader.snapshot();
  read_options.iterate_upper_bound = &upper_slice;
  auto it = kv_->NewIterator(Cf::kDentries, read_options);
  it->Seek(DentryKey(request.dir(), request.start_after()));
  v1::ReadDirReply reply;
  for (; it->Valid(); it->Next()) {
    absl::string_view name(it->key().data() + 8, it->key().size() - 8);
    if (name.empty() || name == request.start_after()) continue;
    if (static_cast<uint32_t>(reply.entries_size()) == limit) break;
    v1::DirEntryValue value;
    if (!value.ParseFromArray(it->value().data(), it->value().size())) {
      return absl::DataLossError(absl::StrCat(where, ": entry \"", name,
                                              "\" does not decode"));
    }
    v1::ReadDirEntry* entry = reply.add_entries();
    entry->set_name(name.data(), name.size());
    entry->set_inode(value.inode());
    entry->set_type(value.type());
    if (request.with_attributes()) {
      ASSIGN_OR_RETURN(*entry->mutable_attributes(),
                       reader.Inode(value.inode(), where));
      if (KeepsExtents(entry->attributes(), request.extents_up_to())) {
        entry->set_has_extents(true);
      } else {
        entry->mutable_attributes()->clear_extents();
      }
    }
  }
  RETURN_IF_ERROR(FromRocksStatus(it->status(), where));
  reply.set_end_of_directory(!it->Valid());
  return reply;
}

absl::StatusOr<std::string> MetaStore::ReadLink(uint64_t id) {
  ASSIGN_OR_RETURN(v1::Inode inode, GetAttr(id, false));
  if (inode.type() != v1::FILE_TYPE_SYMLINK) {
    return absl::InvalidArgumentError(
        absl::StrCat("readlink: inode ", id, " is not a symlink"));
  }
  return inode.symlink_target();
}

absl::StatusOr<v1::StatFsReply> MetaStore::StatFs() {
  ServerTable::Totals totals = servers_->UpTotals();
  ASSIGN_OR_RETURN(auto count, kv_->Get(Cf::kSystem, kSystemInodeCount));
  v1::StatFsReply reply;
  reply.set_capacity_bytes(totals.capacity_bytes);
  reply.set_free_bytes(totals.free_bytes);
  reply.set_used_bytes(totals.capacity_bytes - std::min(totals.capacity_bytes,
                                                        totals.free_bytes));
  reply.set_inode_count(count ? DecodeU64(*count) : 0);
  reply.set_block_size(4096);
  reply.set_max_name_length(kMaxNameBytes);
  return reply;
}

}  // namespace medfs::meta
