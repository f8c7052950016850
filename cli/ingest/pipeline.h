// The ingest pipeline: walk the sources, parse (and de-identify) on
// `jobs` threads, and hand batches of parsed instances to an InstanceStore
// on `jobs` more threads, so reading, parsing and storing overlap. Memory
// stays bounded: the queues between the stages hold a few items per job,
// and file buffers are recycled.
//
// Nothing is ever dropped silently: every file the walk finds ends as
// stored, already present, or skipped with a reason in the IngestReport.
//
// Thread safety: RunIngest may be called from any thread; it calls the
// store from its own threads (the store must be thread safe) and
// on_progress from one reporter thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/ingest/deidentifier.h"
#include "cli/ingest/dicom_parser.h"
#include "cli/ingest/source_walker.h"

namespace medfs::ingest {

// One parsed instance on its way to storage.
struct StoreItem {
  std::string origin;       // where it came from (for reports)
  std::string path;         // dataset-relative path to store it at
  ParsedInstance instance;  // record (path set) and bytes
};

enum class StoreResult {
  kStored,          // committed now
  kAlreadyPresent,  // this SOPInstanceUID is stored with the same sha256
};

// Where parsed instances go: the cluster, a dry run, a test double.
class InstanceStore {
 public:
  virtual ~InstanceStore() = default;
  // Stores a batch; one result per item, in order. Per-item errors:
  // kAlreadyExists = the SOPInstanceUID (or path) is stored with different
  // content, a conflict that is reported and never overwritten; other
  // codes are reported as that item's failure. The pipeline stops (and
  // RunIngest reports `fatal`) on kUnavailable / kResourceExhausted /
  // kFailedPrecondition / kUnauthenticated / kPermissionDenied
  // (the store cannot continue).
  virtual std::vector<absl::StatusOr<StoreResult>> StoreBatch(
      std::vector<StoreItem>& batch) = 0;
};

struct IngestProgress {
  uint64_t files_found = 0;        // candidate files walked so far
  uint64_t bytes_found = 0;
  uint64_t files_done = 0;         // stored, present or skipped
  uint64_t bytes_done = 0;         // input bytes of files_done
  uint64_t instances_stored = 0;
  uint64_t bytes_stored = 0;       // stored bytes (after de-identification)
  uint64_t already_present = 0;
  uint64_t skipped = 0;            // problems + rejected + conflicts + failed
  bool walk_done = false;          // files_found is final
  absl::Duration elapsed;
};

struct SkippedFile {
  std::string origin;
  std::string reason;
  std::string sop_instance_uid;  // when known (conflicts, store failures)
};

struct IngestReport {
  IngestProgress totals;
  std::vector<SkippedFile> skipped;  // sorted by origin
  // DICOMDIR files met inside folders or archives: not instances, and not
  // a problem (their referenced files are walked with the folder).
  std::vector<SkippedFile> ignored;
  // A failure that stopped the run early (the store became unusable,
  // cancelled); OK when the run went through every source.
  absl::Status fatal;
  // Everything as one JSON object (see README.md for the schema).
  std::string ToJson() const;
};

struct IngestOptions {
  std::vector<std::string> sources;
  // Parse threads, and as many store threads. Default 4.
  size_t jobs = 4;
  // Applied before anything is stored; null: files stored unchanged.
  const Deidentifier* deidentifier = nullptr;
  // Store at the source's relative path instead of
  // <StudyUID>/<SeriesUID>/<SOPUID>.dcm.
  bool keep_paths = false;
  // One StoreBatch call carries at most this many instances / bytes.
  // Defaults 64 and 32 MiB.
  size_t batch_max_files = 64;
  size_t batch_max_bytes = size_t{32} << 20;
  // How often on_progress is called (also once at the end). Default 1 s.
  absl::Duration progress_interval = absl::Seconds(1);
  std::function<void(const IngestProgress&)> on_progress;
  // Set to true (e.g. from a signal handler) to stop early; fatal is then
  // kCancelled.
  const std::atomic<bool>* cancel = nullptr;
  WalkOptions walk;
};

// The dataset-relative path of an instance: "<Study>/<Series>/<SOP>.dcm"
// (characters outside [0-9A-Za-z._-] in UIDs replaced by '_'), or with
// keep_paths the cleaned source relative path.
std::string StoragePath(const v1::DicomInstance& record, bool keep_paths,
                        const std::string& relative_path);

// Runs the pipeline. kNotFound (before anything is stored) when a source
// does not exist; kInvalidArgument when there are no sources or jobs is 0.
absl::StatusOr<IngestReport> RunIngest(const IngestOptions& options,
                                       InstanceStore* store);

}  // namespace medfs::ingest
