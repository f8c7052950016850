#include "client/read_plan.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace medfs::client {
namespace {

constexpr uint32_t kPiece = 4u << 20;
constexpr uint64_t kMiB = 1ull << 20;

google::protobuf::RepeatedPtrField<v1::Extent> Extents(
    std::vector<std::vector<uint64_t>> rows) {  // {file_off, chunk, chunk_off, len}
  google::protobuf::RepeatedPtrField<v1::Extent> out;
  for (const auto& r : rows) {
    v1::Extent* e = out.Add();
    e->set_file_offset(r[0]);
    e->set_chunk_id(r[1]);
    e->set_chunk_offset(r[2]);
    e->set_length(r[3]);
  }
  return out;
}

struct PlanCase {
  std::string name;
  std::vector<std::vector<uint64_t>> extents;
  uint64_t size, offset, length;
  uint64_t want_length;
  std::vector<ReadPiece> want_pieces;
  std::vector<ZeroRange> want_zeros;
};

class PlanReadTest : public ::testing::TestWithParam<PlanCase> {};

TEST_P(PlanReadTest, Plans) {
  const PlanCase& c = GetParam();
  absl::StatusOr<ReadPlan> plan =
      PlanRead(Extents(c.extents), c.size, c.offset, c.length, kPiece);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->length, c.want_length);
  EXPECT_EQ(plan->pieces, c.want_pieces);
  EXPECT_EQ(plan->zeros, c.want_zeros);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PlanReadTest,
    ::testing::Values(
        PlanCase{"EmptyFile", {}, 0, 0, 100, 0, {}, {}},
        PlanCase{"ReadAtEof", {{0, 7, 0, 10}}, 10, 10, 5, 0, {}, {}},
        PlanCase{"PastEof", {{0, 7, 0, 10}}, 10, 50, 5, 0, {}, {}},
        PlanCase{"SmallWhole", {{0, 7, 0, 10}}, 10, 0, 10, 10,
                 {{7, 0, 10, 0}}, {}},
        PlanCase{"ShortAtEnd", {{0, 7, 0, 10}}, 10, 4, 100, 6,
                 {{7, 4, 6, 0}}, {}},
        PlanCase{"SplitAtPieceBoundaryInChunk",
                 {{0, 7, 0, 10 * kMiB}}, 10 * kMiB, 0, 10 * kMiB, 10 * kMiB,
                 {{7, 0, kPiece, 0},
                  {7, 4 * kMiB, kPiece, 4 * kMiB},
                  {7, 8 * kMiB, 2 * kMiB, 8 * kMiB}},
                 {}},
        PlanCase{"UnalignedStartStaysAligned",
                 {{0, 7, 0, 10 * kMiB}}, 10 * kMiB, 3 * kMiB, 3 * kMiB,
                 3 * kMiB,
                 {{7, 3 * kMiB, static_cast<uint32_t>(kMiB), 0},
                  {7, 4 * kMiB, static_cast<uint32_t>(2 * kMiB), kMiB}},
                 {}},
        PlanCase{"ChunkBoundary",
                 {{0, 1, 0, 8 * kMiB}, {8 * kMiB, 2, 0, 8 * kMiB}},
                 16 * kMiB, 7 * kMiB, 2 * kMiB, 2 * kMiB,
                 {{1, 7 * kMiB, static_cast<uint32_t>(kMiB), 0},
                  {2, 0, static_cast<uint32_t>(kMiB), kMiB}},
                 {}},
        PlanCase{"ExtentAtChunkOffset", {{0, 9, 12 * kMiB, 100}}, 100, 10,
                 20, 20, {{9, 12 * kMiB + 10, 20, 0}}, {}},
        PlanCase{"HoleInMiddle",
                 {{0, 1, 0, 100}, {300, 2, 0, 100}}, 400, 50, 300, 300,
                 {{1, 50, 50, 0}, {2, 0, 50, 250}},
                 {{50, 200}}},
        PlanCase{"HoleAtStartAndTail", {{100, 1, 0, 100}}, 500, 0, 500, 500,
                 {{1, 0, 100, 100}},
                 {{0, 100}, {200, 300}}},
        PlanCase{"AllHole", {}, 1000, 10, 20, 20, {}, {{0, 20}}},
        PlanCase{"ReadInsideHole", {{0, 1, 0, 10}, {100, 2, 0, 10}}, 110,
                 20, 30, 30, {}, {{0, 30}}}),
    [](const ::testing::TestParamInfo<PlanCase>& info) {
      return info.param.name;
    });

TEST(PlanReadErrors, RejectsOverlappingExtents) {
  absl::StatusOr<ReadPlan> plan =
      PlanRead(Extents({{0, 1, 0, 100}, {50, 2, 0, 100}}), 150, 0, 150,
               kPiece);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PlanReadErrors, RejectsZeroPieceSize) {
  EXPECT_EQ(PlanRead(Extents({}), 10, 0, 10, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace medfs::client
