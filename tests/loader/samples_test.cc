#include "loader/sample/samples.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "gtest/gtest.h"

namespace medfs::loader {
namespace {

v1::DicomInstance Slice(const std::string& sop, const std::string& series,
                        std::vector<double> ipp, std::vector<double> iop) {
  v1::DicomInstance r;
  r.set_sop_instance_uid(sop);
  r.set_series_instance_uid(series);
  r.set_study_instance_uid("study-" + series);
  r.set_number_of_frames(1);
  for (double d : ipp) r.add_image_position_patient(d);
  for (double d : iop) r.add_image_orientation_patient(d);
  return r;
}

struct OrientationCase {
  const char* name;
  std::vector<double> iop;
  std::vector<double> step;  // position change per slice
};

class VolumeOrderTest : public ::testing::TestWithParam<OrientationCase> {};

TEST_P(VolumeOrderTest, ShuffledSlicesAreOrderedAlongTheNormal) {
  const OrientationCase c = GetParam();
  std::vector<v1::DicomInstance> records;
  for (int k = 0; k < 20; ++k) {
    records.push_back(Slice("sop-" + std::to_string(k), "S",
                            {10 + k * c.step[0], -5 + k * c.step[1], 3 + k * c.step[2]}, c.iop));
  }
  std::mt19937 rng(42);
  std::shuffle(records.begin(), records.end(), rng);
  auto samples = BuildSamples(records, SampleKind::kSeries);
  ASSERT_EQ(samples.size(), 1u);
  const Sample& s = samples[0];
  ASSERT_EQ(s.instances.size(), 20u);
  for (int k = 0; k < 20; ++k) {
    EXPECT_EQ(records[s.instances[k]].sop_instance_uid(), "sop-" + std::to_string(k)) << c.name;
  }
  EXPECT_TRUE(std::is_sorted(s.positions.begin(), s.positions.end()));
}

INSTANTIATE_TEST_SUITE_P(
    Orientations, VolumeOrderTest,
    ::testing::Values(OrientationCase{"axial", {1, 0, 0, 0, 1, 0}, {0, 0, 2.5}},
                      OrientationCase{"coronal", {1, 0, 0, 0, 0, -1}, {0, 1.0, 0}},
                      OrientationCase{"sagittal", {0, 1, 0, 0, 0, -1}, {-0.7, 0, 0}},
                      OrientationCase{"oblique", {0.7071068, 0.7071068, 0, 0, 0, -1},
                                      {-0.5, 0.5, 0}}));

TEST(SamplesTest, MissingGeometryFallsBackToInstanceNumber) {
  std::vector<v1::DicomInstance> records;
  for (int k : {3, 1, 2}) {
    auto r = Slice("sop" + std::to_string(k), "S", {}, {});
    r.set_instance_number(k);
    records.push_back(r);
  }
  auto s = BuildSamples(records, SampleKind::kSeries)[0];
  EXPECT_EQ(records[s.instances[0]].instance_number(), 1);
  EXPECT_EQ(records[s.instances[2]].instance_number(), 3);
}

TEST(SamplesTest, SliceSamplesCoverEveryFrameInStableOrder) {
  std::vector<v1::DicomInstance> records = {Slice("b", "S", {}, {}), Slice("a", "S", {}, {})};
  records[0].set_number_of_frames(3);
  auto samples = BuildSamples(records, SampleKind::kSlice);
  ASSERT_EQ(samples.size(), 4u);
  EXPECT_EQ(samples[0].uid, "a");
  EXPECT_EQ(samples[1].uid, "b");
  EXPECT_EQ(samples[3].frame, 2u);
}

TEST(SamplesTest, ResampleDepthInterpolatesLinearlyByPosition) {
  // Three one-pixel slices at z = 0, 1, 4 with values 0, 10, 40.
  std::vector<float> slices = {0, 10, 40};
  std::vector<double> positions = {0, 1, 4};
  std::vector<float> out(5);
  ResampleDepth(slices.data(), positions, 1, 5, out.data());  // z = 0,1,2,3,4
  std::vector<float> expected = {0, 10, 20, 30, 40};
  for (int i = 0; i < 5; ++i) EXPECT_FLOAT_EQ(out[i], expected[i]) << i;
}

struct LabelCase {
  const char* name;
  const char* csv;
  SampleKind kind;
  std::vector<float> first;  // labels of the sample of record "a"
  uint64_t missing;
};

class LabelJoinTest : public ::testing::TestWithParam<LabelCase> {};

TEST_P(LabelJoinTest, LabelsJoinByTheirKey) {
  const LabelCase c = GetParam();
  std::vector<v1::DicomInstance> records = {Slice("a", "S1", {}, {}), Slice("b", "S2", {}, {})};
  auto table = LabelTable::Parse(c.csv, c.name);
  ASSERT_TRUE(table.ok()) << table.status();
  auto samples = BuildSamples(records, c.kind);
  auto missing = AttachLabels(*table, records, c.kind, &samples);
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(*missing, c.missing);
  ASSERT_EQ(samples[0].label.size(), c.first.size());
  for (size_t i = 0; i < c.first.size(); ++i) {
    if (std::isnan(c.first[i])) EXPECT_TRUE(std::isnan(samples[0].label[i]));
    else EXPECT_FLOAT_EQ(samples[0].label[i], c.first[i]);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Keys, LabelJoinTest,
    ::testing::Values(
        LabelCase{"sop", "SOPInstanceUID,tumour,grade\nb,0,2\na,1,3\n", SampleKind::kSlice, {1, 3}, 0},
        LabelCase{"series", "label,SeriesInstanceUID\n7,S1\n", SampleKind::kSeries, {7}, 1},
        LabelCase{"study", "StudyInstanceUID,y\nstudy-S2,5\n", SampleKind::kSlice, {NAN}, 1},
        LabelCase{"study_series", "StudyInstanceUID,y\nstudy-S1,4\n", SampleKind::kSeries, {4}, 1}));

TEST(LabelTableTest, RejectsBadTables) {
  struct Bad { const char* csv; } cases[] = {{"uid,label\na,1\n"},
                                            {"SOPInstanceUID,label\na,x\n"},
                                            {"SOPInstanceUID,label\na,1,2\n"},
                                            {"SOPInstanceUID\na\n"}};
  for (const Bad& b : cases) {
    EXPECT_EQ(LabelTable::Parse(b.csv, "t.csv").status().code(),
              absl::StatusCode::kInvalidArgument) << b.csv;
  }
  EXPECT_EQ(LabelTable::Load("/nonexistent/labels.csv").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(LabelTableTest, SopLabelsCannotLabelSeries) {
  std::vector<v1::DicomInstance> records = {Slice("a", "S1", {}, {})};
  auto table = LabelTable::Parse("SOPInstanceUID,y\na,1\n", "t");
  ASSERT_TRUE(table.ok());
  auto samples = BuildSamples(records, SampleKind::kSeries);
  EXPECT_EQ(AttachLabels(*table, records, SampleKind::kSeries, &samples).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace medfs::loader
