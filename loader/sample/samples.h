// Training samples built from the DICOM index records of a dataset.
//
//   slice:  one 2D image per instance, or per frame of a multi-frame
//           instance; uid = SOPInstanceUID.
//   series: one 3D volume per SeriesInstanceUID; its instances ordered
//           along the slice normal (the cross product of the row and
//           column cosines of ImageOrientationPatient) by the projection
//           of ImagePositionPatient on it, falling back to InstanceNumber
//           where the geometry is missing; uid = SeriesInstanceUID. The
//           volume is resampled to a fixed depth (see ResampleDepth).
//
// Labels come from a CSV file whose header names a key column
// (SOPInstanceUID, SeriesInstanceUID or StudyInstanceUID) and one or more
// numeric label columns.
//
// Thread safety: pure functions and immutable tables.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/proto/medfs.pb.h"

namespace medfs::loader {

enum class SampleKind { kSlice, kSeries };
// kInvalidArgument unless "slice" or "series".
absl::StatusOr<SampleKind> ParseSampleKind(absl::string_view name);

struct Sample {
  // Indexes into the record list; one for a slice, the ordered slices of
  // a series. A series of one multi-frame instance has one index and
  // `frames` > 1 slices.
  std::vector<uint32_t> instances;
  // Series: each slice's position along the normal (mm), ascending.
  std::vector<double> positions;
  uint32_t frame = 0;   // slice: the frame of a multi-frame instance
  uint32_t frames = 1;  // series of one multi-frame instance: its frames
  std::string uid;
  std::vector<float> label;  // empty: no label table; NaN: no row
};

// Builds the samples in a stable order (by uid, then frame), so the same
// records give the same sample indices wherever they are listed from.
std::vector<Sample> BuildSamples(const std::vector<v1::DicomInstance>& records,
                                 SampleKind kind);

// Orders the instances `members` of one series along the slice normal.
// Returns the ordered indexes and fills `positions`.
std::vector<uint32_t> OrderSeries(const std::vector<v1::DicomInstance>& records,
                                  std::vector<uint32_t> members,
                                  std::vector<double>* positions);

// Linear resampling along depth: `slices` (count x plane floats, at
// ascending `positions`) to `depth` planes at evenly spaced positions from
// the first to the last slice, written to `out` (depth x plane).
void ResampleDepth(const float* slices, const std::vector<double>& positions,
                   size_t plane, uint32_t depth, float* out);

class LabelTable {
 public:
  enum class Key { kSop, kSeries, kStudy };
  // Reads a CSV (comma separated, header row, no quoting of commas).
  // Errors: kNotFound (file), kInvalidArgument (no key column, a
  // non-numeric label, a row with the wrong number of fields: the message
  // names the line).
  static absl::StatusOr<LabelTable> Load(const std::string& path);
  static absl::StatusOr<LabelTable> Parse(absl::string_view text,
                                          absl::string_view name);

  Key key() const { return key_; }
  const std::vector<std::string>& columns() const { return columns_; }
  // The labels of `record` (by the table's key), if it has a row.
  std::optional<std::vector<float>> Find(const v1::DicomInstance& record) const;

 private:
  Key key_ = Key::kSop;
  std::vector<std::string> columns_;
  absl::flat_hash_map<std::string, std::vector<float>> rows_;
};

// Attaches labels to `samples` (NaN-filled where no row matches).
// kInvalidArgument when the table is keyed by SOPInstanceUID and the
// samples are series. Returns how many samples found no row.
absl::StatusOr<uint64_t> AttachLabels(
    const LabelTable& table, const std::vector<v1::DicomInstance>& records,
    SampleKind kind, std::vector<Sample>* samples);

}  // namespace medfs::loader
