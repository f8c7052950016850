// The instances a loader draws samples from: DICOM index records,
// filtered by a query and a patient-level split.
//
// Query language (a subset of `medfs query`): clauses joined by AND (or
// "&&" or ","), each `Key op Value` with op one of = != < <= > >=.
// Keys: Modality, BodyPartExamined, PatientID, StudyInstanceUID,
// SeriesInstanceUID, SOPInstanceUID, SOPClassUID, StudyDate,
// TransferSyntaxUID, PhotometricInterpretation (compared as text);
// Rows, Columns, NumberOfFrames, BitsAllocated, SeriesNumber,
// InstanceNumber (compared as numbers). An empty query matches all.
//
// Thread safety: a RecordFilter is immutable; the functions are pure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/proto/medfs.pb.h"
#include "loader/sampler/sampler.h"

namespace medfs::loader {

struct Catalog {
  std::vector<v1::DicomInstance> records;
  // Parallel to records: PlanarConfiguration (0 when unknown).
  std::vector<uint8_t> planar_configuration;
  // Files that were not DICOM, had no pixel data, or failed to parse.
  uint64_t skipped_files = 0;
};

class RecordFilter {
 public:
  // kInvalidArgument naming the clause that does not parse.
  static absl::StatusOr<RecordFilter> Parse(absl::string_view query);
  bool Matches(const v1::DicomInstance& record) const;

 private:
  struct Clause {
    std::string key;
    std::string op;
    std::string value;
    bool numeric = false;
    double number = 0;
  };
  std::vector<Clause> clauses_;
};

// Keeps the records that match `filter` and fall in `split`.
Catalog FilterCatalog(Catalog catalog, const RecordFilter& filter,
                      const SplitOptions& split);

// Scans `root` recursively: every regular file that parses as DICOM with
// pixel data becomes a record (path relative to root). Files are listed in
// name order. Errors: kNotFound when root is not a folder.
absl::StatusOr<Catalog> ScanLocalFolder(const std::string& root);

}  // namespace medfs::loader
