// Pixel descriptions shared by the loader's decode and transform stages.
//
// ImageInfo is what the decoder needs to know about one stored instance
// (taken from the DICOM index record, v1::DicomInstance, plus the few
// attributes the record does not carry). DecodedImage is the decoder's
// output: all frames of one instance, samples interleaved, in host byte
// order, in a buffer that is reused from one instance to the next.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/proto/medfs.pb.h"

namespace medfs::loader {

// Element type of decoded pixels.
enum class PixelType : uint8_t { kU8, kI8, kU16, kI16, kU32, kI32 };

size_t PixelTypeSize(PixelType type);
const char* PixelTypeName(PixelType type);

// What the decoder and the transforms need about one instance.
struct ImageInfo {
  std::string sop_instance_uid;  // for error messages
  std::string transfer_syntax_uid;
  uint32_t rows = 0;
  uint32_t columns = 0;
  uint32_t frames = 1;
  uint32_t samples_per_pixel = 1;
  uint32_t bits_allocated = 16;
  uint32_t bits_stored = 16;
  uint32_t pixel_representation = 0;  // 0 unsigned, 1 signed
  uint32_t planar_configuration = 0;  // 0 interleaved, 1 planar (native only)
  std::string photometric = "MONOCHROME2";
  bool encapsulated = false;
  double rescale_slope = 1.0;
  double rescale_intercept = 0.0;
  bool has_window = false;  // window from the file (first value)
  double window_center = 0.0;
  double window_width = 0.0;

  // The element type of decoded pixels.
  PixelType pixel_type() const;
  // Bytes of one decoded frame (rows * columns * samples * element size).
  size_t frame_bytes() const;
  // Bits of one frame as stored natively (1-bit packing, YBR 4:2:2).
  size_t stored_frame_bits() const;
};

// ImageInfo from an index record. Planar configuration is not in the
// record; it is taken as 0 (interleaved), which is what every compressed
// syntax decodes to and what nearly all native colour images use.
ImageInfo ImageInfoFromRecord(const v1::DicomInstance& record);

// All frames of one instance, decoded.
struct DecodedImage {
  uint32_t rows = 0;
  uint32_t columns = 0;
  uint32_t frames = 0;
  uint32_t samples_per_pixel = 1;  // 1 or 3 (RGB, interleaved)
  PixelType type = PixelType::kU16;
  std::string photometric;  // after decode: e.g. RGB for a YBR JPEG
  std::vector<std::byte> data;  // frames * frame_bytes(); reused buffer
  // When set, the pixels are not in `data` but here: the decoder's input
  // bytes, used in place (Decoder::set_zero_copy); valid only as long as
  // those bytes are.
  const std::byte* view = nullptr;

  size_t frame_bytes() const {
    return size_t{rows} * columns * samples_per_pixel * PixelTypeSize(type);
  }
  const std::byte* pixels() const { return view ? view : data.data(); }
  const std::byte* frame(uint32_t i) const {
    return pixels() + i * frame_bytes();
  }
};

}  // namespace medfs::loader
