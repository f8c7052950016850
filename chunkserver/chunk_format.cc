#include "chunkserver/chunk_format.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace medfs::chunkserver {
namespace {

void Put32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void Put64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint32_t Get32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}
uint64_t Get64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}

}  // namespace

void ChunkHeader::EncodeTo(std::string* dst) const {
  MEDFS_CHECK(block_crcs.size() == BlocksFor(length) &&
              block_crcs.size() <= kMaxChunkBlocks)
      << "chunk " << chunk_id << ": " << block_crcs.size()
      << " block CRCs for length " << length;
  dst->assign(kChunkHeaderBytes, '\0');
  char* p = dst->data();
  std::memcpy(p, kChunkMagic, sizeof(kChunkMagic));
  Put32(p + 8, kChunkFormatVersion);
  Put32(p + 12, static_cast<uint32_t>(kChunkBlockBytes));
  Put64(p + 16, chunk_id);
  Put64(p + 24, length);
  Put32(p + 32, static_cast<uint32_t>(block_crcs.size()));
  Put32(p + 36, chunk_crc32c);
  for (size_t i = 0; i < block_crcs.size(); ++i) {
    Put32(p + kBlockCrcOffset + 4 * i, block_crcs[i]);
  }
  Put32(p + kHeaderCrcOffset, Crc32c(p, kHeaderCrcOffset));
}

absl::Status ChunkHeader::DecodeFrom(absl::string_view input,
                                     absl::string_view where) {
  auto corrupt = [&](absl::string_view what) {
    return absl::DataLossError(absl::StrCat(where, ": header ", what));
  };
  if (input.size() != kChunkHeaderBytes) return corrupt("truncated");
  const char* p = input.data();
  if (std::memcmp(p, kChunkMagic, sizeof(kChunkMagic)) != 0) {
    return corrupt("magic is not MEDFSCK1");
  }
  if (Get32(p + kHeaderCrcOffset) != Crc32c(p, kHeaderCrcOffset)) {
    return corrupt("checksum mismatch");
  }
  if (uint32_t version = Get32(p + 8); version != kChunkFormatVersion) {
    return corrupt(absl::StrCat("format version ", version, " unsupported"));
  }
  if (Get32(p + 12) != kChunkBlockBytes) {
    return corrupt(absl::StrCat("block size ", Get32(p + 12), " unsupported"));
  }
  chunk_id = Get64(p + 16);
  length = Get64(p + 24);
  uint32_t blocks = Get32(p + 32);
  if (blocks != BlocksFor(length) || blocks > kMaxChunkBlocks) {
    return corrupt(absl::StrCat(blocks, " blocks for length ", length));
  }
  chunk_crc32c = Get32(p + 36);
  block_crcs.resize(blocks);
  for (uint32_t i = 0; i < blocks; ++i) {
    block_crcs[i] = Get32(p + kBlockCrcOffset + 4 * i);
  }
  return absl::OkStatus();
}

}  // namespace medfs::chunkserver
