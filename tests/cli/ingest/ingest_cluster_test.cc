// `medfs ingest` / `query` / `info` as the real binary against a real
// cluster (meta + 3 chunkservers, R=2): byte-for-byte round trip,
// de-identified ingest, and re-runs after kill -9 of the CLI and of meta.
#include <sys/wait.h>

#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "cli/ingest/cluster_store.h"
#include "cli/ingest/dicom_parser.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cli/ingest/dicom_fixtures.h"
#include "tests/integration/test_cluster.h"

namespace medfs::ingest {
namespace {

using ::testing::HasSubstr;
using testing::MakeSeries;
using testing::SeriesSpec;
using testing::Shell;
using testing::TempDir;
using testing::WriteFile;

class IngestClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster =
        medfs::testing::TestCluster::Start({.chunkservers = 3, .replication = 2});
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
  }

  std::string Medfs(const std::string& args) {
    return absl::StrCat(cluster_->CliCommand(), " ", args);
  }
  int Run(const std::string& args, std::string* out = nullptr) {
    return Shell(Medfs(args) + " 2>&1", out);
  }

  // Writes `n` CT slices of rows x rows into dir/src; returns SOP -> bytes.
  std::map<std::string, std::string> MakeSource(const std::string& dir, int n, int rows,
                                                bool with_phi = true) {
    std::map<std::string, std::string> out;
    SeriesSpec spec;
    spec.slices = n;
    spec.rows = spec.columns = rows;
    spec.with_phi = with_phi;
    int i = 0;
    for (const testing::Instance& inst : MakeSeries(spec).instances) {
      WriteFile(absl::StrCat(dir, "/IM", 100000 + i++), inst.bytes);
      out[inst.sop_uid] = inst.bytes;
    }
    return out;
  }

  v1::DatasetInfo Info(const std::string& dataset) {
    auto stub = NewDicomStub(cluster_->meta_address());
    v1::DatasetInfoRequest request;
    request.set_dataset(dataset);
    v1::DatasetInfo info;
    (void)CallWithRetries(absl::Seconds(5), absl::Seconds(0), [&](grpc::ClientContext* c) {
      return stub->GetDatasetInfo(c, request, &info);
    });
    return info;
  }

  // Every instance of the dataset: SOP -> stored bytes (fetched with get -r).
  std::map<std::string, std::string> Fetch(const std::string& dataset, const TempDir& tmp,
                                           const std::string& sub) {
    std::string local = tmp.Sub(sub);
    EXPECT_EQ(Run(absl::StrCat("get -r /", dataset, " ", local)), 0);
    std::map<std::string, std::string> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(local)) {
      if (!e.is_regular_file()) continue;
      std::string bytes = testing::ReadFile(e.path());
      auto parsed = ParseDicom(bytes, nullptr);
      EXPECT_TRUE(parsed.ok()) << e.path() << ": " << parsed.status();
      if (!parsed.ok()) continue;
      EXPECT_EQ(out.count(parsed->record.sop_instance_uid()), 0u) << "duplicate";
      EXPECT_EQ(e.path().filename().string(), parsed->record.sop_instance_uid() + ".dcm");
      out[parsed->record.sop_instance_uid()] = bytes;
    }
    return out;
  }

  std::unique_ptr<medfs::testing::TestCluster> cluster_;
};

TEST_F(IngestClusterTest, RoundTripQueryAndIdempotentRerun) {
  TempDir tmp;
  auto sources = MakeSource(tmp.Sub("src"), 8, 64);
  SeriesSpec mr;
  mr.modality = "MR";
  mr.slices = 3;
  mr.slice_thickness = 5;
  for (const testing::Instance& inst : MakeSeries(mr).instances) {
    WriteFile(tmp.Sub("mr/" + inst.sop_uid), inst.bytes);
    sources[inst.sop_uid] = inst.bytes;
  }
  ASSERT_EQ(Shell(absl::StrCat("cd ", tmp.Sub("mr"), " && zip -qr ../mr.zip .")), 0);
  WriteFile(tmp.Sub("src/notes.txt"), "not dicom");
  std::string out;
  // The text file is skipped: exit status non-zero, reason in the report.
  EXPECT_EQ(Run(absl::StrCat("ingest ", tmp.Sub("src"), " ", tmp.Sub("mr.zip"),
                             " --dataset ds --jobs 2 --report ", tmp.Sub("r.json")), &out), 1)
      << out;
  EXPECT_THAT(out, HasSubstr("ingested 11 instances"));
  EXPECT_THAT(testing::ReadFile(tmp.Sub("r.json")), HasSubstr("not a DICOM file"));
  auto stored = Fetch("ds", tmp, "got");
  ASSERT_EQ(stored.size(), sources.size());
  for (const auto& [sop, bytes] : sources) EXPECT_EQ(stored[sop], bytes) << sop;
  v1::DatasetInfo info = Info("ds");
  EXPECT_EQ(info.stats().instances(), 11u);
  EXPECT_EQ(info.stats().series(), 2u);
  EXPECT_EQ(info.stats().modalities().at("CT"), 8u);
  // Query: instance paths, series level, JSON.
  ASSERT_EQ(Run("query ds 'Modality = MR and SliceThickness >= 5'", &out), 0) << out;
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(out, '\n', absl::SkipEmpty())).size(), 3u);
  ASSERT_EQ(Run("query ds 'BodyPartExamined ~ CH* and InstanceNumber <= 4' --level series",
                &out), 0);
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(out, '\n', absl::SkipEmpty())).size(), 2u);
  EXPECT_EQ(Run("query ds 'Nonsense = 1'", &out), 1);
  EXPECT_THAT(out, HasSubstr("unknown keyword"));
  ASSERT_EQ(Run("datasets", &out), 0);
  EXPECT_THAT(out, HasSubstr("ds"));
  // Re-run: nothing stored twice.
  std::filesystem::remove(tmp.Sub("src/notes.txt"));
  ASSERT_EQ(Run(absl::StrCat("ingest ", tmp.Sub("src"), " ", tmp.Sub("mr.zip"),
                             " --dataset ds"), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("ingested 0 instances"));
  EXPECT_THAT(out, HasSubstr("11 already present"));
  EXPECT_EQ(Info("ds").stats().instances(), 11u);
}

TEST_F(IngestClusterTest, DeidentifiedIngestIsConsistentAcrossRuns) {
  TempDir tmp;
  auto sources = MakeSource(tmp.Sub("src"), 4, 32);
  WriteFile(tmp.Sub("key"), "cluster-test-secret-key-0123456789\n");
  std::string out;
  for (const char* dataset : {"anon1", "anon2"}) {
    ASSERT_EQ(Run(absl::StrCat("ingest ", tmp.Sub("src"), " --dataset ", dataset,
                               " --deidentify basic --key-file ", tmp.Sub("key")), &out), 0)
        << out;
  }
  auto a = Fetch("anon1", tmp, "a");
  auto b = Fetch("anon2", tmp, "b");
  ASSERT_EQ(a.size(), sources.size());
  EXPECT_EQ(a, b);  // same new UIDs, same bytes
  for (const auto& [sop, bytes] : a) {
    EXPECT_EQ(sources.count(sop), 0u) << "original UID stored";
    WriteFile(tmp.Sub("one.dcm"), bytes);
    ASSERT_EQ(Shell("dcmdump " + tmp.Sub("one.dcm"), &out), 0);
    for (const char* phi : {"Doe", "Springfield", "House", "ACC99812", "19610412"}) {
      EXPECT_FALSE(absl::StrContains(out, phi)) << phi;
    }
  }
  EXPECT_THAT(Info("anon1").deidentification(), HasSubstr("Basic Profile"));
  // Mixing profiles in one dataset is refused.
  EXPECT_NE(Run(absl::StrCat("ingest ", tmp.Sub("src"), " --dataset anon1"), &out), 0);
}

// Starts the CLI in the background, kills it (or meta) once some instances
// are committed, then re-runs it to completion.
void WaitForSomeInstances(IngestClusterTest* t, const std::function<uint64_t()>& count) {
  absl::Time give_up = absl::Now() + absl::Seconds(120);
  while (count() == 0 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(20));
}

TEST_F(IngestClusterTest, KilledCliThenRerunStoresEachInstanceOnce) {
  TempDir tmp;
  auto sources = MakeSource(tmp.Sub("src"), 240, 256, false);
  auto cli = medfs::testing::ChildProcess::Start(
      {medfs::testing::TestCluster::BinaryPath("medfs"),
       "--meta=" + cluster_->meta_address(), "ingest", tmp.Sub("src"), "--dataset", "crash",
       "--jobs", "2"},
      tmp.Sub("cli.log"));
  ASSERT_TRUE(cli.ok());
  WaitForSomeInstances(this, [&] { return Info("crash").stats().instances(); });
  (*cli)->Kill(SIGKILL);
  uint64_t before = Info("crash").stats().instances();
  ASSERT_GT(before, 0u);
  EXPECT_LT(before, sources.size()) << "the CLI finished before it was killed";
  std::string out;
  ASSERT_EQ(Run(absl::StrCat("ingest ", tmp.Sub("src"), " --dataset crash"), &out), 0) << out;
  EXPECT_EQ(Info("crash").stats().instances(), sources.size()) << "killed at " << before;
  auto stored = Fetch("crash", tmp, "got");
  ASSERT_EQ(stored.size(), sources.size());
  for (const auto& [sop, bytes] : sources) EXPECT_EQ(stored[sop], bytes) << sop;
}

TEST_F(IngestClusterTest, KilledMetaThenRerunStoresEachInstanceOnce) {
  TempDir tmp;
  auto sources = MakeSource(tmp.Sub("src"), 240, 256, false);
  auto cli = medfs::testing::ChildProcess::Start(
      {medfs::testing::TestCluster::BinaryPath("medfs"),
       "--meta=" + cluster_->meta_address(), "ingest", tmp.Sub("src"), "--dataset", "metakill",
       "--jobs", "2"},
      tmp.Sub("cli.log"));
  ASSERT_TRUE(cli.ok());
  WaitForSomeInstances(this, [&] { return Info("metakill").stats().instances(); });
  EXPECT_TRUE((*cli)->running()) << "the CLI finished before meta was killed";
  ASSERT_TRUE(cluster_->KillMeta(9).ok());
  ASSERT_TRUE(cluster_->RestartMeta().ok());
  ASSERT_TRUE(cluster_->WaitForServersUp(3, absl::Seconds(60)).ok());
  // The first CLI either finishes (retrying through the restart) or fails;
  // either way the re-run completes the dataset.
  while ((*cli)->running()) absl::SleepFor(absl::Milliseconds(50));
  std::string out;
  ASSERT_EQ(Run(absl::StrCat("ingest ", tmp.Sub("src"), " --dataset metakill"), &out), 0)
      << out << (*cli)->LogTail();
  EXPECT_EQ(Info("metakill").stats().instances(), sources.size());
  auto stored = Fetch("metakill", tmp, "got");
  ASSERT_EQ(stored.size(), sources.size());
  for (const auto& [sop, bytes] : sources) EXPECT_EQ(stored[sop], bytes) << sop;
}

}  // namespace
}  // namespace medfs::ingest
