// Helpers shared by the operations in meta/store/ops/.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/proto/medfs.pb.h"
#include "meta/store/txn.h"

namespace medfs::meta::ops {

// "what" for error messages: `op dir 5 name "foo"`.
std::string Where(absl::string_view op, uint64_t parent, absl::string_view name);

// kInvalidArgument unless `name` is a valid entry name (1..255 bytes, no
// '/' or NUL, not "." or ".."); "name too long" for > 255 bytes.
absl::Status ValidateName(absl::string_view name, absl::string_view where);

// The directory `id` read through `txn`. kNotFound; "not a directory".
absl::StatusOr<v1::Inode> GetDirectory(Txn& txn, uint64_t id,
                                       absl::string_view where);

// A new inode with times set to `now_ns` and nlink 1.
v1::Inode NewInode(uint64_t id, v1::FileType type, uint32_t mode,
                   const v1::Credentials& owner, int64_t now_ns);

// Sets mtime and ctime of a directory whose entries changed.
inline void TouchDirectory(v1::Inode& dir, int64_t now_ns) {
  dir.set_mtime_ns(now_ns);
  dir.set_ctime_ns(now_ns);
}

// Links the new inode `child` into directory `dir` (already read through
// `txn`) as `name`: writes the entry, the child, the directory's counts and
// times, and the inode count.
absl::Status AddEntry(Txn& txn, v1::Inode& dir, absl::string_view name,
                      const v1::Inode& child);

// kInvalidArgument unless `extents` are ordered, non-overlapping, non-empty,
// inside [0, size) and inside one chunk of at most `max_chunk_bytes`.
absl::Status ValidateExtents(
    const google::protobuf::RepeatedPtrField<v1::Extent>& extents,
    uint64_t size, uint64_t max_chunk_bytes, absl::string_view where);

// The inode as reads return it: without extents.
inline v1::Inode WithoutExtents(v1::Inode inode) {
  inode.clear_extents();
  return inode;
}

}  // namespace medfs::meta::ops
