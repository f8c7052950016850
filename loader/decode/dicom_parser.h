// A small, strict reader of DICOM Part 10 files for the loader: it walks
// the top-level data set up to the Pixel Data element and fills the index
// record (v1::DicomInstance) with the tags a loader needs and the byte
// offset and length of the Pixel Data value. Nested sequences are skipped.
//
// Used where no index from ingest is available: local folders (tests,
// benchmarks, the local-limit baseline) and clusters scanned directly.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/proto/medfs.pb.h"

namespace medfs::loader {

struct ParsedDicom {
  v1::DicomInstance record;
  // (0028,0006); not part of the index record.
  uint32_t planar_configuration = 0;
};

// Parses `bytes`, the first bytes of a file of `file_size` bytes named
// `name` (for messages). Fills record.path with `name`.
// Errors:
//   kOutOfRange       `bytes` ends before the Pixel Data element: read more
//                     of the file and call again.
//   kInvalidArgument  not a DICOM file, or malformed (message says where).
// A deflated transfer syntax parses, with pixel_data_offset/length 0.
// An instance without Pixel Data parses with offset/length 0 when `bytes`
// is the whole file.
absl::StatusOr<ParsedDicom> ParseDicom(std::span<const std::byte> bytes,
                                       uint64_t file_size,
                                       absl::string_view name);

// Transfer syntax UIDs the loader knows.
namespace ts {
inline constexpr char kImplicitLittle[] = "1.2.840.10008.1.2";
inline constexpr char kExplicitLittle[] = "1.2.840.10008.1.2.1";
inline constexpr char kDeflated[] = "1.2.840.10008.1.2.1.99";
inline constexpr char kExplicitBig[] = "1.2.840.10008.1.2.2";
inline constexpr char kRle[] = "1.2.840.10008.1.2.5";
inline constexpr char kJpegBaseline[] = "1.2.840.10008.1.2.4.50";
inline constexpr char kJpegExtended[] = "1.2.840.10008.1.2.4.51";
inline constexpr char kJpegLossless[] = "1.2.840.10008.1.2.4.57";
inline constexpr char kJpegLosslessSv1[] = "1.2.840.10008.1.2.4.70";
inline constexpr char kJpegLsLossless[] = "1.2.840.10008.1.2.4.80";
inline constexpr char kJpegLsNearLossless[] = "1.2.840.10008.1.2.4.81";
inline constexpr char kJ2kLossless[] = "1.2.840.10008.1.2.4.90";
inline constexpr char kJ2k[] = "1.2.840.10008.1.2.4.91";
}  // namespace ts

}  // namespace medfs::loader
