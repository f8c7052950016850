// DICOM RLE Lossless (PS3.5 annex G): a 64-byte header of 16 little-endian
// uint32 (segment count, then up to 15 segment offsets), then PackBits
// segments, one per byte plane: for each sample, most significant byte
// first.
#include <cstring>

#include "absl/strings/str_cat.h"
#include "loader/decode/codecs.h"

namespace medfs::loader::internal {
namespace {

uint32_t LE32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 |
         uint32_t{p[3]} << 24;
}

// Unpacks one PackBits segment into every `stride`-th byte of `dst`
// (`count` bytes). Returns false when the segment is too short.
bool UnpackSegment(const uint8_t* src, size_t len, uint8_t* dst, size_t count,
                   size_t stride) {
  size_t in = 0, out = 0;
  while (out < count && in < len) {
    int8_t n = static_cast<int8_t>(src[in++]);
    if (n >= 0) {
      size_t run = size_t(n) + 1;
      if (in + run > len) return false;
      run = std::min(run, count - out);
      for (size_t k = 0; k < run; ++k) dst[(out + k) * stride] = src[in + k];
      in += size_t(n) + 1;
      out += run;
    } else if (n != -128) {
      if (in >= len) return false;
      size_t run = std::min(size_t(1 - n), count - out);
      uint8_t v = src[in++];
      for (size_t k = 0; k < run; ++k) dst[(out + k) * stride] = v;
      out += run;
    }
  }
  return out == count;
}

}  // namespace

absl::StatusOr<std::string> DecodeRleFrame(const ImageInfo& info,
                                           std::span<const std::byte> frame,
                                           std::span<std::byte> dst) {
  const auto* src = reinterpret_cast<const uint8_t*>(frame.data());
  if (frame.size() < 64) return absl::InvalidArgumentError("RLE header truncated");
  const size_t bytes_per_sample = info.bits_allocated / 8;
  const size_t spp = info.samples_per_pixel;
  const uint32_t segments = LE32(src);
  if (segments != bytes_per_sample * spp || segments > 15) {
    return absl::InvalidArgumentError(absl::StrCat(
        "RLE has ", segments, " segments, expected ", bytes_per_sample * spp));
  }
  const size_t pixels = size_t{info.rows} * info.columns;
  const size_t stride = bytes_per_sample * spp;
  auto* out = reinterpret_cast<uint8_t*>(dst.data());
  for (uint32_t s = 0; s < segments; ++s) {
    uint32_t begin = LE32(src + 4 + 4 * s);
    uint32_t end = s + 1 < segments ? LE32(src + 8 + 4 * s)
                                    : static_cast<uint32_t>(frame.size());
    if (begin < 64 || end < begin || end > frame.size()) {
      return absl::InvalidArgumentError(absl::StrCat("RLE segment ", s, " offsets"));
    }
    size_t sample = s / bytes_per_sample;
    size_t significance = s % bytes_per_sample;  // 0 = most significant
    size_t byte_in_pixel = sample * bytes_per_sample +
                           (bytes_per_sample - 1 - significance);  // little endian
    if (!UnpackSegment(src + begin, end - begin, out + byte_in_pixel, pixels,
                       stride)) {
      return absl::InvalidArgumentError(
          absl::StrCat("RLE segment ", s, " is truncated"));
    }
  }
  return info.photometric;
}

}  // namespace medfs::loader::internal
