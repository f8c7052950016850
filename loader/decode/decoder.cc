#include "loader/decode/decoder.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "loader/decode/codecs.h"
#include "loader/decode/dicom_parser.h"

namespace medfs::loader {
namespace {

enum class Codec { kNative, kRle, kDcmtk, kJ2k, kUnsupported };

Codec CodecOf(const std::string& uid) {
  if (uid == ts::kImplicitLittle || uid == ts::kExplicitLittle ||
      uid == ts::kExplicitBig || uid.empty()) {
    return Codec::kNative;
  }
  if (uid == ts::kRle) return Codec::kRle;
  if (uid == ts::kJpegBaseline || uid == ts::kJpegExtended ||
      uid == ts::kJpegLossless || uid == ts::kJpegLosslessSv1 ||
      uid == ts::kJpegLsLossless || uid == ts::kJpegLsNearLossless) {
    return Codec::kDcmtk;
  }
  if (uid == ts::kJ2kLossless || uid == ts::kJ2k ||
      uid.rfind("1.2.840.10008.1.2.4.20", 0) == 0) {  // HTJ2K 201..203
    return Codec::kJ2k;
  }
  return Codec::kUnsupported;
}

uint32_t LE32(const std::byte* p) {
  auto* u = reinterpret_cast<const uint8_t*>(p);
  return uint32_t{u[0]} | uint32_t{u[1]} << 8 | uint32_t{u[2]} << 16 |
         uint32_t{u[3]} << 24;
}

bool StartsFrame(Fragment f) {
  if (f.size() < 2) return false;
  auto* u = reinterpret_cast<const uint8_t*>(f.data());
  if (u[0] == 0xFF && (u[1] == 0xD8 || u[1] == 0x4F)) return true;  // JPEG, J2K
  return f.size() >= 8 && u[0] == 0 && u[1] == 0 && u[2] == 0 && u[3] == 0x0C;
}

// Copies `count` frames from native bytes, swapping bytes for big endian
// and interleaving planar colour.
void CopyNative(const ImageInfo& info, const std::byte* src, size_t count,
                bool big_endian, std::byte* dst) {
  const size_t elem = PixelTypeSize(info.pixel_type());
  const size_t frame = info.frame_bytes();
  const size_t n = size_t{info.rows} * info.columns;
  const size_t spp = info.samples_per_pixel;
  for (size_t f = 0; f < count; ++f) {
    const std::byte* s = src + f * frame;
    std::byte* d = dst + f * frame;
    if (spp > 1 && info.planar_configuration == 1) {
      for (size_t c = 0; c < spp; ++c) {
        for (size_t i = 0; i < n; ++i) {
          std::memcpy(d + (i * spp + c) * elem, s + (c * n + i) * elem, elem);
        }
      }
    } else {
      std::memcpy(d, s, frame);
    }
    if (big_endian && elem > 1) {
      for (size_t i = 0; i < frame; i += elem) std::reverse(d + i, d + i + elem);
    }
  }
}

}  // namespace

absl::StatusOr<std::vector<std::vector<Fragment>>> SplitFrames(
    std::span<const std::byte> bytes, uint32_t frames) {
  std::vector<Fragment> items;
  size_t at = 0;
  while (at + 8 <= bytes.size()) {
    uint32_t tag = LE32(bytes.data() + at);
    uint32_t len = LE32(bytes.data() + at + 4);
    if (tag == 0xE0DDFFFEu) break;  // Sequence Delimitation Item
    if (tag != 0xE000FFFEu) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected a fragment item at pixel offset ", at));
    }
    if (len == 0xFFFFFFFFu || at + 8 + len > bytes.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("fragment at pixel offset ", at, " is truncated"));
    }
    items.push_back(bytes.subspan(at + 8, len));
    at += 8 + len;
  }
  if (items.size() < 2) {
    return absl::InvalidArgumentError("no fragments after the offset table");
  }
  Fragment bot = items[0];
  std::vector<Fragment> frags(items.begin() + 1, items.end());
  std::vector<std::vector<Fragment>> out;
  if (frames == 1) {
    out.push_back(frags);
  } else if (frags.size() == frames) {
    for (Fragment f : frags) out.push_back({f});
  } else if (bot.size() == size_t{frames} * 4) {
    // Offsets are relative to the first fragment's item header.
    std::vector<uint32_t> starts;
    for (uint32_t i = 0; i < frames; ++i) starts.push_back(LE32(bot.data() + 4 * i));
    size_t rel = 0;
    out.resize(frames);
    for (Fragment f : frags) {
      size_t k = std::upper_bound(starts.begin(), starts.end(), rel) - starts.begin();
      if (k == 0) return absl::InvalidArgumentError("bad basic offset table");
      out[k - 1].push_back(f);
      rel += 8 + f.size();
    }
  } else {
    for (Fragment f : frags) {
      if (out.empty() || StartsFrame(f)) out.emplace_back();
      out.back().push_back(f);
    }
  }
  if (out.size() != frames) {
    return absl::InvalidArgumentError(absl::StrCat(
        "found ", out.size(), " frames in the fragments, expected ", frames));
  }
  return out;
}

Decoder::Decoder() = default;

absl::Status Decoder::Decode(const ImageInfo& info,
                             std::span<const std::byte> pixel_bytes,
                             std::optional<uint32_t> frame, DecodedImage* out) {
  auto fail = [&](const absl::Status& s) {
    return Annotate(s, absl::StrCat("decoding SOPInstanceUID ",
                                    info.sop_instance_uid, " (",
                                    info.transfer_syntax_uid, ")"));
  };
  if (info.rows == 0 || info.columns == 0) {
    return fail(absl::InvalidArgumentError("image has no rows or columns"));
  }
  if (info.bits_allocated != 8 && info.bits_allocated != 16 &&
      info.bits_allocated != 32 &&
      !(info.bits_allocated == 1 && !info.encapsulated)) {
    return fail(absl::UnimplementedError(
        absl::StrCat("BitsAllocated ", info.bits_allocated)));
  }
  if (info.samples_per_pixel != 1 && info.samples_per_pixel != 3) {
    return fail(absl::UnimplementedError(
        absl::StrCat("SamplesPerPixel ", info.samples_per_pixel)));
  }
  uint32_t first = frame.value_or(0);
  uint32_t count = frame ? 1 : info.frames;
  if (first >= info.frames) {
    return fail(absl::OutOfRangeError(
        absl::StrCat("frame ", first, " of ", info.frames)));
  }
  out->rows = info.rows;
  out->columns = info.columns;
  out->frames = count;
  out->samples_per_pixel = info.samples_per_pixel;
  out->type = info.pixel_type();
  out->photometric = info.photometric;
  out->view = nullptr;
  const bool native = CodecOf(info.transfer_syntax_uid) == Codec::kNative;
  if (native && zero_copy_ && info.transfer_syntax_uid != ts::kExplicitBig &&
      info.bits_allocated != 1 && info.stored_frame_bits() == info.frame_bytes() * 8 &&
      !(info.samples_per_pixel > 1 && info.planar_configuration == 1)) {
    const size_t need = (size_t{first} + count) * info.frame_bytes();
    if (pixel_bytes.size() < need) {
      return fail(absl::InvalidArgumentError(absl::StrCat(
          "pixel data has ", pixel_bytes.size(), " bytes, need ", need)));
    }
    out->view = pixel_bytes.data() + size_t{first} * info.frame_bytes();
    return absl::OkStatus();
  }
  out->data.resize(info.frame_bytes() * count);
  absl::Status s = native ? DecodeNative(info, pixel_bytes, first, count, out)
                          : DecodeEncapsulated(info, pixel_bytes, first, count, out);
  return fail(s);
}

absl::Status Decoder::DecodeNative(const ImageInfo& info,
                                   std::span<const std::byte> bytes,
                                   uint32_t first, uint32_t count,
                                   DecodedImage* out) {
  const size_t bits = info.stored_frame_bits();
  const size_t need = ((size_t{first} + count) * bits + 7) / 8;
  if (bytes.size() < need) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pixel data has ", bytes.size(), " bytes, need ", need));
  }
  if (info.bits_allocated == 1) {  // packed, least significant bit first
    auto* src = reinterpret_cast<const uint8_t*>(bytes.data());
    auto* dst = reinterpret_cast<uint8_t*>(out->data.data());
    size_t begin = size_t{first} * bits, n = size_t{count} * bits;
    for (size_t i = 0; i < n; ++i) dst[i] = (src[(begin + i) >> 3] >> ((begin + i) & 7)) & 1;
    return absl::OkStatus();
  }
  if (bits != info.frame_bytes() * 8) {  // YBR_FULL_422: expand to 3 samples
    const size_t elem = info.bits_allocated / 8;
    const size_t stored = bits / 8, pairs = size_t{info.rows} * info.columns / 2;
    for (uint32_t f = 0; f < count; ++f) {
      const std::byte* s = bytes.data() + (first + f) * stored;
      std::byte* d = out->data.data() + f * info.frame_bytes();
      for (size_t p = 0; p < pairs; ++p, s += 4 * elem, d += 6 * elem) {
        const std::byte* y0 = s; const std::byte* y1 = s + elem;
        const std::byte* cb = s + 2 * elem; const std::byte* cr = s + 3 * elem;
        for (const std::byte* part : {y0, cb, cr, y1, cb, cr}) {
          std::memcpy(d, part, elem);
          d += elem;
        }
        d -= 6 * elem;
      }
    }
    return absl::OkStatus();
  }
  CopyNative(info, bytes.data() + first * info.frame_bytes(), count,
             info.transfer_syntax_uid == ts::kExplicitBig, out->data.data());
  return absl::OkStatus();
}

absl::Status Decoder::DecodeEncapsulated(const ImageInfo& info,
                                         std::span<const std::byte> bytes,
                                         uint32_t first, uint32_t count,
                                         DecodedImage* out) {
  Codec codec = CodecOf(info.transfer_syntax_uid);
  if (codec == Codec::kUnsupported) {
    return absl::UnimplementedError("transfer syntax not supported");
  }
  ASSIGN_OR_RETURN(auto frames, SplitFrames(bytes, info.frames));
  const size_t frame_bytes = info.frame_bytes();
  for (uint32_t i = 0; i < count; ++i) {
    const std::vector<Fragment>& frags = frames[first + i];
    std::span<std::byte> dst(out->data.data() + i * frame_bytes, frame_bytes);
    Fragment whole = frags[0];
    if (frags.size() > 1 && codec != Codec::kDcmtk) {
      scratch_.clear();
      for (Fragment f : frags) scratch_.insert(scratch_.end(), f.begin(), f.end());
      whole = scratch_;
    }
    absl::StatusOr<std::string> photometric;
    switch (codec) {
      case Codec::kRle: photometric = internal::DecodeRleFrame(info, whole, dst); break;
      case Codec::kDcmtk: photometric = internal::DecodeDcmtkFrame(info, frags, dst); break;
      default: photometric = internal::DecodeJ2kFrame(info, whole, dst); break;
    }
    if (!photometric.ok()) {
      return Annotate(photometric.status(), absl::StrCat("frame ", first + i));
    }
    out->photometric = *photometric;
  }
  return absl::OkStatus();
}

}  // namespace medfs::loader
