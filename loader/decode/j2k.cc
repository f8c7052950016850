// JPEG 2000 (and HTJ2K) through OpenJPEG, from a memory stream.
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "loader/decode/codecs.h"
#include "openjpeg.h"

namespace medfs::loader::internal {
namespace {

struct MemoryStream {
  const uint8_t* data;
  size_t size;
  size_t pos;
};

OPJ_SIZE_T ReadFn(void* buffer, OPJ_SIZE_T n, void* user) {
  auto* m = static_cast<MemoryStream*>(user);
  if (m->pos >= m->size) return static_cast<OPJ_SIZE_T>(-1);
  size_t k = std::min(n, m->size - m->pos);
  std::memcpy(buffer, m->data + m->pos, k);
  m->pos += k;
  return k;
}
OPJ_OFF_T SkipFn(OPJ_OFF_T n, void* user) {
  auto* m = static_cast<MemoryStream*>(user);
  size_t k = std::min<size_t>(n, m->size - m->pos);
  m->pos += k;
  return static_cast<OPJ_OFF_T>(k);
}
OPJ_BOOL SeekFn(OPJ_OFF_T n, void* user) {
  auto* m = static_cast<MemoryStream*>(user);
  if (n < 0 || static_cast<size_t>(n) > m->size) return OPJ_FALSE;
  m->pos = static_cast<size_t>(n);
  return OPJ_TRUE;
}

struct CodecDeleter { void operator()(opj_codec_t* c) const { opj_destroy_codec(c); } };
struct StreamDeleter { void operator()(opj_stream_t* s) const { opj_stream_destroy(s); } };
struct ImageDeleter { void operator()(opj_image_t* i) const { opj_image_destroy(i); } };

template <typename T>
void Store(const opj_image_t* image, size_t pixels, uint32_t spp, std::byte* dst) {
  T* out = reinterpret_cast<T*>(dst);
  for (uint32_t c = 0; c < spp; ++c) {
    const OPJ_INT32* in = image->comps[c].data;
    for (size_t i = 0; i < pixels; ++i) out[i * spp + c] = static_cast<T>(in[i]);
  }
}

// Pixel Representation 1 over an unsigned codestream (e.g. pydicom's
// J2K_pixelrep_mismatch.dcm, a CT whose -2000 reads 6192 otherwise):
// the DICOM attributes describe the data, so the component's `prec` bits
// are two's complement and are sign-extended, as pydicom does.
void SignExtendUnsignedComponents(opj_image_t* image, uint32_t spp) {
  for (uint32_t c = 0; c < spp; ++c) {
    opj_image_comp_t& comp = image->comps[c];
    if (comp.sgnd || comp.prec == 0 || comp.prec >= 32) continue;
    const uint32_t shift = 32 - comp.prec;
    const size_t n = size_t{comp.w} * comp.h;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t bits = static_cast<uint32_t>(comp.data[i]) << shift;
      comp.data[i] = static_cast<OPJ_INT32>(bits) >> shift;
    }
  }
}

}  // namespace

absl::StatusOr<std::string> DecodeJ2kFrame(const ImageInfo& info,
                                           std::span<const std::byte> frame,
                                           std::span<std::byte> dst) {
  MemoryStream mem{reinterpret_cast<const uint8_t*>(frame.data()), frame.size(), 0};
  bool jp2 = frame.size() >= 12 && mem.data[3] == 0x0C && mem.data[4] == 'j';
  std::unique_ptr<opj_codec_t, CodecDeleter> codec(
      opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K));
  opj_dparameters_t params;
  opj_set_default_decoder_parameters(&params);
  if (!opj_setup_decoder(codec.get(), &params)) {
    return absl::InternalError("OpenJPEG setup failed");
  }
  std::unique_ptr<opj_stream_t, StreamDeleter> stream(
      opj_stream_create(1 << 16, OPJ_TRUE));
  opj_stream_set_user_data(stream.get(), &mem, nullptr);
  opj_stream_set_user_data_length(stream.get(), mem.size);
  opj_stream_set_read_function(stream.get(), ReadFn);
  opj_stream_set_skip_function(stream.get(), SkipFn);
  opj_stream_set_seek_function(stream.get(), SeekFn);
  opj_image_t* raw = nullptr;
  if (!opj_read_header(stream.get(), codec.get(), &raw)) {
    return absl::InvalidArgumentError("JPEG 2000 header unreadable");
  }
  std::unique_ptr<opj_image_t, ImageDeleter> image(raw);
  if (!opj_decode(codec.get(), stream.get(), image.get()) ||
      !opj_end_decompress(codec.get(), stream.get())) {
    return absl::InvalidArgumentError("JPEG 2000 decode failed");
  }
  if (image->numcomps < info.samples_per_pixel) {
    return absl::InvalidArgumentError(absl::StrCat(
        "JPEG 2000 has ", image->numcomps, " components, expected ",
        info.samples_per_pixel));
  }
  for (uint32_t c = 0; c < info.samples_per_pixel; ++c) {
    const opj_image_comp_t& comp = image->comps[c];
    if (comp.w != info.columns || comp.h != info.rows || comp.data == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "JPEG 2000 component ", c, " is ", comp.w, "x", comp.h,
          ", expected ", info.columns, "x", info.rows));
    }
  }
  if (info.pixel_representation == 1) {
    SignExtendUnsignedComponents(image.get(), info.samples_per_pixel);
  }
  size_t pixels = size_t{info.rows} * info.columns;
  switch (info.pixel_type()) {
    case PixelType::kU8: Store<uint8_t>(image.get(), pixels, info.samples_per_pixel, dst.data()); break;
    case PixelType::kI8: Store<int8_t>(image.get(), pixels, info.samples_per_pixel, dst.data()); break;
    case PixelType::kU16: Store<uint16_t>(image.get(), pixels, info.samples_per_pixel, dst.data()); break;
    case PixelType::kI16: Store<int16_t>(image.get(), pixels, info.samples_per_pixel, dst.data()); break;
    case PixelType::kU32: Store<uint32_t>(image.get(), pixels, info.samples_per_pixel, dst.data()); break;
    case PixelType::kI32: Store<int32_t>(image.get(), pixels, info.samples_per_pixel, dst.data()); break;
  }
  bool colour_transformed = info.samples_per_pixel == 3 &&
                            (info.photometric == "YBR_ICT" || info.photometric == "YBR_RCT");
  return colour_transformed ? std::string("RGB") : info.photometric;
}

}  // namespace medfs::loader::internal
