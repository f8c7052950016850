// Planning a file read: which chunk pieces to fetch and which ranges of the
// destination are holes (zeros).
//
// PlanRead turns a byte range of a file into data-plane READ pieces, each
// inside one extent of one chunk and at most `max_piece_bytes` long, plus
// the ranges no extent covers. Pieces never cross a multiple of
// `max_piece_bytes` in the chunk, so a read of a whole chunk asks for
// aligned 4 MiB pieces. Pure function: no I/O, unit-tested in isolation.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/proto/medfs.pb.h"

namespace medfs::client {

// One READ against one chunk; lands at dst_offset of the caller's buffer.
struct ReadPiece {
  uint64_t chunk_id = 0;
  uint64_t chunk_offset = 0;
  uint32_t length = 0;
  uint64_t dst_offset = 0;
  bool operator==(const ReadPiece&) const = default;
};

// A destination range that reads as zeros.
struct ZeroRange {
  uint64_t dst_offset = 0;
  uint64_t length = 0;
  bool operator==(const ZeroRange&) const = default;
};

struct ReadPlan {
  uint64_t length = 0;  // bytes the read returns: short only at end of file
  std::vector<ReadPiece> pieces;   // ordered by dst_offset
  std::vector<ZeroRange> zeros;    // ordered by dst_offset
};

// Plans a read of up to `length` bytes at `offset` of a file of `file_size`
// bytes whose content is `extents` (ordered by file_offset, not
// overlapping). Returns kInvalidArgument when the extents are unordered or
// overlap (naming the extent), or max_piece_bytes is 0.
absl::StatusOr<ReadPlan> PlanRead(
    const google::protobuf::RepeatedPtrField<v1::Extent>& extents,
    uint64_t file_size, uint64_t offset, uint64_t length,
    uint32_t max_piece_bytes);

}  // namespace medfs::client
