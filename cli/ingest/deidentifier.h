// De-identification of a DICOM data set with the DICOM PS3.15 Annex E
// Basic Application Level Confidentiality Profile (Table E.1-1, see
// deid_table.h), applied in memory before anything is stored.
//
//   * Attributes of the table get their action (D dummy, Z empty, X
//     removed, K kept, U UID replaced), in every nested sequence item.
//   * Private attributes (odd groups) are removed.
//   * UIDs are replaced deterministically from the secret key:
//     "2.25." + the decimal value of the first 128 bits of
//     HMAC-SHA256(key, "uid:" + original UID). The same UID under the same
//     key always maps to the same new UID, so a study ingested twice, or in
//     two batches, keeps one new StudyInstanceUID, and references between
//     instances stay consistent. Registry UIDs (1.2.840.10008.*) and class
//     / transfer syntax UIDs are kept. Every other UI attribute is replaced
//     too, listed in the table or not.
//   * PatientID and PatientName become one pseudonym derived from the key
//     and the original PatientID, so patients stay distinct (a Z action may
//     use a dummy value, PS3.15 E.3.1).
//   * Options: Retain Longitudinal Temporal Information with Modified
//     Dates (dates and date-times of the table shifted back by a per-patient
//     number of days in [1, 3650] derived from the key and the original
//     PatientID; times kept) and Retain Patient Characteristics (age, sex,
//     size, weight, ethnic group, smoking and pregnancy status kept).
//   * Recorded in the data set: PatientIdentityRemoved = YES,
//     DeidentificationMethod, DeidentificationMethodCodeSequence (CID 7050
//     codes 113100, 113107, 113108) and LongitudinalTemporalInformation-
//     Modified.
//   * BurnedInAnnotation = YES is refused (kFailedPrecondition): the Basic
//     Profile without the Clean Pixel Data option cannot make such pixels
//     safe.
//
// Thread safety: a Deidentifier is immutable after Create; Apply may be
// called from many threads on different data sets.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

class DcmDataset;
class DcmMetaInfo;

namespace medfs::ingest {

struct DeidOptions {
  // Secret key of the UID and pseudonym mapping; at least 16 bytes.
  std::string key;
  // Retain Longitudinal Temporal Information with Modified Dates Option.
  bool retain_dates = false;
  // Retain Patient Characteristics Option.
  bool retain_patient_characteristics = false;
};

class Deidentifier {
 public:
  // kInvalidArgument when the key is shorter than 16 bytes.
  static absl::StatusOr<Deidentifier> Create(const DeidOptions& options);

  // De-identifies `dataset` in place and cleans `meta` (may be null): the
  // meta group's instance UID is remapped and the sender's AE titles
  // removed. kFailedPrecondition for BurnedInAnnotation = YES.
  absl::Status Apply(DcmDataset* dataset, DcmMetaInfo* meta) const;

  // The new UID for `uid` (unchanged for registry UIDs and empty values).
  std::string RemapUid(absl::string_view uid) const;
  // Pseudonym for an original PatientID: "ANON" + 16 hex digits.
  std::string Pseudonym(absl::string_view patient_id) const;
  // Days the dates of this patient are moved back, in [1, 3650].
  int DateShiftDays(absl::string_view patient_id) const;
  // The profile and options, e.g. "DICOM PS3.15 Basic Profile;
  // RetainLongitudinalModifiedDates", as recorded on the dataset.
  std::string Description() const;

  const DeidOptions& options() const { return options_; }

 private:
  explicit Deidentifier(DeidOptions options) : options_(std::move(options)) {}
  std::array<uint8_t, 32> Mac(absl::string_view domain,
                              absl::string_view value) const;

  // Constant after construction.
  DeidOptions options_;
};

}  // namespace medfs::ingest
