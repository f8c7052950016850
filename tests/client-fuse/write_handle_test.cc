// WriteHandle over the in-memory FakeClient: every case replays a list of
// writes and truncations against the handle and against a plain string
// model, then commits and compares the committed bytes.
#include "client-fuse/write_handle.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/client-fuse/fake_client.h"

namespace medfs::fuse {
namespace {

using testing::FakeClient;

struct Op {
  enum Kind { kWrite, kTruncate, kRead } kind;
  uint64_t offset;  // write/read offset, or the new size
  std::string data;  // bytes to write; for kRead the length is data.size()
};

struct Case {
  std::string name;
  std::string initial;  // committed content before the handle opens
  bool truncate;        // O_TRUNC
  std::vector<Op> ops;
  int expected_commits;  // CommitFile calls for one Commit()
};

std::span<const std::byte> Bytes(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

void Apply(const Op& op, std::string& model) {
  if (op.kind == Op::kWrite) {
    if (model.size() < op.offset + op.data.size()) model.resize(op.offset + op.data.size(), '\0');
    model.replace(op.offset, op.data.size(), op.data);
  } else if (op.kind == Op::kTruncate) {
    model.resize(op.offset, '\0');
  }
}

class WriteHandleTest : public ::testing::TestWithParam<Case> {};

TEST_P(WriteHandleTest, CommittedContentMatchesModel) {
  const Case& c = GetParam();
  FakeClient client;
  client::FileContent initial;
  if (!c.initial.empty()) {
    auto writer = client.NewWriter();
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(Bytes(c.initial)).ok());
    auto finished = (*writer)->Finish();
    ASSERT_TRUE(finished.ok());
    initial = *finished;
  }
  auto created = client.CreateFile(client::kRootInode, "f", initial, {});
  ASSERT_TRUE(created.ok()) << created.status();
  auto base = client.GetAttr(created->id(), true);
  ASSERT_TRUE(base.ok());

  WriteHandleOptions options;
  options.temp_dir = ::testing::TempDir();
  options.copy_bytes = 7;  // odd piece size: exercises piece boundaries
  WriteHandle handle(&client, *base, c.truncate, options);
  std::string model = c.truncate ? "" : c.initial;
  for (const Op& op : c.ops) {
    if (op.kind == Op::kWrite) {
      ASSERT_TRUE(handle.Write(op.offset, Bytes(op.data)).ok());
    } else if (op.kind == Op::kTruncate) {
      ASSERT_TRUE(handle.Truncate(op.offset).ok());
    } else {
      std::string got(op.data.size(), '?');
      auto n = handle.Read(op.offset, std::as_writable_bytes(std::span<char>(got.data(), got.size())));
      ASSERT_TRUE(n.ok()) << n.status();
      got.resize(*n);
      const std::string want = op.offset >= model.size() ? "" : model.substr(op.offset, op.data.size());
      EXPECT_EQ(got, want) << "read at " << op.offset;
    }
    Apply(op, model);
    EXPECT_EQ(handle.size(), model.size());
  }
  auto committed = handle.Commit();
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_EQ(client.commit_calls(), static_cast<uint64_t>(c.expected_commits));
  EXPECT_EQ(client.Content(created->id()), model);
  // A second commit with nothing new does nothing.
  auto again = handle.Commit();
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
}

INSTANTIATE_TEST_SUITE_P(
    Cases, WriteHandleTest,
    ::testing::Values(
        Case{"SequentialNewFile", "", false,
             {{Op::kWrite, 0, "hello "}, {Op::kWrite, 6, "world"}}, 1},
        Case{"NothingWrittenCommitsNothing", "keep", false, {}, 0},
        Case{"TruncateOnOpenCommitsEmpty", "old content", true, {}, 1},
        Case{"TruncateOnOpenThenWrite", "old content", true, {{Op::kWrite, 0, "new"}}, 1},
        Case{"OverwriteMiddleKeepsRest", "hello world", false, {{Op::kWrite, 0, "J"}}, 1},
        Case{"AppendToExisting", "abc", false, {{Op::kWrite, 3, "def"}}, 1},
        Case{"SparseWritePastEnd", "", false,
             {{Op::kWrite, 20, "tail"}, {Op::kWrite, 0, "head"}}, 1},
        Case{"OutOfOrderAfterStreaming", "", false,
             {{Op::kWrite, 0, "0123456789"}, {Op::kWrite, 3, "xyz"}, {Op::kWrite, 10, "!"}}, 1},
        Case{"OverlappingWritesMerge", "", false,
             {{Op::kWrite, 5, "aaaa"}, {Op::kWrite, 7, "bbbb"}, {Op::kWrite, 3, "cc"}}, 1},
        Case{"ReadBackWhileStreaming", "", false,
             {{Op::kWrite, 0, "abcdef"}, {Op::kRead, 2, "xxx"}, {Op::kWrite, 6, "gh"},
              {Op::kRead, 0, "xxxxxxxxxx"}},
             1},
        Case{"ShrinkThenExtend", "0123456789", false,
             {{Op::kTruncate, 4, ""}, {Op::kTruncate, 8, ""}, {Op::kRead, 0, "xxxxxxxx"}}, 1},
        Case{"TruncateToZeroRestartsStream", "", false,
             {{Op::kWrite, 0, "first"}, {Op::kTruncate, 0, ""}, {Op::kWrite, 0, "second"}}, 1},
        Case{"CutWrittenRange", "", false,
             {{Op::kWrite, 2, "abcdef"}, {Op::kTruncate, 5, ""}, {Op::kWrite, 10, "z"}}, 1}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(WriteHandleCommit, RemovedFileReportsNotFound) {
  FakeClient client;
  auto created = client.CreateFile(client::kRootInode, "gone", {}, {});
  ASSERT_TRUE(created.ok());
  WriteHandle handle(&client, *created, false, {::testing::TempDir(), 4096});
  ASSERT_TRUE(handle.Write(0, Bytes("data")).ok());
  ASSERT_TRUE(client.Unlink(client::kRootInode, "gone").ok());
  EXPECT_EQ(handle.Commit().status().code(), absl::StatusCode::kNotFound);
}

TEST(WriteHandleCommit, TimesSetWhileOpenSurviveCommit) {
  FakeClient client;
  auto created = client.CreateFile(client::kRootInode, "t", {}, {});
  ASSERT_TRUE(created.ok());
  WriteHandle handle(&client, *created, false, {::testing::TempDir(), 4096});
  ASSERT_TRUE(handle.Write(0, Bytes("data")).ok());
  handle.SetTimesAfterCommit(std::nullopt, int64_t{1234567890} * 1000000000);
  auto committed = handle.Commit();
  ASSERT_TRUE(committed.ok());
  ASSERT_TRUE(committed->has_value());
  EXPECT_EQ((*committed)->mtime_ns(), int64_t{1234567890} * 1000000000);
}

}  // namespace
}  // namespace medfs::fuse
