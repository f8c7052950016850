// FileSystem over the in-memory FakeClient, without FUSE: create, write,
// commit on flush, reopen and read, the writer's size overlay.
#include "client-fuse/file_system.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/client-fuse/fake_client.h"

namespace medfs::fuse {
namespace {

std::string Gather(const ReadResult& result) {
  std::string out;
  for (const iovec& v : result.iov) out.append(static_cast<const char*>(v.iov_base), v.iov_len);
  return out;
}

TEST(FileSystemTest, CreateWriteFlushReopenRead) {
  testing::FakeClient client;
  FileSystemOptions options;
  options.write.temp_dir = ::testing::TempDir();
  options.read_cache_bytes = 16 << 20;
  FileSystem fs(&client, options);
  auto created = fs.Create(client::kRootInode, "f", 0644, O_WRONLY | O_CREAT | O_TRUNC, {0, 0});
  ASSERT_TRUE(created.ok()) << created.status();
  OpenFile* file = created->second.file;
  const std::string data(3 << 20, 'q');
  ASSERT_TRUE(fs.Write(file, 0, std::as_bytes(std::span<const char>(data.data(), data.size()))).ok());
  auto attr = fs.GetAttr(created->first.id(), file);
  ASSERT_TRUE(attr.ok());
  EXPECT_EQ(attr->size(), data.size());
  auto flushed = fs.Flush(file);
  ASSERT_TRUE(flushed.ok()) << flushed.status();
  EXPECT_TRUE(*flushed);
  EXPECT_FALSE(fs.Release(file));
  auto opened = fs.Open(created->first.id(), O_RDONLY);
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto read = fs.Read(opened->file, 0, 1 << 20);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(Gather(*read), data.substr(0, 1 << 20));
  fs.Release(opened->file);
}

}  // namespace
}  // namespace medfs::fuse
