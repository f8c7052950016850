// JPEG (baseline, extended, lossless, SV1) and JPEG-LS through DCMTK: one
// frame's fragments go into a minimal in-memory data set and DCMTK's
// registered decoder writes the frame into our buffer.
#include <cstring>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "loader/decode/codecs.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpls/djdecode.h"

namespace medfs::loader::internal {
namespace {

void RegisterCodecsOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
  });
}

absl::Status Check(OFCondition c, absl::string_view what) {
  if (c.good()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", c.text()));
}

absl::Status Describe(const ImageInfo& info, DcmDataset* ds) {
  uint16_t high = static_cast<uint16_t>(info.bits_stored - 1);
  RETURN_IF_ERROR(Check(ds->putAndInsertUint16(DCM_Rows, info.rows), "Rows"));
  RETURN_IF_ERROR(Check(ds->putAndInsertUint16(DCM_Columns, info.columns), "Columns"));
  RETURN_IF_ERROR(Check(ds->putAndInsertUint16(DCM_BitsAllocated, info.bits_allocated), "BitsAllocated"));
  RETURN_IF_ERROR(Check(ds->putAndInsertUint16(DCM_BitsStored, info.bits_stored), "BitsStored"));
  RETURN_IF_ERROR(Check(ds->putAndInsertUint16(DCM_HighBit, high), "HighBit"));
  RETURN_IF_ERROR(Check(ds->putAndInsertUint16(DCM_PixelRepresentation, info.pixel_representation), "PixelRepresentation"));
  RETURN_IF_ERROR(Check(ds->putAndInsertUint16(DCM_SamplesPerPixel, info.samples_per_pixel), "SamplesPerPixel"));
  RETURN_IF_ERROR(Check(ds->putAndInsertString(DCM_PhotometricInterpretation, info.photometric.c_str()), "PhotometricInterpretation"));
  RETURN_IF_ERROR(Check(ds->putAndInsertString(DCM_NumberOfFrames, "1"), "NumberOfFrames"));
  if (info.samples_per_pixel > 1) {
    RETURN_IF_ERROR(Check(ds->putAndInsertUint16(DCM_PlanarConfiguration, 0), "PlanarConfiguration"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> DecodeDcmtkFrame(
    const ImageInfo& info, const std::vector<std::span<const std::byte>>& frags,
    std::span<std::byte> dst) {
  RegisterCodecsOnce();
  DcmXfer xfer(info.transfer_syntax_uid.c_str());
  if (xfer.getXfer() == EXS_Unknown) {
    return absl::UnimplementedError("transfer syntax unknown to DCMTK");
  }
  DcmDataset ds;
  RETURN_IF_ERROR(Describe(info, &ds));
  auto* sequence = new DcmPixelSequence(DCM_PixelSequenceTag);
  sequence->insert(new DcmPixelItem(DCM_PixelItemTag));  // empty offset table
  for (auto f : frags) {
    auto* item = new DcmPixelItem(DCM_PixelItemTag);
    RETURN_IF_ERROR(Check(
        item->putUint8Array(reinterpret_cast<const Uint8*>(f.data()),
                            static_cast<unsigned long>(f.size())),
        "fragment"));
    sequence->insert(item);
  }
  auto* pixel_data = new DcmPixelData(DCM_PixelData);
  pixel_data->putOriginalRepresentation(xfer.getXfer(), nullptr, sequence);
  RETURN_IF_ERROR(Check(ds.insert(pixel_data, true), "insert pixel data"));
  Uint32 start_fragment = 0;
  OFString color_model;
  // DCMTK wants an even buffer (frames of odd size are padded).
  std::vector<std::byte> odd;
  std::byte* target = dst.data();
  size_t size = dst.size();
  if (size % 2) {
    odd.resize(size + 1);
    target = odd.data();
    ++size;
  }
  RETURN_IF_ERROR(Check(
      pixel_data->getUncompressedFrame(&ds, 0, start_fragment, target,
                                       static_cast<Uint32>(size), color_model),
      "DCMTK decoder"));
  if (!odd.empty()) std::memcpy(dst.data(), odd.data(), dst.size());
  return color_model.empty() ? info.photometric : std::string(color_model.c_str());
}

}  // namespace medfs::loader::internal
