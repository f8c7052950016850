#include "cli/ingest/sniff.h"

#include <cstring>

namespace medfs::ingest {
namespace {

uint16_t Le16(const std::byte* p) {
  return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) |
                               (static_cast<uint8_t>(p[1]) << 8));
}

bool Matches(std::span<const std::byte> head, size_t at, const char* magic) {
  size_t n = std::strlen(magic);
  return head.size() >= at + n && std::memcmp(head.data() + at, magic, n) == 0;
}

bool IsUpper(std::byte b) {
  char c = static_cast<char>(b);
  return c >= 'A' && c <= 'Z';
}

// A raw data set starts with an element of a low, even group: (0002,xxxx)
// meta elements, (0008,xxxx) identifying elements, or a group length.
// Explicit VR shows two upper-case letters after the tag; implicit VR a
// 32-bit length that fits in what a header could hold.
bool LooksLikeRawDataSet(std::span<const std::byte> head) {
  if (head.size() < 8) return false;
  uint16_t group = Le16(head.data());
  if (group != 0x0002 && group != 0x0008) return false;
  if (IsUpper(head[4]) && IsUpper(head[5])) return true;
  uint32_t length = Le16(head.data() + 4) |
                    (static_cast<uint32_t>(Le16(head.data() + 6)) << 16);
  return length < 1024;
}

}  // namespace

ContentKind Sniff(std::span<const std::byte> head) {
  if (Matches(head, 128, "DICM")) return ContentKind::kDicomPart10;
  if (Matches(head, 0, "PK\x03\x04") || Matches(head, 0, "PK\x05\x06") ||
      Matches(head, 0, "\x1f\x8b") || Matches(head, 0, "BZh") ||
      Matches(head, 0, "\xfd" "7zXZ") || Matches(head, 257, "ustar")) {
    return ContentKind::kArchive;
  }
  if (LooksLikeRawDataSet(head)) return ContentKind::kDicomRaw;
  return ContentKind::kOther;
}

}  // namespace medfs::ingest
