// The loader pipeline over a local folder: batches, exactly-once across
// ranks, resume, failures, volumes, labels.
#include "loader/pipeline/loader.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "gtest/gtest.h"
#include "loader/pipeline/open.h"
#include "tests/loader/test_dicom.h"

namespace medfs::loader {
namespace {

namespace fs = std::filesystem;
using testing::TestInstance;

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("medfs_loader_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // n slices; slice k is filled with value k; 3 series; positions by k.
  void WriteSlices(int n) {
    for (int k = 0; k < n; ++k) {
      TestInstance t;
      t.sop_uid = "1.2.3.4." + std::to_string(1000 + k);
      t.series_uid = "1.2.3.9." + std::to_string(k % 3);
      t.patient_id = "P" + std::to_string(k % 5);
      t.fill = static_cast<int16_t>(k);
      t.position = "0\\0\\" + std::to_string(-k);  // reversed along z
      t.instance_number = k;
      testing::WriteInstance((dir_ / ("f" + std::to_string(k) + ".dcm")).string(), t);
    }
  }

  // bad.dcm: SOPInstanceUID 1.2.3.4.bad, 8x8 declared, 10 pixels stored.
  void WriteUndecodableInstance() {
    TestInstance bad;
    bad.sop_uid = "1.2.3.4.bad";
    bad.series_uid = "1.2.3.9.0";
    bad.pixels.assign(10, 1);
    testing::WriteInstance((dir_ / "bad.dcm").string(), bad);
  }

  OpenOptions Options(uint32_t rank, uint32_t world) {
    OpenOptions o;
    o.dataset = dir_.string();
    o.loader.batch_size = 4;
    o.loader.transform.height = o.loader.transform.width = 4;
    o.loader.transform.window = Window{49.5, 100};  // value v -> (v-0)/99 roughly
    o.loader.sampler = {.seed = 5, .rank = rank, .world_size = world};
    o.loader.prefetch = 2;
    o.loader.threads = 3;
    return o;
  }

  std::vector<std::string> Drain(Loader* l, std::vector<Batch>* batches = nullptr) {
    std::vector<std::string> uids;
    while (true) {
      auto b = l->Next();
      EXPECT_TRUE(b.ok()) << b.status();
      if (!b.ok() || !b->has_value()) break;
      for (auto& u : (*b)->uids) uids.push_back(u);
      if (batches) batches->push_back(std::move(**b));
    }
    return uids;
  }

  fs::path dir_;
};

TEST_F(LoaderTest, BatchesCarryTransformedPixelsOfTheirUids) {
  WriteSlices(10);
  auto l = OpenLoader(Options(0, 1));
  ASSERT_TRUE(l.ok()) << l.status();
  std::vector<Batch> batches;
  auto uids = Drain(l->get(), &batches);
  ASSERT_EQ(uids.size(), 10u);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[2].size, 2u);
  EXPECT_EQ(batches[0].shape, (std::vector<int64_t>{4, 1, 4, 4}));
  for (const Batch& b : batches) {
    const float* px = reinterpret_cast<const float*>(b.images->bytes.data());
    for (uint32_t i = 0; i < b.size; ++i) {
      int k = std::stoi(b.uids[i].substr(b.uids[i].rfind('.') + 1)) - 1000;
      float expected = std::clamp((k - 49.0f) / 99.0f + 0.5f, 0.f, 1.f);
      EXPECT_NEAR(px[i * 16 + 5], expected, 1e-5) << b.uids[i];
    }
  }
  auto stats = (*l)->Stats();
  EXPECT_EQ(stats.samples, 10u);
  EXPECT_EQ(stats.bytes_read, 10u * 8 * 8 * 2);
  EXPECT_GT(stats.memory_bytes, 0u);
}

TEST_F(LoaderTest, RanksTogetherSeeEverySampleOncePerEpoch) {
  WriteSlices(21);
  for (uint32_t world : {1u, 2u, 4u}) {
    std::map<std::string, int> seen;
    size_t per_rank = 0;
    for (uint32_t r = 0; r < world; ++r) {
      OpenOptions o = Options(r, world);
      o.loader.sampler.drop_last = true;
      auto l = OpenLoader(o);
      ASSERT_TRUE(l.ok()) << l.status();
      (*l)->SetEpoch(3);
      auto uids = Drain(l->get());
      per_rank = uids.size();
      for (auto& u : uids) ++seen[u];
    }
    EXPECT_EQ(per_rank, 21u / world) << world;
    EXPECT_EQ(seen.size(), per_rank * world) << world;
    for (auto& [u, n] : seen) EXPECT_EQ(n, 1) << u;
  }
}

TEST_F(LoaderTest, StateDictResumesMidEpochOnAnotherWorldSize) {
  WriteSlices(24);
  auto full = OpenLoader(Options(0, 1));
  ASSERT_TRUE(full.ok());
  (*full)->SetEpoch(1);
  auto all = Drain(full->get());
  // Two ranks consume 2 batches each, then we resume on one rank.
  SamplerState state;
  std::vector<std::string> first;
  for (uint32_t r = 0; r < 2; ++r) {
    auto l = OpenLoader(Options(r, 2));
    ASSERT_TRUE(l.ok());
    (*l)->SetEpoch(1);
    for (int b = 0; b < 2; ++b) {
      auto batch = (*l)->Next();
      ASSERT_TRUE(batch.ok() && batch->has_value());
      for (auto& u : (**batch).uids) first.push_back(u);
    }
    state = (*l)->State();
  }
  EXPECT_EQ(state.cursor, 16u);
  auto resumed = OpenLoader(Options(0, 1));
  ASSERT_TRUE(resumed.ok());
  ASSERT_TRUE((*resumed)->Restore(state).ok());
  auto rest = Drain(resumed->get());
  EXPECT_EQ(rest, std::vector<std::string>(all.begin() + 16, all.end()));
  std::set<std::string> together(first.begin(), first.end());
  together.insert(rest.begin(), rest.end());
  EXPECT_EQ(together.size(), 24u);
}

TEST_F(LoaderTest, OrderDoesNotDependOnThreadsOrPrefetch) {
  WriteSlices(30);
  std::vector<std::string> reference;
  for (auto [threads, prefetch] : {std::pair{1u, 1u}, std::pair{4u, 8u}, std::pair{2u, 3u}}) {
    OpenOptions o = Options(0, 1);
    o.loader.threads = threads;
    o.loader.prefetch = prefetch;
    auto l = OpenLoader(o);
    ASSERT_TRUE(l.ok());
    auto uids = Drain(l->get());
    if (reference.empty()) reference = uids;
    EXPECT_EQ(uids, reference);
  }
}

TEST_F(LoaderTest, UndecodableInstancesAreSkippedZeroedOrFail) {
  WriteSlices(6);
  WriteUndecodableInstance();
  struct Case { OnError policy; size_t uids; bool fails; } cases[] = {
      {OnError::kSkip, 6, false}, {OnError::kZero, 7, false}, {OnError::kFail, 0, true}};
  for (const Case& c : cases) {
    OpenOptions o = Options(0, 1);
    o.loader.on_error = c.policy;
    o.loader.batch_size = 7;
    auto l = OpenLoader(o);
    ASSERT_TRUE(l.ok());
    auto b = (*l)->Next();
    if (c.fails) {
      EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_NE(b.status().message().find("1.2.3.4.bad"), std::string::npos);
      continue;
    }
    ASSERT_TRUE(b.ok() && b->has_value());
    EXPECT_EQ((**b).uids.size(), c.uids);
    ASSERT_EQ((**b).errors.size(), 1u);
    EXPECT_NE((**b).errors[0].find("1.2.3.4.bad"), std::string::npos);
    EXPECT_EQ((*l)->Stats().failures, 1u);
  }
}

// StageOutput::kRawFrames (the GPU path's CPU stage): each sample's
// decoded frame sits in its slot with the line clamp(a * x + b, 0, 1) that
// the CPU transform would use; failed samples are dropped from the table
// (skip) or left as rows = 0 (zero); series samples are refused.
TEST_F(LoaderTest, RawFramesCarryDecodedPixelsAndTheirWindowLine) {
  WriteSlices(6);
  WriteUndecodableInstance();
  struct Case { OnError policy; uint32_t size; } cases[] = {{OnError::kSkip, 6}, {OnError::kZero, 7}};
  for (const Case& c : cases) {
    OpenOptions o = Options(0, 1);
    o.loader.output = StageOutput::kRawFrames;
    o.loader.on_error = c.policy;
    o.loader.batch_size = 7;
    auto l = OpenLoader(o);
    ASSERT_TRUE(l.ok()) << l.status();
    EXPECT_EQ((*l)->raw_slot_bytes(), 256u);  // 8 x 8 int16, 256-aligned
    auto b = (*l)->Next();
    ASSERT_TRUE(b.ok() && b->has_value());
    const Batch& batch = **b;
    ASSERT_EQ(batch.size, c.size);
    EXPECT_EQ(batch.shape, (std::vector<int64_t>{c.size, 1, 4, 4}));  // what the GPU makes
    EXPECT_EQ(batch.raw_bytes, (*l)->raw_header_bytes() + 7 * (*l)->raw_slot_bytes());
    const auto* table = reinterpret_cast<const RawFrame*>(batch.images->bytes.data());
    for (uint32_t i = 0; i < batch.size; ++i) {
      const RawFrame& f = table[i];
      if (batch.uids[i] == "1.2.3.4.bad") {
        EXPECT_EQ(f.rows, 0u);
        continue;
      }
      int k = std::stoi(batch.uids[i].substr(batch.uids[i].rfind('.') + 1)) - 1000;
      ASSERT_EQ(f.rows, 8u) << batch.uids[i];
      EXPECT_EQ(f.columns, 8u);
      EXPECT_EQ(f.samples_per_pixel, 1u);
      EXPECT_EQ(f.pixel_type, static_cast<uint32_t>(PixelType::kI16));
      EXPECT_GE(f.offset, (*l)->raw_header_bytes());
      const auto* px = reinterpret_cast<const int16_t*>(batch.images->bytes.data() + f.offset);
      EXPECT_EQ(px[0], k);
      EXPECT_EQ(px[63], k);
      float expected = std::clamp((k - 49.0f) / 99.0f + 0.5f, 0.f, 1.f);
      EXPECT_NEAR(std::clamp(f.a * px[0] + f.b, 0.f, 1.f), expected, 1e-5) << batch.uids[i];
    }
  }
  OpenOptions series = Options(0, 1);
  series.loader.output = StageOutput::kRawFrames;
  series.loader.sample = SampleKind::kSeries;
  EXPECT_EQ(OpenLoader(series).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(LoaderTest, SeriesVolumesAreOrderedAndResampled) {
  WriteSlices(12);  // series k%3: values k along z = -k
  OpenOptions o = Options(0, 1);
  o.loader.sample = SampleKind::kSeries;
  o.loader.depth = 4;
  o.loader.batch_size = 3;
  o.loader.sampler.shuffle = false;
  o.loader.transform.window = Window{50.5, 101};  // v -> v/100 exactly
  auto l = OpenLoader(o);
  ASSERT_TRUE(l.ok()) << l.status();
  auto b = (*l)->Next();
  ASSERT_TRUE(b.ok() && b->has_value());
  const Batch& batch = **b;
  EXPECT_EQ(batch.shape, (std::vector<int64_t>{3, 1, 4, 4, 4}));
  const float* px = reinterpret_cast<const float*>(batch.images->bytes.data());
  // Series 0 holds k = 0,3,6,9 at z = 0,-3,-6,-9: ascending z is 9,6,3,0.
  for (int d = 0; d < 4; ++d) EXPECT_NEAR(px[d * 16], (9 - 3 * d) / 100.f, 1e-5) << d;
}

TEST_F(LoaderTest, LabelsAndQueriesAndSplits) {
  WriteSlices(8);
  std::ofstream(dir_ / "labels.csv") << "SOPInstanceUID,y\n1.2.3.4.1003,3\n1.2.3.4.1005,5\n";
  OpenOptions o = Options(0, 1);
  o.loader.labels_csv = (dir_ / "labels.csv").string();
  o.query = "SeriesInstanceUID=1.2.3.9.0 AND Rows>=8";
  o.loader.sampler.shuffle = false;
  auto l = OpenLoader(o);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ((*l)->num_samples(), 3u);  // k = 0, 3, 6
  auto b = (*l)->Next();
  ASSERT_TRUE(b.ok() && b->has_value());
  ASSERT_EQ((**b).uids[1], "1.2.3.4.1003");
  EXPECT_FLOAT_EQ((**b).labels[1][0], 3.f);
  EXPECT_TRUE(std::isnan((**b).labels[0][0]));
  EXPECT_EQ((*l)->Stats().missing_labels, 2u);

  o = Options(0, 1);
  o.query = "Modality=MR";
  EXPECT_EQ(OpenLoader(o).status().code(), absl::StatusCode::kFailedPrecondition);
  o.query = "Colour=red";
  EXPECT_EQ(OpenLoader(o).status().code(), absl::StatusCode::kInvalidArgument);
  // Splits partition the patients.
  size_t total = 0;
  for (Split s : {Split::kTrain, Split::kVal, Split::kTest}) {
    o = Options(0, 1);
    o.split.split = s;
    o.split.train_fraction = 0.4;
    o.split.val_fraction = 0.3;
    auto part = OpenLoader(o);
    if (part.ok()) total += (*part)->num_samples();
  }
  EXPECT_EQ(total, 8u);
}

TEST_F(LoaderTest, MissingFolderIsNotFound) {
  OpenOptions o = Options(0, 1);
  o.dataset = (dir_ / "nope").string();
  EXPECT_EQ(OpenLoader(o).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace medfs::loader
