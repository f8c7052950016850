// Walking ingest sources: folders (recursively), archives (zip, tar,
// tar.gz/tgz, tar.bz2, tar.xz; read through libarchive as a stream,
// nothing unpacked to disk; archives inside folders and archives are
// walked too, to a bounded depth) and DICOMDIR media (the files its
// directory records reference). Every file is classified by its content
// (sniff.h), never by its name.
//
// The walker reports what it finds to a SourceSink: each candidate DICOM
// file with its bytes, and each thing it could not use with the reason
// (not DICOM, unreadable, an archive member that fails to decompress, a
// DICOMDIR reference to a missing file). One bad file never stops a walk.
//
// Thread safety: WalkSource runs on the calling thread and calls the sink
// from it; walks of different sources may run concurrently.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"

namespace medfs::ingest {

struct SourceFile {
  // Where the file came from, for reports: a path, or
  // "archive.zip!member/path" for archive members.
  std::string origin;
  // Path relative to the source root ('/'-separated, no "..", no leading
  // '/'); archive members are placed under the archive's own relative path
  // without its extension. Used by --keep-paths.
  std::string relative_path;
  std::string bytes;
};

struct SourceProblem {
  std::string origin;
  std::string reason;
};

class SourceSink {
 public:
  virtual ~SourceSink() = default;
  // A candidate DICOM file. A non-OK status stops the walk and is
  // returned by WalkSource (cancellation).
  virtual absl::Status OnFile(SourceFile file) = 0;
  // Something that is not ingested, with the reason.
  virtual void OnProblem(SourceProblem problem) = 0;
  // A buffer to read the next file into: its capacity is reused and its
  // content (possibly not empty) is overwritten. The default is a new,
  // empty string.
  virtual std::string TakeBuffer() { return {}; }
};

struct WalkOptions {
  // Files (and archive members) larger than this are reported, not read.
  // Default 4 GiB.
  size_t max_file_bytes = size_t{4} << 30;
  // Archives nested inside archives are walked to this depth. Default 2.
  int max_archive_depth = 2;
};

// Walks `path` (a folder, an archive, a DICOMDIR or a single file).
// Errors: kNotFound when `path` does not exist; the sink's own error when
// it cancels. Everything else is reported to the sink as a problem.
absl::Status WalkSource(const std::string& path, SourceSink* sink,
                        const WalkOptions& options = {});

}  // namespace medfs::ingest
