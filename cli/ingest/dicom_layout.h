// The byte layout of a DICOM file, read straight from its encoding: where
// the data set starts, its transfer syntax, and where the top-level Pixel
// Data element and its value are. DCMTK parses attribute values but does
// not report stream offsets; this scanner walks the element headers
// (tags, VRs, lengths, nested sequences and items) without decoding
// values, and in doing so also checks that the file is structurally whole
// (every declared length fits, every undefined-length sequence is closed).
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "absl/status/statusor.h"

namespace medfs::ingest {

inline constexpr char kImplicitVrLittleEndian[] = "1.2.840.10008.1.2";
inline constexpr char kExplicitVrLittleEndian[] = "1.2.840.10008.1.2.1";
inline constexpr char kExplicitVrBigEndian[] = "1.2.840.10008.1.2.2";
inline constexpr char kDeflatedExplicitVrLittleEndian[] =
    "1.2.840.10008.1.2.1.99";

struct DicomLayout {
  bool has_meta_header = false;      // file meta group (0002,xxxx) present
  bool has_preamble = false;         // 128 bytes + "DICM"
  size_t dataset_offset = 0;         // first byte after the meta group
  std::string transfer_syntax_uid;   // from the meta group; empty if none
  bool explicit_vr = true;           // encoding of the data set
  bool little_endian = true;
  bool deflated = false;             // data set is deflated: not scanned

  // The top-level (7FE0,0010) Pixel Data element, or Float (7FE0,0008) /
  // Double Float (7FE0,0009) Pixel Data.
  bool has_pixel_data = false;
  size_t pixel_element_offset = 0;   // first byte of the element's tag
  size_t pixel_value_offset = 0;     // first byte of its value
  size_t pixel_value_length = 0;     // encapsulated: up to the delimiter
  size_t pixel_element_end = 0;      // one past the element (and delimiter)
  bool encapsulated = false;         // undefined length: fragments
  // Top-level elements after the Pixel Data element (padding, private).
  size_t trailing_elements = 0;
};

// Scans `file` (Part 10 with preamble, or a raw data set with or without
// a meta group).
// Errors: kInvalidArgument naming the offset and tag for a truncated or
// malformed encoding ("truncated: ...", "invalid VR ...").
absl::StatusOr<DicomLayout> ScanDicomLayout(std::span<const std::byte> file);

}  // namespace medfs::ingest
