#include "cli/ingest/dicom_parser.h"

#include <openssl/sha.h>

#include <memory>
#include <mutex>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/status.h"
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcmetinf.h"
#include "dcmtk/dcmdata/dcostrmb.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/oflog/oflog.h"

namespace medfs::ingest {
namespace {

std::span<const std::byte> AsBytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// Reads [data, data+size) into `ff`.
absl::Status ReadFileFormat(const char* data, size_t size, DcmFileFormat* ff) {
  // DCMTK logs parse problems to stderr; ingest reports them per file.
  static std::once_flag quiet;
  std::call_once(quiet, [] { OFLog::configure(OFLogger::FATAL_LOG_LEVEL); });
  if (!dcmDataDict.isDictionaryLoaded()) {
    return absl::FailedPreconditionError(
        "DCMTK data dictionary is not loaded (set DCMDICTPATH)");
  }
  DcmInputBufferStream in;
  in.setBuffer(data, static_cast<offile_off_t>(size));
  in.setEos();
  ff->transferInit();
  OFCondition cond = ff->read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
  ff->transferEnd();
  if (cond.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat("DICOM parse failed: ", cond.text()));
  }
  if (ff->getDataset() == nullptr || ff->getDataset()->card() == 0) {
    return absl::InvalidArgumentError("DICOM parse failed: empty data set");
  }
  return absl::OkStatus();
}

std::string GetString(DcmDataset* ds, const DcmTagKey& tag) {
  OFString value;
  if (ds->findAndGetOFStringArray(tag, value).bad()) return "";
  return std::string(absl::StripAsciiWhitespace(value.c_str()));
}

std::vector<double> GetDoubles(DcmDataset* ds, const DcmTagKey& tag) {
  std::vector<double> out;
  Float64 v = 0;
  for (unsigned long i = 0; ds->findAndGetFloat64(tag, v, i).good(); ++i) {
    out.push_back(v);
  }
  return out;
}

uint32_t GetUint(DcmDataset* ds, const DcmTagKey& tag, uint32_t fallback) {
  Uint16 us = 0;
  if (ds->findAndGetUint16(tag, us).good()) return us;
  Sint32 is = 0;
  if (ds->findAndGetSint32(tag, is).good() && is >= 0) {
    return static_cast<uint32_t>(is);
  }
  return fallback;
}

template <typename Setter>
void SetDoubleIfPresent(DcmDataset* ds, const DcmTagKey& tag, Setter set) {
  Float64 v = 0;
  if (ds->findAndGetFloat64(tag, v).good()) set(v);
}

absl::Status FillRecord(DcmFileFormat* ff, v1::DicomInstance* r) {
  DcmDataset* ds = ff->getDataset();
  r->set_sop_instance_uid(GetString(ds, DCM_SOPInstanceUID));
  r->set_series_instance_uid(GetString(ds, DCM_SeriesInstanceUID));
  r->set_study_instance_uid(GetString(ds, DCM_StudyInstanceUID));
  std::string missing;
  for (const auto& [value, name] :
       {std::pair{r->sop_instance_uid(), "SOPInstanceUID"},
        std::pair{r->series_instance_uid(), "SeriesInstanceUID"},
        std::pair{r->study_instance_uid(), "StudyInstanceUID"}}) {
    if (value.empty()) {
      absl::StrAppend(&missing, missing.empty() ? "" : "; ", "missing ", name);
    }
  }
  if (!missing.empty()) return absl::InvalidArgumentError(missing);
  r->set_sop_class_uid(GetString(ds, DCM_SOPClassUID));
  r->set_patient_id(GetString(ds, DCM_PatientID));
  r->set_study_date(GetString(ds, DCM_StudyDate));
  r->set_modality(GetString(ds, DCM_Modality));
  r->set_body_part_examined(GetString(ds, DCM_BodyPartExamined));
  Sint32 number = 0;
  if (ds->findAndGetSint32(DCM_SeriesNumber, number).good()) r->set_series_number(number);
  if (ds->findAndGetSint32(DCM_InstanceNumber, number).good()) r->set_instance_number(number);
  r->set_rows(GetUint(ds, DCM_Rows, 0));
  r->set_columns(GetUint(ds, DCM_Columns, 0));
  r->set_number_of_frames(GetUint(ds, DCM_NumberOfFrames, 1));
  r->set_bits_allocated(GetUint(ds, DCM_BitsAllocated, 0));
  r->set_bits_stored(GetUint(ds, DCM_BitsStored, 0));
  r->set_pixel_representation(GetUint(ds, DCM_PixelRepresentation, 0));
  r->set_samples_per_pixel(GetUint(ds, DCM_SamplesPerPixel, 0));
  r->set_photometric_interpretation(GetString(ds, DCM_PhotometricInterpretation));
  SetDoubleIfPresent(ds, DCM_RescaleSlope, [&](double v) { r->set_rescale_slope(v); });
  SetDoubleIfPresent(ds, DCM_RescaleIntercept, [&](double v) { r->set_rescale_intercept(v); });
  SetDoubleIfPresent(ds, DCM_SliceThickness, [&](double v) { r->set_slice_thickness(v); });
  for (double v : GetDoubles(ds, DCM_WindowCenter)) r->add_window_center(v);
  for (double v : GetDoubles(ds, DCM_WindowWidth)) r->add_window_width(v);
  for (double v : GetDoubles(ds, DCM_PixelSpacing)) r->add_pixel_spacing(v);
  for (double v : GetDoubles(ds, DCM_ImagePositionPatient)) r->add_image_position_patient(v);
  for (double v : GetDoubles(ds, DCM_ImageOrientationPatient)) {
    r->add_image_orientation_patient(v);
  }
  return absl::OkStatus();
}

// Writes `ff` (fresh meta group, the data set's own transfer syntax) into
// *out, reusing its capacity (reserved for `total_hint` bytes, so the
// Pixel Data appended afterwards fits without a reallocation).
absl::Status Encode(DcmFileFormat* ff, size_t size_hint, size_t total_hint, std::string* out) {
  E_TransferSyntax xfer = ff->getDataset()->getOriginalXfer();
  if (xfer == EXS_Unknown) xfer = EXS_LittleEndianExplicit;
  out->reserve(total_hint);
  for (size_t capacity = size_hint + 64 * 1024;; capacity *= 2) {
    out->resize(capacity);  // fills only what the buffer never held
    DcmOutputBufferStream stream(out->data(), static_cast<offile_off_t>(capacity));
    ff->transferInit();
    OFCondition cond = ff->write(stream, xfer, EET_ExplicitLength, nullptr,
                                 EGL_recalcGL, EPD_noChange, 0, 0, 0,
                                 EWM_createNewMeta);
    ff->transferEnd();
    if (cond == EC_StreamNotifyClient && capacity < (size_t{1} << 32)) continue;
    if (cond.bad()) {
      return absl::InternalError(absl::StrCat("re-encoding the data set: ", cond.text()));
    }
    void* buffer = nullptr;
    offile_off_t length = 0;
    stream.flushBuffer(buffer, length);
    out->resize(static_cast<size_t>(length));
    return absl::OkStatus();
  }
}

void Hash(const std::string& bytes, v1::DicomInstance* r) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  r->set_sha256(reinterpret_cast<const char*>(digest), sizeof(digest));
  r->set_crc32c(Crc32c(bytes.data(), bytes.size()));
  r->set_file_size(bytes.size());
}

// Layout, or the reason a file whose structure could not be scanned is
// refused. Files DCMTK reads that hold no Pixel Data are accepted.
absl::StatusOr<DicomLayout> LayoutOrReason(const std::string& bytes) {
  absl::StatusOr<DicomLayout> layout = ScanDicomLayout(AsBytes(bytes));
  if (layout.ok()) return layout;
  DcmFileFormat ff;
  absl::Status parsed = ReadFileFormat(bytes.data(), bytes.size(), &ff);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(layout.status().message(), " (", parsed.message(), ")"));
  }
  if (ff.getDataset()->tagExists(DCM_PixelData)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot locate Pixel Data: ", layout.status().message()));
  }
  return DicomLayout{};
}

}  // namespace

bool IsDicomDirStatus(const absl::Status& status) {
  return status.code() == absl::StatusCode::kFailedPrecondition &&
         absl::StartsWith(status.message(), "DICOMDIR");
}

absl::StatusOr<ParsedInstance> ParseDicom(std::string bytes,
                                          const Deidentifier* deidentifier,
                                          std::string* scratch) {
  ASSIGN_OR_RETURN(DicomLayout layout, LayoutOrReason(bytes));
  // DCMTK reads the part before Pixel Data; with elements after it (and a
  // de-identifier that must see them) the whole file.
  bool prefix_only = layout.has_pixel_data &&
                     (deidentifier == nullptr || layout.trailing_elements == 0);
  size_t parse_end = prefix_only ? layout.pixel_element_offset : bytes.size();
  DcmFileFormat ff;
  RETURN_IF_ERROR(ReadFileFormat(bytes.data(), parse_end, &ff));
  OFString media_class;
  ff.getMetaInfo()->findAndGetOFString(DCM_MediaStorageSOPClassUID, media_class);
  if (media_class == kMediaStorageDirectoryStorage) {
    return absl::FailedPreconditionError(
        "DICOMDIR: a media directory; ingest it as a source to ingest the "
        "files it references");
  }
  ParsedInstance out;
  RETURN_IF_ERROR(FillRecord(&ff, &out.record));  // checks the UIDs first
  if (deidentifier != nullptr) {
    RETURN_IF_ERROR(deidentifier->Apply(ff.getDataset(), ff.getMetaInfo()));
    if (scratch != nullptr) out.bytes = std::move(*scratch);
    RETURN_IF_ERROR(Encode(&ff, parse_end, bytes.size() + 64 * 1024, &out.bytes));
    if (prefix_only) {
      out.bytes.append(bytes, layout.pixel_element_offset,
                       layout.pixel_element_end - layout.pixel_element_offset);
    }
    if (scratch != nullptr) *scratch = std::move(bytes);  // the input, to reuse
    out.record.Clear();
    RETURN_IF_ERROR(FillRecord(&ff, &out.record));
    ASSIGN_OR_RETURN(out.layout, ScanDicomLayout(AsBytes(out.bytes)));
  } else {
    out.bytes = std::move(bytes);
    out.layout = layout;
  }
  const DicomLayout& l = out.layout;
  if (!l.transfer_syntax_uid.empty()) {
    out.record.set_transfer_syntax_uid(l.transfer_syntax_uid);
  } else {
    out.record.set_transfer_syntax_uid(l.explicit_vr ? kExplicitVrLittleEndian
                                                     : kImplicitVrLittleEndian);
  }
  if (l.has_pixel_data) {
    out.record.set_pixel_data_offset(l.pixel_value_offset);
    out.record.set_pixel_data_length(l.pixel_value_length);
    out.record.set_pixel_data_encapsulated(l.encapsulated);
  }
  Hash(out.bytes, &out.record);
  return out;
}

}  // namespace medfs::ingest
