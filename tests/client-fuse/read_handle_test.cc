// ReadHandle over the in-memory FakeClient: sequential (readahead) and
// random reads return the file's bytes, a failed readahead load falls back
// to a direct read, and a reader keeps the version it opened.
#include "client-fuse/read_handle.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "tests/client-fuse/fake_client.h"

namespace medfs::fuse {
namespace {

using testing::FakeClient;

std::string Pattern(size_t size, uint32_t seed) {
  std::string bytes(size, '\0');
  std::mt19937 rng(seed);
  for (char& c : bytes) c = static_cast<char>(rng());
  return bytes;
}

v1::Inode MakeFile(FakeClient& client, const std::string& name, const std::string& bytes) {
  client::FileContent content;
  content.size = bytes.size();
  v1::Extent extent;
  extent.set_chunk_id(client.StoreChunk(bytes));
  extent.set_length(bytes.size());
  content.extents.push_back(extent);
  auto created = client.CreateFile(client::kRootInode, name, content, {});
  EXPECT_TRUE(created.ok());
  return *client.GetAttr(created->id(), true);
}

std::string Gather(const ReadResult& result) {
  std::string out;
  for (const iovec& v : result.iov) out.append(static_cast<const char*>(v.iov_base), v.iov_len);
  EXPECT_EQ(out.size(), result.bytes);
  return out;
}

struct ReadCase {
  std::string name;
  size_t file_bytes;
  size_t read_bytes;
  bool random_order;
  int failed_loads;  // injected kUnavailable reads
};

class ReadHandleTest : public ::testing::TestWithParam<ReadCase> {};

TEST_P(ReadHandleTest, ReturnsFileBytes) {
  const ReadCase& c = GetParam();
  FakeClient client;
  const std::string bytes = Pattern(c.file_bytes, 7);
  v1::Inode inode = MakeFile(client, "f", bytes);
  BlockPool pool(&client, 1 << 20, 16);
  ThreadPool loaders(4);
  {
    ReadHandle handle(&client, &pool, &loaders, inode, ReadaheadOptions{4 << 20, 2});
    client.FailNextReads(c.failed_loads);
    std::vector<uint64_t> offsets;
    for (uint64_t off = 0; off < c.file_bytes; off += c.read_bytes) offsets.push_back(off);
    if (c.random_order) std::shuffle(offsets.begin(), offsets.end(), std::mt19937(3));
    for (uint64_t off : offsets) {
      auto result = handle.Read(off, c.read_bytes);
      ASSERT_TRUE(result.ok()) << result.status();
      EXPECT_EQ(Gather(*result), bytes.substr(off, c.read_bytes)) << "offset " << off;
    }
    auto past_end = handle.Read(c.file_bytes + 10, 4096);
    ASSERT_TRUE(past_end.ok());
    EXPECT_EQ(past_end->bytes, 0u);
  }
  EXPECT_LE(pool.allocated_blocks(), 16u);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ReadHandleTest,
    ::testing::Values(ReadCase{"SequentialSmallReads", 9 << 20, 128 << 10, false, 0},
                      ReadCase{"SequentialReadsAcrossBlocks", 10 << 20, 1000 * 1000, false, 0},
                      ReadCase{"RandomOrder", 6 << 20, 256 << 10, true, 0},
                      ReadCase{"TinyFile", 1000, 4096, false, 0},
                      ReadCase{"FailedLoadFallsBack", 8 << 20, 1 << 20, false, 1}),
    [](const ::testing::TestParamInfo<ReadCase>& info) { return info.param.name; });

TEST(ReadHandleSnapshot, ReaderKeepsTheVersionItOpened) {
  FakeClient client;
  const std::string old_bytes = Pattern(3 << 20, 1);
  v1::Inode opened = MakeFile(client, "f", old_bytes);
  BlockPool pool(&client, 1 << 20, 8);
  ThreadPool loaders(2);
  ReadHandle handle(&client, &pool, &loaders, opened, ReadaheadOptions{});
  // A writer commits new content after the reader opened.
  const std::string new_bytes = Pattern(1 << 20, 2);
  client::FileContent content;
  content.size = new_bytes.size();
  v1::Extent extent;
  extent.set_chunk_id(client.StoreChunk(new_bytes));
  extent.set_length(new_bytes.size());
  content.extents.push_back(extent);
  ASSERT_TRUE(client.CommitFile(opened.id(), content, 0).ok());
  std::string got;
  for (uint64_t off = 0;; off += 1 << 20) {
    auto result = handle.Read(off, 1 << 20);
    ASSERT_TRUE(result.ok());
    if (result->bytes == 0) break;
    got += Gather(*result);
  }
  EXPECT_EQ(got, old_bytes);
}

}  // namespace
}  // namespace medfs::fuse
