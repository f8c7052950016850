// DicomStore's mutation and dataset reads over a real MetaStore (temporary
// RocksDB): the outcomes of IngestFiles (stored, already present,
// conflicts, per-file failures, whole-batch errors), the instance records
// and namespace entries it writes, and the dataset counts of
// GetDatasetInfo / ListDatasets.
#include "meta/dicom/dicom_store.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/meta/store/test_util.h"

namespace medfs::meta {
namespace {

// A record with the attributes the counts use.
struct Spec {
  std::string sop;
  std::string path;
  std::string patient = "P1";
  std::string study = "1.1";
  std::string series = "1.1.1";
  std::string modality = "CT";
  std::string sha = "sha-a";
  uint64_t size = 100;
};

v1::IngestFileEntry Entry(const Spec& s) {
  v1::IngestFileEntry e;
  e.set_path(s.path.empty() ? absl::StrCat(s.study, "/", s.series, "/", s.sop, ".dcm") : s.path);
  e.set_size(s.size);
  v1::DicomInstance* r = e.mutable_dicom();
  r->set_sop_instance_uid(s.sop);
  r->set_study_instance_uid(s.study);
  r->set_series_instance_uid(s.series);
  r->set_patient_id(s.patient);
  r->set_modality(s.modality);
  r->set_sha256(s.sha);
  r->set_file_size(s.size);
  return e;
}

class DicomStoreTest : public testing::StoreTest {
 public:
  void SetUp() override {
    StoreTest::SetUp();
    dicom_ = std::make_unique<DicomStore>(store_.get());
  }

  absl::StatusOr<v1::IngestFilesReply> Ingest(const std::string& dataset,
                                              const std::vector<Spec>& specs,
                                              const std::string& deid = "") {
    v1::IngestFilesRequest request;
    request.set_dataset(dataset);
    request.set_deidentification(deid);
    for (const Spec& s : specs) *request.add_files() = Entry(s);
    return dicom_->IngestFiles(request);
  }

  // Outcomes of a batch that must succeed as a whole.
  std::vector<v1::IngestOutcome> Outcomes(const std::string& dataset,
                                          const std::vector<Spec>& specs) {
    auto reply = Ingest(dataset, specs);
    EXPECT_TRUE(reply.ok()) << reply.status();
    std::vector<v1::IngestOutcome> out;
    if (!reply.ok()) return out;
    EXPECT_EQ(reply->results_size(), static_cast<int>(specs.size()));
    for (const auto& r : reply->results()) out.push_back(r.outcome());
    return out;
  }

  // The stored record of `sop` (through an instance-level query).
  std::optional<v1::DicomInstance> Record(const std::string& dataset, const std::string& sop) {
    v1::QueryDicomRequest q;
    q.set_dataset(dataset);
    q.set_expression(absl::StrCat("SOPInstanceUID = '", sop, "'"));
    auto reply = dicom_->Query(q);
    EXPECT_TRUE(reply.ok()) << reply.status();
    if (!reply.ok() || reply->instances_size() != 1) return std::nullopt;
    return reply->instances(0);
  }

  // The inode at dataset/path, or 0.
  uint64_t Resolve(const std::string& dataset, const std::string& path) {
    auto dir = store_->Lookup(kRootInode, dataset);
    if (!dir.ok()) return 0;
    uint64_t at = dir->id();
    for (absl::string_view part : absl::StrSplit(path, '/')) {
      auto child = store_->Lookup(at, std::string(part));
      if (!child.ok()) return 0;
      at = child->id();
    }
    return at;
  }

  v1::DatasetStats Stats(const std::string& dataset) {
    auto info = dicom_->GetDatasetInfo(dataset);
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? info->stats() : v1::DatasetStats();
  }

  std::unique_ptr<DicomStore> dicom_;
};

TEST_F(DicomStoreTest, StoresRecordsFilesAndFolders) {
  auto reply = Ingest("ds", {{.sop = "1.2.3"}, {.sop = "1.2.4", .path = "flat.dcm"}});
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_EQ(reply->results_size(), 2);
  for (const auto& r : reply->results()) {
    EXPECT_EQ(r.outcome(), v1::INGEST_OUTCOME_STORED) << r.message();
    EXPECT_NE(r.inode(), 0u);
  }
  EXPECT_EQ(Resolve("ds", "1.1/1.1.1/1.2.3.dcm"), reply->results(0).inode());
  EXPECT_EQ(Resolve("ds", "flat.dcm"), reply->results(1).inode());
  std::optional<v1::DicomInstance> r = Record("ds", "1.2.3");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->path(), "1.1/1.1.1/1.2.3.dcm");
  EXPECT_EQ(r->inode(), reply->results(0).inode());
  EXPECT_EQ(r->sha256(), "sha-a");
  v1::Inode file = Get(reply->results(0).inode());
  EXPECT_EQ(file.size(), 100u);
}

// Re-ingesting: same SOPInstanceUID and content is skipped, other content
// is a conflict; neither changes what is stored.
TEST_F(DicomStoreTest, IdempotencyOutcomes) {
  ASSERT_EQ(Outcomes("ds", {{.sop = "1.2.3"}}),
            std::vector<v1::IngestOutcome>{v1::INGEST_OUTCOME_STORED});
  uint64_t inode = Resolve("ds", "1.1/1.1.1/1.2.3.dcm");
  struct Case {
    const char* name;
    Spec again;
    v1::IngestOutcome outcome;
    const char* message_has;
  } cases[] = {
      {"same content", {.sop = "1.2.3"}, v1::INGEST_OUTCOME_ALREADY_PRESENT, "1.2.3.dcm"},
      {"same content, other path", {.sop = "1.2.3", .path = "x/y.dcm"},
       v1::INGEST_OUTCOME_ALREADY_PRESENT, "1.1/1.1.1/1.2.3.dcm"},
      {"other content", {.sop = "1.2.3", .sha = "sha-b"}, v1::INGEST_OUTCOME_CONFLICT,
       "already stored with other content"},
      {"path of another instance", {.sop = "9.9", .path = "1.1/1.1.1/1.2.3.dcm"},
       v1::INGEST_OUTCOME_CONFLICT, "holds another instance"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto reply = Ingest("ds", {c.again});
    ASSERT_TRUE(reply.ok()) << reply.status();
    ASSERT_EQ(reply->results_size(), 1);
    EXPECT_EQ(reply->results(0).outcome(), c.outcome);
    EXPECT_NE(reply->results(0).message().find(c.message_has), std::string::npos)
        << reply->results(0).message();
    if (c.outcome == v1::INGEST_OUTCOME_ALREADY_PRESENT) {
      EXPECT_EQ(reply->results(0).inode(), inode);
    }
  }
  std::optional<v1::DicomInstance> r = Record("ds", "1.2.3");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->sha256(), "sha-a");
  EXPECT_EQ(r->inode(), inode);
  EXPECT_FALSE(Record("ds", "9.9").has_value());
  EXPECT_EQ(Resolve("ds", "x/y.dcm"), 0u);
  EXPECT_EQ(Stats("ds").instances(), 1u);
}

TEST_F(DicomStoreTest, SameInstanceTwiceInOneBatchIsStoredOnce) {
  EXPECT_EQ(Outcomes("ds", {{.sop = "1.2.3"}, {.sop = "1.2.3"}, {.sop = "1.2.3", .sha = "b"}}),
            (std::vector<v1::IngestOutcome>{v1::INGEST_OUTCOME_STORED,
                                             v1::INGEST_OUTCOME_ALREADY_PRESENT,
                                             v1::INGEST_OUTCOME_CONFLICT}));
  EXPECT_EQ(Stats("ds").instances(), 1u);
}

// A bad file fails alone; the rest of its batch is stored.
TEST_F(DicomStoreTest, PerFileFailuresLeaveTheRestOfTheBatch) {
  struct Case {
    const char* name;
    Spec bad;
    const char* message_has;
  } cases[] = {
      {"no SOPInstanceUID", {.sop = "", .path = "a.dcm"}, "missing SOPInstanceUID"},
      {"dot-dot in path", {.sop = "2.1", .path = "../escape.dcm"}, "reserved"},
      {"empty path component", {.sop = "2.2", .path = "a//b.dcm"}, "empty name"},
      {"folder is a file", {.sop = "2.3", .path = "ok.dcm/inner.dcm"}, "not a directory"},
  };
  ASSERT_EQ(Outcomes("ds", {{.sop = "1.0", .path = "ok.dcm"}}),
            std::vector<v1::IngestOutcome>{v1::INGEST_OUTCOME_STORED});
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string good = absl::StrCat("3.", n++);
    auto reply = Ingest("ds", {c.bad, {.sop = good}});
    ASSERT_TRUE(reply.ok()) << reply.status();
    ASSERT_EQ(reply->results_size(), 2);
    EXPECT_EQ(reply->results(0).outcome(), v1::INGEST_OUTCOME_FAILED);
    EXPECT_NE(reply->results(0).message().find(c.message_has), std::string::npos)
        << reply->results(0).message();
    EXPECT_EQ(reply->results(1).outcome(), v1::INGEST_OUTCOME_STORED);
    EXPECT_TRUE(Record("ds", good).has_value());
  }
  EXPECT_EQ(Stats("ds").instances(), 1u + n);
}

TEST_F(DicomStoreTest, WholeBatchErrors) {
  ASSERT_TRUE(Ingest("plain", {{.sop = "1.1"}}).ok());
  CreateFile(kRootInode, "a-file");
  struct Case {
    const char* name;
    std::string dataset;
    std::string deid;
    absl::StatusCode code;
  } cases[] = {
      {"empty dataset name", "", "", absl::StatusCode::kInvalidArgument},
      {"dataset name with '/'", "a/b", "", absl::StatusCode::kInvalidArgument},
      {"dataset name reserved", "..", "", absl::StatusCode::kInvalidArgument},
      {"other de-identification", "plain", "basic", absl::StatusCode::kFailedPrecondition},
      {"name taken by a file", "a-file", "", absl::StatusCode::kFailedPrecondition},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto reply = Ingest(c.dataset, {{.sop = "7.7"}}, c.deid);
    EXPECT_EQ(reply.status().code(), c.code) << reply.status();
  }
  // Nothing of a refused batch was written.
  EXPECT_FALSE(Record("plain", "7.7").has_value());
  EXPECT_EQ(Stats("plain").instances(), 1u);
}

TEST_F(DicomStoreTest, DatasetInfoCounts) {
  std::vector<Spec> batch1 = {
      {.sop = "1", .patient = "PA", .study = "S1", .series = "S1.1", .modality = "CT", .size = 10},
      {.sop = "2", .patient = "PA", .study = "S1", .series = "S1.1", .modality = "CT", .size = 20},
      {.sop = "3", .patient = "PA", .study = "S1", .series = "S1.2", .modality = "MR", .size = 30},
  };
  std::vector<Spec> batch2 = {
      {.sop = "4", .patient = "PB", .study = "S2", .series = "S2.1", .modality = "CT", .size = 40},
      {.sop = "5", .patient = "PA", .study = "S3", .series = "S3.1", .modality = "", .size = 50},
      {.sop = "1", .patient = "PA", .study = "S1", .series = "S1.1", .modality = "CT", .size = 10},
      {.sop = "2", .patient = "PA", .study = "S1", .series = "S1.1", .sha = "other", .size = 20},
  };
  ASSERT_TRUE(Ingest("counts", batch1, "basic").ok());
  ASSERT_TRUE(Ingest("counts", batch2, "basic").ok());
  ASSERT_TRUE(Ingest("other", {{.sop = "1", .modality = "US", .size = 7}}).ok());

  auto info = dicom_->GetDatasetInfo("counts");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->name(), "counts");
  EXPECT_EQ(info->deidentification(), "basic");
  EXPECT_EQ(store_->Lookup(kRootInode, "counts")->id(), info->inode());
  const v1::DatasetStats& s = info->stats();
  EXPECT_EQ(s.patients(), 2u);   // PA, PB
  EXPECT_EQ(s.studies(), 3u);    // S1, S2, S3
  EXPECT_EQ(s.series(), 4u);     // S1.1, S1.2, S2.1, S3.1
  EXPECT_EQ(s.instances(), 5u);  // the repeats are not counted
  EXPECT_EQ(s.bytes(), 150u);
  std::map<std::string, uint64_t> modalities(s.modalities().begin(), s.modalities().end());
  EXPECT_EQ(modalities, (std::map<std::string, uint64_t>{{"", 1}, {"CT", 3}, {"MR", 1}}));

  auto list = dicom_->ListDatasets();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->datasets_size(), 2);
  EXPECT_EQ(list->datasets(0).name(), "counts");
  EXPECT_EQ(list->datasets(0).stats().instances(), 5u);
  EXPECT_EQ(list->datasets(1).name(), "other");
  EXPECT_EQ(list->datasets(1).stats().instances(), 1u);
  EXPECT_EQ(list->datasets(1).stats().bytes(), 7u);
  EXPECT_EQ(list->datasets(1).deidentification(), "");

  EXPECT_EQ(dicom_->GetDatasetInfo("missing").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(DicomStoreTest, NoDatasetsListsNothing) {
  auto list = dicom_->ListDatasets();
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->datasets_size(), 0);
}

TEST_F(DicomStoreTest, IndexSurvivesReopen) {
  ASSERT_TRUE(Ingest("ds", {{.sop = "1.2.3"}, {.sop = "1.2.4", .modality = "MR"}}).ok());
  dicom_.reset();
  Reopen();
  dicom_ = std::make_unique<DicomStore>(store_.get());
  EXPECT_EQ(Stats("ds").instances(), 2u);
  EXPECT_TRUE(Record("ds", "1.2.4").has_value());
  EXPECT_EQ(Outcomes("ds", {{.sop = "1.2.3"}}),
            std::vector<v1::IngestOutcome>{v1::INGEST_OUTCOME_ALREADY_PRESENT});
}

}  // namespace
}  // namespace medfs::meta
