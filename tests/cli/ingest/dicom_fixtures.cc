#include "tests/cli/ingest/dicom_fixtures.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcsequen.h"

namespace medfs::ingest::testing {

std::string NewUid() {
  char uid[100];
  dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);
  return uid;
}

namespace {

void PutPhi(DcmDataset* ds, const SeriesSpec& spec) {
  ds->putAndInsertString(DCM_PatientBirthDate, "19610412");
  ds->putAndInsertString(DCM_PatientSex, "F");
  ds->putAndInsertString(DCM_PatientAge, "062Y");
  ds->putAndInsertString(DCM_PatientWeight, "71.5");
  ds->putAndInsertString(DCM_PatientAddress, "12 Harbour Road^Springfield");
  ds->putAndInsertString(DCM_RETIRED_OtherPatientIDs, "MRN-778812");
  ds->putAndInsertString(DCM_InstitutionName, "Springfield General Hospital");
  ds->putAndInsertString(DCM_InstitutionAddress, "1 Hospital Way, Springfield");
  ds->putAndInsertString(DCM_ReferringPhysicianName, "House^Gregory");
  ds->putAndInsertString(DCM_PerformingPhysicianName, "Wilson^James");
  ds->putAndInsertString(DCM_OperatorsName, "Tech^Tina");
  ds->putAndInsertString(DCM_AccessionNumber, "ACC99812");
  ds->putAndInsertString(DCM_StudyID, "STUDY42");
  ds->putAndInsertString(DCM_StudyDescription, "CT CHEST for Jane Doe");
  ds->putAndInsertString(DCM_SeriesDescription, "AXIAL 1.25 Doe");
  ds->putAndInsertString(DCM_StationName, "CTSCANNER07");
  ds->putAndInsertString(DCM_DeviceSerialNumber, "SN-443211");
  ds->putAndInsertString(DCM_InstitutionalDepartmentName, "Radiology East");
  ds->putAndInsertString(DCM_ImageComments, "patient was anxious");
  ds->putAndInsertString(DCM_SeriesDate, "20230301");
  ds->putAndInsertString(DCM_ContentDate, "20230301");
  ds->putAndInsertString(DCM_AcquisitionDateTime, "20230301101502.25");
  // A private block, and a nested sequence with a referenced instance.
  ds->putAndInsertString(DcmTag(0x0009, 0x0010, EVR_LO), "ACME_PRIVATE");
  ds->putAndInsertString(DcmTag(0x0009, 0x1001, EVR_LO), "Jane Doe secret note");
  DcmItem* ref = nullptr;
  ds->findOrCreateSequenceItem(DCM_ReferencedImageSequence, ref, -2);
  ref->putAndInsertString(DCM_ReferencedSOPClassUID, UID_CTImageStorage);
  ref->putAndInsertString(DCM_ReferencedSOPInstanceUID, "1.2.3.4.5.6.7.8.9");
  DcmItem* req = nullptr;
  ds->findOrCreateSequenceItem(DCM_RequestAttributesSequence, req, -2);
  req->putAndInsertString(DCM_RequestedProcedureID, "RP-1");
}

std::string Encode(DcmFileFormat* ff, const SeriesSpec& spec) {
  std::string path = absl::StrCat("/tmp/medfs-fixture-", getpid(), "-",
                                  NewUid(), ".dcm");
  OFCondition cond = ff->saveFile(path.c_str(), spec.xfer, EET_ExplicitLength,
                                  EGL_recalcGL, EPD_noChange, 0, 0,
                                  spec.with_meta ? EWM_fileformat : EWM_dataset);
  if (cond.bad()) abort();
  std::string bytes = ReadFile(path);
  unlink(path.c_str());
  return bytes;
}

}  // namespace

Series MakeSeries(const SeriesSpec& spec) {
  Series series;
  series.study_uid = spec.study_uid.empty() ? NewUid() : spec.study_uid;
  series.series_uid = spec.series_uid.empty() ? NewUid() : spec.series_uid;
  std::string frame_uid = NewUid();
  bool ct = spec.modality == "CT";
  for (int i = 0; i < spec.slices; ++i) {
    DcmFileFormat ff;
    DcmDataset* ds = ff.getDataset();
    Instance inst;
    inst.sop_uid = NewUid();
    ds->putAndInsertString(DCM_SOPClassUID, ct ? UID_CTImageStorage : UID_MRImageStorage);
    if (!spec.omit_sop_uid) ds->putAndInsertString(DCM_SOPInstanceUID, inst.sop_uid.c_str());
    ds->putAndInsertString(DCM_StudyInstanceUID, series.study_uid.c_str());
    ds->putAndInsertString(DCM_SeriesInstanceUID, series.series_uid.c_str());
    ds->putAndInsertString(DCM_FrameOfReferenceUID, frame_uid.c_str());
    ds->putAndInsertString(DCM_PatientID, spec.patient_id.c_str());
    ds->putAndInsertString(DCM_PatientName, spec.patient_name.c_str());
    ds->putAndInsertString(DCM_StudyDate, "20230301");
    ds->putAndInsertString(DCM_StudyTime, "101500");
    ds->putAndInsertString(DCM_Modality, spec.modality.c_str());
    ds->putAndInsertString(DCM_BodyPartExamined, spec.body_part.c_str());
    ds->putAndInsertString(DCM_SeriesNumber, "3");
    ds->putAndInsertString(DCM_InstanceNumber, std::to_string(i + 1).c_str());
    ds->putAndInsertString(DCM_ImagePositionPatient,
                           absl::StrCat("-160\\-160\\", -100 + i * spec.slice_thickness).c_str());
    ds->putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
    ds->putAndInsertString(DCM_SliceThickness, absl::StrCat(spec.slice_thickness).c_str());
    ds->putAndInsertString(DCM_PixelSpacing, "0.625\\0.625");
    ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
    ds->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
    ds->putAndInsertUint16(DCM_Rows, spec.rows);
    ds->putAndInsertUint16(DCM_Columns, spec.columns);
    ds->putAndInsertUint16(DCM_BitsAllocated, 16);
    ds->putAndInsertUint16(DCM_BitsStored, 12);
    ds->putAndInsertUint16(DCM_HighBit, 11);
    ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
    if (ct) {
      ds->putAndInsertString(DCM_RescaleIntercept, "-1024");
      ds->putAndInsertString(DCM_RescaleSlope, "1");
      ds->putAndInsertString(DCM_WindowCenter, "40\\400");
      ds->putAndInsertString(DCM_WindowWidth, "400\\1500");
    }
    if (spec.with_phi) PutPhi(ds, spec);
    inst.pixels.resize(static_cast<size_t>(spec.rows) * spec.columns);
    for (size_t p = 0; p < inst.pixels.size(); ++p) {
      size_t r = p / spec.columns, c = p % spec.columns;
      inst.pixels[p] = static_cast<uint16_t>((r * 7 + c * 3 + i * 11) % 4096);
    }
    ds->putAndInsertUint16Array(DCM_PixelData, inst.pixels.data(),
                                static_cast<unsigned long>(inst.pixels.size()));
    inst.bytes = Encode(&ff, spec);
    series.instances.push_back(std::move(inst));
  }
  return series;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/medfs-ingest-test-XXXXXX";
  path_ = mkdtemp(tmpl);
}

TempDir::~TempDir() { std::filesystem::remove_all(path_); }

void WriteFile(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Shell(const std::string& command, std::string* out) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) text.append(buf, n);
  int status = pclose(pipe);
  if (out != nullptr) *out = std::move(text);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace medfs::ingest::testing
