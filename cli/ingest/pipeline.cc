#include "cli/ingest/pipeline.h"

#include <sys/stat.h>

#include <algorithm>
#include <deque>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/status.h"

namespace medfs::ingest {
namespace {

// A FIFO of at most `capacity` items; Pop returns nullopt once closed and
// drained.
template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity) {}

  void Push(T item) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &BoundedQueue::HasRoom));
    items_.push_back(std::move(item));
  }
  std::optional<T> Pop() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &BoundedQueue::ReadyToPop));
    return TakeLocked();
  }
  // Waits at most `timeout` for an item; nullopt when none came (or the
  // queue is closed and drained).
  std::optional<T> PopFor(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(this, &BoundedQueue::ReadyToPop), timeout);
    return TakeLocked();
  }
  void Close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }

 private:
  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return items_.size() < capacity_;
  }
  bool ReadyToPop() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !items_.empty() || closed_;
  }
  std::optional<T> TakeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }

  const size_t capacity_;
  absl::Mutex mu_;
  std::deque<T> items_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

// State shared by the stages of one run.
class Run : public SourceSink {
 public:
  Run(const IngestOptions& options, InstanceStore* store)
      : options_(options), store_(store),
        parse_queue_(options.jobs * 4), store_queue_(options.jobs * 4) {}

  IngestReport Execute();

  // SourceSink (walker thread).
  absl::Status OnFile(SourceFile file) override;
  void OnProblem(SourceProblem problem) override;
  std::string TakeBuffer() override;

 private:
  void Walk();
  void ParseWorker();
  void StoreWorker();
  // Fills one batch starting with `first` and commits it.
  void StoreOneBatch(StoreItem first);
  struct Added {  // what the report needs of an item added to a batch
    std::string origin;
    std::string sop_instance_uid;
    uint64_t file_size;
  };
  void ReportBatch(const std::vector<Added>& added,
                   const std::vector<absl::StatusOr<StoreResult>>& results);
  void Skip(std::string origin, std::string reason, std::string sop,
            uint64_t input_bytes);
  void RecycleBuffer(std::string buffer);
  void Fail(absl::Status status);
  bool Stopping() const;
  IngestProgress Snapshot() const;

  // Constant after construction.
  const IngestOptions& options_;
  InstanceStore* const store_;
  const absl::Time start_ = absl::Now();

  BoundedQueue<SourceFile> parse_queue_;
  BoundedQueue<StoreItem> store_queue_;

  mutable absl::Mutex mu_;
  IngestReport report_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> buffers_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> failed_{false};
};

bool Run::Stopping() const {
  return failed_.load() || (options_.cancel != nullptr && options_.cancel->load());
}

void Run::Fail(absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (report_.fatal.ok()) report_.fatal = std::move(status);
  failed_ = true;
}

absl::Status Run::OnFile(SourceFile file) {
  if (Stopping()) return absl::CancelledError("ingest stopped");
  {
    absl::MutexLock lock(&mu_);
    ++report_.totals.files_found;
    report_.totals.bytes_found += file.bytes.size();
  }
  parse_queue_.Push(std::move(file));
  return absl::OkStatus();
}

void Run::OnProblem(SourceProblem problem) {
  {
    absl::MutexLock lock(&mu_);
    ++report_.totals.files_found;
  }
  Skip(std::move(problem.origin), std::move(problem.reason), "", 0);
}

std::string Run::TakeBuffer() {
  absl::MutexLock lock(&mu_);
  if (buffers_.empty()) return {};
  std::string buffer = std::move(buffers_.back());
  buffers_.pop_back();
  return buffer;
}

// Buffers keep their size: the next reader overwrites them (resizing only
// fills bytes a buffer never held, so reuse costs no memset).
void Run::RecycleBuffer(std::string buffer) {
  absl::MutexLock lock(&mu_);
  if (buffers_.size() < options_.jobs * 12) buffers_.push_back(std::move(buffer));
}

void Run::Skip(std::string origin, std::string reason, std::string sop,
               uint64_t input_bytes) {
  absl::MutexLock lock(&mu_);
  ++report_.totals.skipped;
  ++report_.totals.files_done;
  report_.totals.bytes_done += input_bytes;
  report_.skipped.push_back({std::move(origin), std::move(reason), std::move(sop)});
}

void Run::Walk() {
  for (const std::string& source : options_.sources) {
    absl::Status status = WalkSource(source, this, options_.walk);
    if (!status.ok() && !Stopping()) Fail(status);
    if (Stopping()) break;
  }
  {
    absl::MutexLock lock(&mu_);
    report_.totals.walk_done = true;
  }
  parse_queue_.Close();
}

void Run::ParseWorker() {
  while (std::optional<SourceFile> file = parse_queue_.Pop()) {
    uint64_t input_bytes = file->bytes.size();
    if (Stopping()) {
      Skip(file->origin, "not ingested: the run was stopped", "", input_bytes);
      continue;
    }
    // De-identification writes a new file: into a recycled buffer, and
    // the input buffer is recycled in exchange.
    std::string scratch = options_.deidentifier != nullptr ? TakeBuffer() : std::string();
    absl::StatusOr<ParsedInstance> parsed =
        ParseDicom(std::move(file->bytes), options_.deidentifier,
                   options_.deidentifier != nullptr ? &scratch : nullptr);
    if (scratch.capacity() > 0) RecycleBuffer(std::move(scratch));
    if (!parsed.ok()) {
      if (IsDicomDirStatus(parsed.status())) {
        absl::MutexLock lock(&mu_);
        ++report_.totals.files_done;
        report_.ignored.push_back({file->origin, std::string(parsed.status().message()), ""});
      } else {
        Skip(file->origin, std::string(parsed.status().message()), "", input_bytes);
      }
      continue;
    }
    std::string path = StoragePath(parsed->record, options_.keep_paths,
                                   file->relative_path);
    parsed->record.set_path(path);
    store_queue_.Push({std::move(file->origin), std::move(path), *std::move(parsed)});
  }
}

void Run::StoreWorker() {
  while (std::optional<StoreItem> first = store_queue_.Pop()) {
    StoreOneBatch(*std::move(first));
  }
}

bool IsFatalStoreError(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return true;
    default:
      return false;
  }
}

void Run::StoreOneBatch(StoreItem first) {
  std::unique_ptr<StoreBatchWriter> batch = store_->NewBatch();
  std::vector<Added> added;
  absl::Status status;
  size_t bytes = 0;
  std::optional<StoreItem> item = std::move(first);
  while (item) {
    const v1::DicomInstance& r = item->instance.record;
    added.push_back({item->origin, r.sop_instance_uid(), r.file_size()});
    bytes += r.file_size();
    status = Stopping() ? absl::CancelledError("stopped") : batch->Add(&*item);
    // The batch has copied the bytes (or taken the buffer): reuse it.
    if (item->instance.bytes.capacity() > 0) RecycleBuffer(std::move(item->instance.bytes));
    if (!status.ok() || added.size() >= options_.batch_max_files ||
        bytes >= options_.batch_max_bytes) {
      break;
    }
    item = store_queue_.PopFor(options_.batch_max_wait);
  }
  if (Stopping()) status = absl::CancelledError("stopped");
  std::vector<absl::StatusOr<StoreResult>> results =
      status.ok() ? batch->Commit()
                  : std::vector<absl::StatusOr<StoreResult>>(added.size(), status);
  batch.reset();  // unreferenced chunks of a failed batch are meta's to collect
  ReportBatch(added, results);
}

void Run::ReportBatch(const std::vector<Added>& added,
                      const std::vector<absl::StatusOr<StoreResult>>& results) {
  for (size_t i = 0; i < added.size(); ++i) {
    const Added& item = added[i];
    absl::StatusOr<StoreResult> result =
        i < results.size() ? results[i]
                           : absl::InternalError("store returned too few results");
    if (!result.ok()) {
      std::string reason;
      if (result.status().code() == absl::StatusCode::kCancelled && Stopping()) {
        reason = "not ingested: the run was stopped";
      } else if (result.status().code() == absl::StatusCode::kAlreadyExists) {
        reason = absl::StrCat("conflict: ", result.status().message());
      } else {
        if (IsFatalStoreError(result.status())) Fail(result.status());
        reason = absl::StrCat("store failed: ", result.status().message());
      }
      Skip(item.origin, std::move(reason), item.sop_instance_uid, item.file_size);
      continue;
    }
    absl::MutexLock lock(&mu_);
    ++report_.totals.files_done;
    report_.totals.bytes_done += item.file_size;
    if (*result == StoreResult::kStored) {
      ++report_.totals.instances_stored;
      report_.totals.bytes_stored += item.file_size;
    } else {
      ++report_.totals.already_present;
    }
  }
}

// The default batch: collects the items, StoreBatch at Commit.
class CollectingBatch : public StoreBatchWriter {
 public:
  explicit CollectingBatch(InstanceStore* store) : store_(store) {}
  absl::Status Add(StoreItem* item) override {
    items_.push_back(std::move(*item));
    return absl::OkStatus();
  }
  std::vector<absl::StatusOr<StoreResult>> Commit() override {
    return store_->StoreBatch(items_);
  }

 private:
  InstanceStore* const store_;
  std::vector<StoreItem> items_;
};

IngestProgress Run::Snapshot() const {
  absl::MutexLock lock(&mu_);
  IngestProgress p = report_.totals;
  p.elapsed = absl::Now() - start_;
  return p;
}

IngestReport Run::Execute() {
  absl::Notification finished;
  std::thread reporter([&] {
    if (!options_.on_progress) return;
    while (!finished.WaitForNotificationWithTimeout(options_.progress_interval)) {
      options_.on_progress(Snapshot());
    }
  });
  std::vector<std::thread> parsers, storers;
  for (size_t i = 0; i < options_.jobs; ++i) {
    parsers.emplace_back([this] { ParseWorker(); });
    storers.emplace_back([this] { StoreWorker(); });
  }
  Walk();
  for (std::thread& t : parsers) t.join();
  store_queue_.Close();
  for (std::thread& t : storers) t.join();
  finished.Notify();
  reporter.join();
  if (options_.cancel != nullptr && options_.cancel->load()) {
    Fail(absl::CancelledError("ingest interrupted"));
  }
  IngestReport report;
  {
    absl::MutexLock lock(&mu_);
    report = std::move(report_);
  }
  report.totals.elapsed = absl::Now() - start_;
  auto by_origin = [](const SkippedFile& a, const SkippedFile& b) {
    return a.origin < b.origin;
  };
  std::sort(report.skipped.begin(), report.skipped.end(), by_origin);
  std::sort(report.ignored.begin(), report.ignored.end(), by_origin);
  if (options_.on_progress) options_.on_progress(report.totals);
  return report;
}

std::string SafeUid(const std::string& uid) {
  std::string out = uid;
  for (char& c : out) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
              (c >= 'a' && c <= 'z') || c == '.' || c == '-' || c == '_';
    if (!ok) c = '_';
  }
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out;
}

void AppendJsonString(std::string* out, absl::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", c);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void AppendFiles(std::string* out, const char* name,
                 const std::vector<SkippedFile>& files) {
  absl::StrAppend(out, ",\"", name, "\":[");
  for (size_t i = 0; i < files.size(); ++i) {
    if (i > 0) out->push_back(',');
    out->append("{\"origin\":");
    AppendJsonString(out, files[i].origin);
    out->append(",\"reason\":");
    AppendJsonString(out, files[i].reason);
    if (!files[i].sop_instance_uid.empty()) {
      out->append(",\"sop_instance_uid\":");
      AppendJsonString(out, files[i].sop_instance_uid);
    }
    out->push_back('}');
  }
  out->push_back(']');
}

}  // namespace

std::unique_ptr<StoreBatchWriter> InstanceStore::NewBatch() {
  return std::make_unique<CollectingBatch>(this);
}

std::string StoragePath(const v1::DicomInstance& record, bool keep_paths,
                        const std::string& relative_path) {
  if (keep_paths && !relative_path.empty()) return relative_path;
  return absl::StrCat(SafeUid(record.study_instance_uid()), "/",
                      SafeUid(record.series_instance_uid()), "/",
                      SafeUid(record.sop_instance_uid()), ".dcm");
}

std::string IngestReport::ToJson() const {
  const IngestProgress& t = totals;
  std::string out = absl::StrFormat(
      "{\"files_found\":%d,\"instances_stored\":%d,\"bytes_stored\":%d,"
      "\"already_present\":%d,\"skipped_count\":%d,\"elapsed_seconds\":%.3f,"
      "\"complete\":%s",
      t.files_found, t.instances_stored, t.bytes_stored, t.already_present,
      t.skipped, absl::ToDoubleSeconds(t.elapsed), fatal.ok() ? "true" : "false");
  if (!fatal.ok()) {
    out.append(",\"fatal\":");
    AppendJsonString(&out, fatal.ToString());
  }
  AppendFiles(&out, "skipped", skipped);
  AppendFiles(&out, "ignored", ignored);
  out.append("}\n");
  return out;
}

absl::StatusOr<IngestReport> RunIngest(const IngestOptions& options,
                                       InstanceStore* store) {
  if (options.sources.empty()) {
    return absl::InvalidArgumentError("ingest: no sources given");
  }
  if (options.jobs == 0) return absl::InvalidArgumentError("ingest: jobs must be >= 1");
  for (const std::string& source : options.sources) {
    struct stat st;
    if (stat(source.c_str(), &st) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("ingest source ", source));
    }
  }
  Run run(options, store);
  return run.Execute();
}

}  // namespace medfs::ingest
