#include "cli/ingest/pipeline.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/ingest/memory_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cli/ingest/dicom_fixtures.h"

namespace medfs::ingest {
namespace {

using ::testing::HasSubstr;
using testing::MakeSeries;
using testing::SeriesSpec;
using testing::TempDir;
using testing::WriteFile;

struct Source {
  TempDir dir;
  std::map<std::string, std::string> instances;  // SOP UID -> bytes
  Source() {
    SeriesSpec ct;
    ct.slices = 6;
    SeriesSpec mr = ct;
    mr.modality = "MR";
    mr.xfer = EXS_LittleEndianImplicit;
    mr.with_meta = false;
    int n = 0;
    for (const SeriesSpec& spec : {ct, mr}) {
      for (const testing::Instance& inst : MakeSeries(spec).instances) {
        WriteFile(dir.Sub(absl::StrCat("in/", spec.modality, "/", n++)), inst.bytes);
        instances[inst.sop_uid] = inst.bytes;
      }
    }
    // Bad files next to the good ones.
    SeriesSpec bad = ct;
    bad.slices = 1;
    bad.omit_sop_uid = true;
    WriteFile(dir.Sub("in/bad/no_sop"), MakeSeries(bad).instances[0].bytes);
    bad.omit_sop_uid = false;
    std::string whole = MakeSeries(bad).instances[0].bytes;
    WriteFile(dir.Sub("in/bad/truncated"), whole.substr(0, whole.size() - 100));
    WriteFile(dir.Sub("in/bad/notes.txt"), "not an image");
  }
};

IngestOptions Options(const Source& s) {
  IngestOptions o;
  o.sources = {s.dir.Sub("in")};
  o.jobs = 2;
  o.batch_max_files = 4;
  return o;
}

TEST(PipelineTest, StoresEveryInstanceAndReportsEveryRejection) {
  Source s;
  MemoryInstanceStore store(/*keep_bytes=*/true);
  std::vector<IngestProgress> progress;
  IngestOptions options = Options(s);
  options.on_progress = [&](const IngestProgress& p) { progress.push_back(p); };
  absl::StatusOr<IngestReport> report = RunIngest(options, &store);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->fatal.ok());
  EXPECT_EQ(report->totals.instances_stored, s.instances.size());
  EXPECT_EQ(report->totals.files_found, s.instances.size() + 3);
  EXPECT_EQ(report->totals.files_done, report->totals.files_found);
  ASSERT_EQ(report->skipped.size(), 3u);
  std::map<std::string, std::string> reasons;
  for (const SkippedFile& f : report->skipped) {
    reasons[std::filesystem::path(f.origin).filename()] = f.reason;
  }
  EXPECT_THAT(reasons["no_sop"], HasSubstr("missing SOPInstanceUID"));
  EXPECT_THAT(reasons["truncated"], HasSubstr("truncated"));
  EXPECT_THAT(reasons["notes.txt"], HasSubstr("not a DICOM file"));
  // Byte for byte, at <Study>/<Series>/<SOP>.dcm.
  auto stored = store.Snapshot();
  ASSERT_EQ(stored.size(), s.instances.size());
  for (const auto& [sop, bytes] : s.instances) {
    ASSERT_TRUE(stored.count(sop));
    EXPECT_EQ(stored[sop].bytes, bytes);
    const v1::DicomInstance& r = stored[sop].record;
    EXPECT_EQ(r.path(), absl::StrCat(r.study_instance_uid(), "/",
                                     r.series_instance_uid(), "/", sop, ".dcm"));
  }
  ASSERT_FALSE(progress.empty());
  EXPECT_TRUE(progress.back().walk_done);
  std::string json = report->ToJson();
  EXPECT_THAT(json, HasSubstr("\"instances_stored\":12"));
  EXPECT_THAT(json, HasSubstr("missing SOPInstanceUID"));
  EXPECT_THAT(json, HasSubstr("\"complete\":true"));
}

TEST(PipelineTest, RerunIsIdempotentAndConflictsAreReported) {
  Source s;
  MemoryInstanceStore store(/*keep_bytes=*/false);
  ASSERT_TRUE(RunIngest(Options(s), &store).ok());
  absl::StatusOr<IngestReport> again = RunIngest(Options(s), &store);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->totals.instances_stored, 0u);
  EXPECT_EQ(again->totals.already_present, s.instances.size());
  // Same SOPInstanceUID, different content: a conflict, never overwritten.
  std::string changed = testing::ReadFile(s.dir.Sub("in/CT/0"));
  changed[changed.size() - 1] ^= 1;
  WriteFile(s.dir.Sub("in2/changed"), changed);
  IngestOptions options = Options(s);
  options.sources = {s.dir.Sub("in2")};
  absl::StatusOr<IngestReport> conflict = RunIngest(options, &store);
  ASSERT_TRUE(conflict.ok());
  ASSERT_EQ(conflict->skipped.size(), 1u);
  EXPECT_THAT(conflict->skipped[0].reason, HasSubstr("conflict"));
  EXPECT_FALSE(conflict->skipped[0].sop_instance_uid.empty());
}

TEST(PipelineTest, KeepPathsStoresAtTheSourcePaths) {
  Source s;
  MemoryInstanceStore store(false);
  IngestOptions options = Options(s);
  options.keep_paths = true;
  ASSERT_TRUE(RunIngest(options, &store).ok());
  std::set<std::string> paths;
  for (const auto& [sop, stored] : store.Snapshot()) paths.insert(stored.record.path());
  EXPECT_TRUE(paths.count("CT/0"));
  EXPECT_TRUE(paths.count("MR/6"));
}

TEST(PipelineTest, DeidentifiedRunStoresNewUids) {
  Source s;
  MemoryInstanceStore store(true);
  absl::StatusOr<Deidentifier> deid =
      Deidentifier::Create({"pipeline-test-key-0123456789"});
  ASSERT_TRUE(deid.ok());
  IngestOptions options = Options(s);
  options.deidentifier = &*deid;
  ASSERT_TRUE(RunIngest(options, &store).ok());
  auto stored = store.Snapshot();
  ASSERT_EQ(stored.size(), s.instances.size());
  for (const auto& [sop, unused] : s.instances) {
    EXPECT_TRUE(stored.count(deid->RemapUid(sop))) << sop;
  }
}

class FailingStore : public InstanceStore {
 public:
  std::vector<absl::StatusOr<StoreResult>> StoreBatch(std::vector<StoreItem>& batch) override {
    return std::vector<absl::StatusOr<StoreResult>>(
        batch.size(), absl::UnavailableError("meta at 127.0.0.1:1 unreachable"));
  }
};

TEST(PipelineTest, UnusableStoreStopsTheRunWithTheCause) {
  Source s;
  FailingStore store;
  absl::StatusOr<IngestReport> report = RunIngest(Options(s), &store);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->fatal.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(report->totals.instances_stored, 0u);
  EXPECT_EQ(report->totals.files_done, report->totals.files_found);
}

TEST(PipelineTest, CancelStopsEarly) {
  Source s;
  MemoryInstanceStore store(false);
  std::atomic<bool> cancel{true};
  IngestOptions options = Options(s);
  options.cancel = &cancel;
  absl::StatusOr<IngestReport> report = RunIngest(options, &store);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->fatal.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(report->totals.instances_stored, 0u);
}

TEST(PipelineTest, PydicomTestFilesAllEndStoredOrReported) {
  MemoryInstanceStore store(false);
  IngestOptions options;
  options.sources = {"/usr/lib/python3/dist-packages/pydicom/data/test_files"};
  options.jobs = 2;
  absl::StatusOr<IngestReport> report = RunIngest(options, &store);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->fatal.ok());
  const IngestProgress& t = report->totals;
  EXPECT_EQ(t.files_done, t.files_found);
  EXPECT_EQ(t.instances_stored + t.already_present + t.skipped + report->ignored.size(),
            t.files_found);
  EXPECT_GT(t.instances_stored, 40u);
  for (const SkippedFile& f : report->skipped) EXPECT_FALSE(f.reason.empty()) << f.origin;
  std::printf("pydicom ingest: %lu found, %lu stored, %lu same SOP already stored, "
              "%lu skipped, %zu DICOMDIRs ignored\n",
              t.files_found, t.instances_stored, t.already_present, t.skipped,
              report->ignored.size());
}

// A store that streams: records what each batch received and answers
// from a MemoryInstanceStore; Add can be made to fail for one SOP UID.
class StreamingStore : public InstanceStore {
 public:
  std::vector<absl::StatusOr<StoreResult>> StoreBatch(std::vector<StoreItem>& batch) override {
    return memory.StoreBatch(batch);
  }
  std::unique_ptr<StoreBatchWriter> NewBatch() override {
    return std::make_unique<Batch>(this);
  }

  class Batch : public StoreBatchWriter {
   public:
    explicit Batch(StreamingStore* store) : store_(store) {}
    absl::Status Add(StoreItem* item) override {
      if (item->instance.record.sop_instance_uid() == store_->fail_add_for) {
        return absl::DataLossError("replica checksum mismatch");
      }
      // Copies, as the cluster store does: the caller keeps the buffer.
      StoreItem copy;
      copy.origin = item->origin;
      copy.path = item->path;
      copy.instance.record = item->instance.record;
      copy.instance.bytes = item->instance.bytes;
      items_.push_back(std::move(copy));
      return absl::OkStatus();
    }
    std::vector<absl::StatusOr<StoreResult>> Commit() override {
      {
        absl::MutexLock lock(&store_->mu);
        store_->batch_sizes.push_back(items_.size());
      }
      return store_->memory.StoreBatch(items_);
    }

   private:
    StreamingStore* const store_;
    std::vector<StoreItem> items_;
  };

  MemoryInstanceStore memory{/*keep_bytes=*/true};
  std::string fail_add_for;
  absl::Mutex mu;
  std::vector<size_t> batch_sizes ABSL_GUARDED_BY(mu);
};

TEST(PipelineTest, StreamingBatchesAreFilledUpToTheLimit) {
  Source s;
  StreamingStore store;
  IngestOptions options = Options(s);
  options.jobs = 1;  // one batch at a time: every batch but the last is full
  options.batch_max_files = 5;
  options.batch_max_wait = absl::Minutes(10);  // only size and the end close a batch
  absl::StatusOr<IngestReport> report = RunIngest(options, &store);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->totals.instances_stored, s.instances.size());
  auto stored = store.memory.Snapshot();
  for (const auto& [sop, bytes] : s.instances) {
    ASSERT_TRUE(stored.count(sop)) << sop;
    EXPECT_EQ(stored[sop].bytes, bytes) << sop;  // recycled buffers never leak into a file
  }
  absl::MutexLock lock(&store.mu);
  ASSERT_EQ(store.batch_sizes.size(), (s.instances.size() + 4) / 5);
  for (size_t i = 0; i + 1 < store.batch_sizes.size(); ++i) EXPECT_EQ(store.batch_sizes[i], 5u);
}

TEST(PipelineTest, BatchByteLimitClosesABatch) {
  Source s;
  StreamingStore store;
  IngestOptions options = Options(s);
  options.jobs = 1;
  options.batch_max_files = 1000;
  options.batch_max_bytes = 1;  // every file fills a batch
  ASSERT_TRUE(RunIngest(options, &store).ok());
  absl::MutexLock lock(&store.mu);
  EXPECT_EQ(store.batch_sizes.size(), s.instances.size());
}

TEST(PipelineTest, FailedAddFailsItsBatchAndTheRunGoesOn) {
  Source s;
  StreamingStore store;
  store.fail_add_for = s.instances.begin()->first;
  IngestOptions options = Options(s);
  options.jobs = 1;
  options.batch_max_files = 3;
  absl::StatusOr<IngestReport> report = RunIngest(options, &store);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->fatal.ok()) << report->fatal;  // kDataLoss is per batch, not fatal
  const IngestProgress& t = report->totals;
  EXPECT_EQ(t.files_done, t.files_found);
  // The failing file and the files added before it in its batch (at most
  // 2) are skipped with the cause; every other instance is stored.
  size_t failed = 0;
  bool named = false;
  for (const SkippedFile& f : report->skipped) {
    if (!absl::StartsWith(f.reason, "store failed: ")) continue;
    ++failed;
    EXPECT_THAT(f.reason, HasSubstr("checksum mismatch"));
    named |= f.sop_instance_uid == store.fail_add_for;
  }
  EXPECT_TRUE(named);
  EXPECT_GE(failed, 1u);
  EXPECT_LE(failed, 3u);
  EXPECT_EQ(t.instances_stored + failed, s.instances.size());
}

TEST(PipelineTest, DeidentifiedRunRecyclesBuffersWithoutMixingFiles) {
  Source s;
  absl::StatusOr<Deidentifier> deid =
      Deidentifier::Create({"pipeline-test-key-0123456789", false, false});
  ASSERT_TRUE(deid.ok()) << deid.status();
  StreamingStore streaming;
  MemoryInstanceStore collecting(/*keep_bytes=*/true);
  for (InstanceStore* store : {static_cast<InstanceStore*>(&streaming),
                               static_cast<InstanceStore*>(&collecting)}) {
    IngestOptions options = Options(s);
    options.deidentifier = &*deid;
    absl::StatusOr<IngestReport> report = RunIngest(options, store);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->totals.instances_stored, s.instances.size());
  }
  auto a = streaming.memory.Snapshot();
  auto b = collecting.Snapshot();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [sop, stored] : a) {
    ASSERT_TRUE(b.count(sop)) << sop;
    EXPECT_EQ(stored.bytes, b[sop].bytes) << sop;
    EXPECT_EQ(stored.record.sha256(), b[sop].record.sha256()) << sop;
    EXPECT_EQ(stored.record.file_size(), stored.bytes.size()) << sop;
  }
}

TEST(PipelineTest, MissingSourceFailsBeforeStarting) {
  MemoryInstanceStore store(false);
  IngestOptions options;
  options.sources = {"/nonexistent/dicom"};
  EXPECT_EQ(RunIngest(options, &store).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace medfs::ingest
