#include "client/read_plan.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace medfs::client {
namespace {

absl::Status CheckExtents(
    const google::protobuf::RepeatedPtrField<v1::Extent>& extents) {
  uint64_t previous_end = 0;
  for (int i = 0; i < extents.size(); ++i) {
    const v1::Extent& e = extents[i];
    if (e.file_offset() < previous_end) {
      return absl::InvalidArgumentError(absl::StrCat(
          "plan read: extent ", i, " at file offset ", e.file_offset(),
          " overlaps or precedes the previous one ending at ", previous_end));
    }
    previous_end = e.file_offset() + e.length();
  }
  return absl::OkStatus();
}

// Appends the pieces of [chunk_offset, chunk_offset+length) of one chunk,
// split at multiples of max_piece_bytes, landing at dst_offset onwards.
void AddPieces(uint64_t chunk_id, uint64_t chunk_offset, uint64_t length,
               uint64_t dst_offset, uint32_t max_piece_bytes,
               std::vector<ReadPiece>* pieces) {
  while (length > 0) {
    const uint64_t to_boundary =
        max_piece_bytes - chunk_offset % max_piece_bytes;
    const uint64_t n = std::min(length, to_boundary);
    pieces->push_back(ReadPiece{chunk_id, chunk_offset,
                                static_cast<uint32_t>(n), dst_offset});
    chunk_offset += n;
    dst_offset += n;
    length -= n;
  }
}

}  // namespace

absl::StatusOr<ReadPlan> PlanRead(
    const google::protobuf::RepeatedPtrField<v1::Extent>& extents,
    uint64_t file_size, uint64_t offset, uint64_t length,
    uint32_t max_piece_bytes) {
  if (max_piece_bytes == 0) {
    return absl::InvalidArgumentError("plan read: max_piece_bytes is 0");
  }
  if (absl::Status s = CheckExtents(extents); !s.ok()) return s;
  ReadPlan plan;
  if (offset >= file_size) return plan;
  plan.length = std::min(length, file_size - offset);
  const uint64_t end = offset + plan.length;
  uint64_t cursor = offset;  // file offset up to which the plan is complete
  for (const v1::Extent& e : extents) {
    const uint64_t e_end = e.file_offset() + e.length();
    if (e_end <= cursor) continue;
    if (e.file_offset() >= end) break;
    const uint64_t begin = std::max(cursor, e.file_offset());
    if (begin > cursor) {
      plan.zeros.push_back(ZeroRange{cursor - offset, begin - cursor});
    }
    const uint64_t stop = std::min(end, e_end);
    AddPieces(e.chunk_id(), e.chunk_offset() + (begin - e.file_offset()),
              stop - begin, begin - offset, max_piece_bytes, &plan.pieces);
    cursor = stop;
  }
  if (cursor < end) plan.zeros.push_back(ZeroRange{cursor - offset, end - cursor});
  return plan;
}

}  // namespace medfs::client
