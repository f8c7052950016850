// Parsing one DICOM file held in memory into its index record
// (v1::DicomInstance) and the exact bytes to store.
//
// DCMTK decodes the attribute values (only the part of the file before
// Pixel Data: the pixels are not copied); dicom_layout.h locates Pixel
// Data and checks the structure of the whole file, so a truncated file is
// refused even when the cut falls inside the pixels. With a Deidentifier
// the data set is de-identified and re-encoded in its own transfer syntax
// (fresh file meta group), the original Pixel Data element is appended
// unchanged, and the record and the pixel offsets describe those new
// bytes.
//
// Thread safety: pure functions (DCMTK's data dictionary is loaded once
// and only read).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "cli/ingest/deidentifier.h"
#include "cli/ingest/dicom_layout.h"
#include "common/proto/medfs.pb.h"

namespace medfs::ingest {

inline constexpr char kMediaStorageDirectoryStorage[] = "1.2.840.10008.1.3.10";

struct ParsedInstance {
  v1::DicomInstance record;  // all fields but path and inode
  std::string bytes;         // what to store (the input, or re-encoded)
  DicomLayout layout;        // layout of `bytes`
};

// Parses `bytes`. `deidentifier` may be null (store the bytes unchanged):
// then the result holds `bytes` itself, not a copy. With a deidentifier
// and a `scratch` buffer, the re-encoded file is written into *scratch's
// memory (its content is overwritten, its capacity reused) and *scratch
// receives the input buffer in exchange, so a caller that recycles
// buffers allocates none per file.
// Errors (each message is the reason shown to the user):
//   kInvalidArgument    not DICOM, truncated or corrupt ("truncated: ...");
//                       "missing SOPInstanceUID" (or Study/Series UID)
//   kFailedPrecondition a DICOMDIR ("DICOMDIR: ..."), which is a source
//                       of files rather than an instance; or refused by
//                       the de-identifier (BurnedInAnnotation)
//   kUnimplemented      Pixel Data that cannot be located (deflated data
//                       sets are stored, with no pixel offset; see record)
absl::StatusOr<ParsedInstance> ParseDicom(std::string bytes,
                                          const Deidentifier* deidentifier,
                                          std::string* scratch = nullptr);

// True when `status` is ParseDicom's answer for a DICOMDIR.
bool IsDicomDirStatus(const absl::Status& status);

}  // namespace medfs::ingest
