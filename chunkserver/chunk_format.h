// The on-disk header of a sealed chunk file (see chunkserver/FORMAT.md).
//
// A chunk file is an 8 KiB header region followed by the chunk's bytes:
//
//   offset  size  field
//   0       8     magic "MEDFSCK1"
//   8       4     format version (1)
//   12      4     block size in bytes (65536)
//   16      8     chunk id
//   24      8     chunk length in bytes
//   32      4     number of blocks = ceil(length / block size)
//   36      4     CRC32C of the whole chunk's bytes
//   40      24    reserved, zero
//   64      4*N   CRC32C of each block (block i covers [i*64Ki, (i+1)*64Ki))
//   ...           zero up to offset 8188
//   8188    4     CRC32C of header bytes [0, 8188)
//   8192    ...   data
//
// All integers little-endian. A chunk holds at most kMaxChunkBlocks blocks
// (2031, i.e. just under 127 MiB).
//
// Thread safety: a plain value type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/crc32c.h"

namespace medfs::chunkserver {

inline constexpr size_t kChunkHeaderBytes = 8192;
inline constexpr char kChunkMagic[8] = {'M', 'E', 'D', 'F', 'S', 'C', 'K', '1'};
inline constexpr uint32_t kChunkFormatVersion = 1;
inline constexpr uint64_t kChunkBlockBytes = kChecksumBlockBytes;
inline constexpr size_t kBlockCrcOffset = 64;
inline constexpr size_t kHeaderCrcOffset = kChunkHeaderBytes - 4;
inline constexpr size_t kMaxChunkBlocks =
    (kHeaderCrcOffset - kBlockCrcOffset) / 4;
inline constexpr uint64_t kMaxChunkBytes = kMaxChunkBlocks * kChunkBlockBytes;

// Number of checksum blocks covering `length` bytes.
inline uint64_t BlocksFor(uint64_t length) {
  return (length + kChunkBlockBytes - 1) / kChunkBlockBytes;
}

struct ChunkHeader {
  uint64_t chunk_id = 0;
  uint64_t length = 0;
  uint32_t chunk_crc32c = 0;
  std::vector<uint32_t> block_crcs;  // BlocksFor(length) entries

  // Replaces *dst with the kChunkHeaderBytes-byte header.
  // REQUIRES: block_crcs.size() == BlocksFor(length) <= kMaxChunkBlocks.
  void EncodeTo(std::string* dst) const;
  // Parses a header region. kDataLoss naming `where` (e.g. "chunk 12 on
  // /data/a") when the magic, version, block size, block count or header
  // checksum is wrong.
  absl::Status DecodeFrom(absl::string_view input, absl::string_view where);
};

}  // namespace medfs::chunkserver
