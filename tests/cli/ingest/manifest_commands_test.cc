// `medfs manifest freeze | list | show` as the real binary against a real
// cluster (meta + 2 chunkservers, R=1): output, versions, exit codes.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cli/ingest/dicom_fixtures.h"
#include "tests/integration/test_cluster.h"

namespace medfs::ingest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::MakeSeries;
using testing::SeriesSpec;
using testing::Shell;
using testing::TempDir;
using testing::WriteFile;

class ManifestCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster =
        medfs::testing::TestCluster::Start({.chunkservers = 2, .replication = 1});
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
  }

  int Run(const std::string& args, std::string* out = nullptr) {
    return Shell(absl::StrCat(cluster_->CliCommand(), " ", args, " 2>&1"), out);
  }

  // Writes a series of `slices` of `modality` under dir and ingests it.
  std::vector<std::string> IngestSeries(const TempDir& tmp, const std::string& sub,
                                        const std::string& modality, int slices) {
    SeriesSpec spec;
    spec.modality = modality;
    spec.slices = slices;
    spec.rows = spec.columns = 16;
    std::vector<std::string> uids;
    for (const testing::Instance& inst : MakeSeries(spec).instances) {
      WriteFile(tmp.Sub(absl::StrCat(sub, "/", inst.sop_uid)), inst.bytes);
      uids.push_back(inst.sop_uid);
    }
    std::string out;
    EXPECT_EQ(Run(absl::StrCat("ingest ", tmp.Sub(sub), " --dataset ds"), &out), 0) << out;
    return uids;
  }

  static size_t MemberLines(const std::string& show) {
    size_t n = 0;
    for (absl::string_view line : absl::StrSplit(show, '\n', absl::SkipEmpty())) {
      if (line.find("\t/ds/") != absl::string_view::npos) ++n;
    }
    return n;
  }

  std::unique_ptr<medfs::testing::TestCluster> cluster_;
};

TEST_F(ManifestCommandsTest, FreezeListShow) {
  TempDir tmp;
  std::vector<std::string> ct = IngestSeries(tmp, "ct1", "CT", 4);
  IngestSeries(tmp, "mr", "MR", 2);
  std::string out;
  ASSERT_EQ(Run("manifest freeze ct-train ds 'Modality = CT'", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("ct-train@1: 4 instances, 1 series, 1 studies"));

  IngestSeries(tmp, "ct2", "CT", 3);
  ASSERT_EQ(Run("manifest show ds ct-train", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("manifest:  ct-train@1"));
  EXPECT_THAT(out, HasSubstr("query:     Modality = CT"));
  EXPECT_EQ(MemberLines(out), 4u) << out;
  for (const std::string& uid : ct) EXPECT_THAT(out, HasSubstr(uid + "\t/ds/"));

  ASSERT_EQ(Run("manifest freeze ct-train ds 'Modality = CT' --level series", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("ct-train@2: 7 instances, 2 series"));
  ASSERT_EQ(Run("manifest show ds ct-train", &out), 0) << out;
  EXPECT_EQ(MemberLines(out), 7u) << out;
  EXPECT_THAT(out, HasSubstr("level:     series"));
  ASSERT_EQ(Run("manifest show ds ct-train@1", &out), 0) << out;
  EXPECT_EQ(MemberLines(out), 4u) << out;

  ASSERT_EQ(Run("manifest show ds ct-train@1 --json", &out), 0) << out;
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(out, '\n', absl::SkipEmpty())).size(), 4u);
  EXPECT_THAT(out, HasSubstr("\"sop_instance_uid\""));

  ASSERT_EQ(Run("manifest list ds", &out), 0) << out;
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << out;  // header + 2 versions
  EXPECT_THAT(lines[1], HasSubstr("ct-train"));
  EXPECT_THAT(lines[2], HasSubstr("series"));
}

TEST_F(ManifestCommandsTest, ErrorsExitNonZeroWithTheReason) {
  TempDir tmp;
  IngestSeries(tmp, "ct", "CT", 2);
  std::string out;
  ASSERT_EQ(Run("manifest freeze m ds", &out), 0) << out;  // no query: every instance
  EXPECT_THAT(out, HasSubstr("m@1: 2 instances"));
  struct Case {
    std::string args;
    int status;
    std::string says;
  };
  std::vector<Case> cases = {
      {"manifest show ds m@2", 1, "no version 2 (versions 1 to 1)"},
      {"manifest show ds other", 1, "no such manifest"},
      {"manifest show nope m", 1, "no dataset 'nope'"},
      {"manifest show ds m@zero", 1, "positive integer"},
      {"manifest freeze m nope 'Modality = CT'", 1, "no dataset 'nope'"},
      {"manifest freeze m ds 'Colour = red'", 1, "unknown keyword"},
      {"manifest freeze a@b ds", 1, "manifest name 'a@b'"},
      {"manifest freeze m ds '' --level patient", 2, "usage: --level"},
      {"manifest list nope", 1, "no dataset 'nope'"},
      {"manifest", 2, "usage: manifest freeze"},
      {"manifest drop ds m", 2, "usage: manifest freeze"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Run(c.args, &out), c.status) << c.args << ": " << out;
    EXPECT_THAT(out, HasSubstr(c.says)) << c.args;
  }
  ASSERT_EQ(Run("manifest list ds", &out), 0) << out;
  EXPECT_THAT(out, Not(HasSubstr("a@b")));
}

}  // namespace
}  // namespace medfs::ingest
