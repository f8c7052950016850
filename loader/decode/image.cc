#include "loader/decode/image.h"

namespace medfs::loader {

size_t PixelTypeSize(PixelType type) {
  switch (type) {
    case PixelType::kU8:
    case PixelType::kI8: return 1;
    case PixelType::kU16:
    case PixelType::kI16: return 2;
    case PixelType::kU32:
    case PixelType::kI32: return 4;
  }
  return 1;
}

const char* PixelTypeName(PixelType type) {
  switch (type) {
    case PixelType::kU8: return "uint8";
    case PixelType::kI8: return "int8";
    case PixelType::kU16: return "uint16";
    case PixelType::kI16: return "int16";
    case PixelType::kU32: return "uint32";
    case PixelType::kI32: return "int32";
  }
  return "?";
}

PixelType ImageInfo::pixel_type() const {
  bool s = pixel_representation == 1;
  if (bits_allocated <= 8) return s ? PixelType::kI8 : PixelType::kU8;
  if (bits_allocated <= 16) return s ? PixelType::kI16 : PixelType::kU16;
  return s ? PixelType::kI32 : PixelType::kU32;
}

size_t ImageInfo::frame_bytes() const {
  return size_t{rows} * columns * samples_per_pixel *
         PixelTypeSize(pixel_type());
}

size_t ImageInfo::stored_frame_bits() const {
  size_t samples = size_t{rows} * columns * samples_per_pixel;
  if (photometric == "YBR_FULL_422" && !encapsulated && samples_per_pixel == 3) {
    samples = size_t{rows} * columns * 2;  // Y Y Cb Cr per pixel pair
  }
  return samples * bits_allocated;
}

ImageInfo ImageInfoFromRecord(const v1::DicomInstance& r) {
  ImageInfo i;
  i.sop_instance_uid = r.sop_instance_uid();
  i.transfer_syntax_uid = r.transfer_syntax_uid();
  i.rows = r.rows();
  i.columns = r.columns();
  i.frames = r.number_of_frames() == 0 ? 1 : r.number_of_frames();
  i.samples_per_pixel = r.samples_per_pixel() == 0 ? 1 : r.samples_per_pixel();
  i.bits_allocated = r.bits_allocated();
  i.bits_stored = r.bits_stored() == 0 ? r.bits_allocated() : r.bits_stored();
  i.pixel_representation = r.pixel_representation();
  if (!r.photometric_interpretation().empty()) {
    i.photometric = r.photometric_interpretation();
  } else {
    i.photometric = i.samples_per_pixel == 3 ? "RGB" : "MONOCHROME2";
  }
  i.encapsulated = r.pixel_data_encapsulated();
  if (r.has_rescale_slope()) i.rescale_slope = r.rescale_slope();
  if (r.has_rescale_intercept()) i.rescale_intercept = r.rescale_intercept();
  if (r.window_center_size() > 0 && r.window_width_size() > 0 &&
      r.window_width(0) > 0) {
    i.has_window = true;
    i.window_center = r.window_center(0);
    i.window_width = r.window_width(0);
  }
  return i;
}

}  // namespace medfs::loader
