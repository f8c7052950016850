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
#include <memory>
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

// A batch being filled, on its way into an InstanceStore. Add may send the
// item's bytes towards storage at once (so data flows while the batch is
// still filling); nothing becomes visible before Commit, which stores every
// added item in one step. Used by one thread at a time.
class StoreBatchWriter {
 public:
  virtual ~StoreBatchWriter() = default;
  // Adds `item`. The writer either copies item->instance.bytes (leaving
  // the buffer to the caller, who reuses it) or moves it out. An error
  // (the same codes as InstanceStore::StoreBatch's per-item errors) fails
  // the whole batch: the caller stops adding and does not call Commit.
  virtual absl::Status Add(StoreItem* item) = 0;
  // Stores the added items; one result per item, in Add order, with the
  // meaning of InstanceStore::StoreBatch's results. Called at most once.
  virtual std::vector<absl::StatusOr<StoreResult>> Commit() = 0;
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
  // A new, empty batch. The default collects the items and calls
  // StoreBatch at Commit; stores that can stream override it.
  virtual std::unique_ptr<StoreBatchWriter> NewBatch();
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
  // Parse threads, and as many batches filled and stored in parallel.
  // Default 4.
  size_t jobs = 4;
  // Applied before anything is stored; null: files stored unchanged.
  const Deidentifier* deidentifier = nullptr;
  // Store at the source's relative path instead of
  // <StudyUID>/<SeriesUID>/<SOPUID>.dcm.
  bool keep_paths = false;
  // One batch (one commit) carries at most this many instances / bytes.
  // Defaults 64 and 32 MiB. Items are added to a batch as they are parsed;
  // a batch that is not full is committed once no item has arrived for
  // batch_max_wait (default 1 s), and when the sources are exhausted.
  size_t batch_max_files = 64;
  size_t batch_max_bytes = size_t{32} << 20;
  absl::Duration batch_max_wait = absl::Seconds(1);
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
