// The folder-scan prefetch of the mount (ScanPrefetcher inside FileSystem)
// over the in-memory FakeClient: which files are loaded ahead, that an open
// gets exactly the content of the version it opened, and that other access
// orders cost no listing.
#include "client-fuse/scan_prefetch.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client-fuse/file_system.h"
#include "tests/client-fuse/fake_client.h"

namespace medfs::fuse {
namespace {

constexpr int kFiles = 20;

std::string Gather(const ReadResult& result) {
  std::string out;
  for (const iovec& v : result.iov) out.append(static_cast<const char*>(v.iov_base), v.iov_len);
  return out;
}

std::string Content(int file, int generation) {
  return std::string(100 << 10, static_cast<char>('a' + (file + generation) % 26)) +
         absl::StrCat("file ", file, " generation ", generation);
}

std::string Name(int file) { return absl::StrCat("slice", file < 10 ? "0" : "", file); }

class ScanPrefetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FileSystemOptions options;
    options.write.temp_dir = ::testing::TempDir();
    options.read_block_bytes = 1 << 20;
    options.read_cache_bytes = 64 << 20;
    options.scan_prefetch.files_ahead = files_ahead_;
    fs_ = std::make_unique<FileSystem>(&client_, options);
    auto dir = fs_->MkDir(client::kRootInode, "series", 0755, {0, 0});
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = dir->id();
    for (int i = 0; i < kFiles; ++i) ASSERT_NO_FATAL_FAILURE(Write(i, 0));
  }

  void Write(int file, int generation) {
    auto created = fs_->Create(dir_, Name(file), 0644, O_WRONLY | O_CREAT | O_TRUNC, {0, 0});
    ASSERT_TRUE(created.ok()) << created.status();
    const std::string data = Content(file, generation);
    ASSERT_TRUE(fs_->Write(created->second.file, 0,
                           std::as_bytes(std::span<const char>(data.data(), data.size())))
                    .ok());
    ASSERT_TRUE(fs_->Flush(created->second.file).ok());
    fs_->Release(created->second.file);
    inodes_[file] = created->first.id();
  }

  // Looks the file up (as the kernel does before an open), opens, reads
  // the whole file, releases; then waits until no listing is in flight, so
  // that what the scan prefetched next does not depend on thread timing.
  std::string ReadThrough(int file) {
    auto looked_up = fs_->Lookup(dir_, Name(file));
    EXPECT_TRUE(looked_up.ok()) << looked_up.status();
    auto opened = fs_->Open(looked_up->id(), O_RDONLY);
    EXPECT_TRUE(opened.ok()) << opened.status();
    if (!opened.ok()) return "";
    auto read = fs_->Read(opened->file, 0, 1 << 20);
    EXPECT_TRUE(read.ok()) << read.status();
    std::string data = read.ok() ? Gather(*read) : "";
    read = absl::StatusOr<ReadResult>();  // drop the holds before release
    fs_->Release(opened->file);
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (fs_->scan_prefetch_stats().tasks_in_flight > 0 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    EXPECT_EQ(fs_->scan_prefetch_stats().tasks_in_flight, 0u);
    return data;
  }

  size_t files_ahead_ = 8;
  testing::FakeClient client_;
  std::unique_ptr<FileSystem> fs_;
  uint64_t dir_ = 0;
  uint64_t inodes_[kFiles] = {};
};

TEST_F(ScanPrefetchTest, FolderReadInNameOrderIsServedFromPrefetchedFiles) {
  for (int i = 0; i < kFiles; ++i) ASSERT_EQ(ReadThrough(i), Content(i, 0)) << i;
  const ScanPrefetchStats stats = fs_->scan_prefetch_stats();
  // The first three opens make the run; every later file was loaded ahead.
  EXPECT_EQ(stats.used, static_cast<uint64_t>(kFiles - 3));
  EXPECT_EQ(stats.prefetched, stats.used);
  EXPECT_EQ(stats.dropped, 0u);
  // The folder is shorter than one listing ahead (list_ahead, 64 entries).
  EXPECT_EQ(stats.listings, 1u);
}

TEST_F(ScanPrefetchTest, FileRewrittenAfterItWasPrefetchedReadsTheNewVersion) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(ReadThrough(i), Content(i, 0));
  ASSERT_GE(fs_->scan_prefetch_stats().prefetched, 1u);  // slice03 is loaded
  ASSERT_NO_FATAL_FAILURE(Write(3, 1));
  EXPECT_EQ(ReadThrough(3), Content(3, 1));
  const ScanPrefetchStats stats = fs_->scan_prefetch_stats();
  EXPECT_EQ(stats.used, 0u);
  EXPECT_GE(stats.dropped, 1u);
  EXPECT_EQ(ReadThrough(4), Content(4, 0));  // the rest of the window serves
  EXPECT_EQ(fs_->scan_prefetch_stats().used, 1u);
}

TEST_F(ScanPrefetchTest, ReadingBackwardsListsNothingAhead) {
  for (int i = kFiles - 1; i >= 0; --i) ASSERT_EQ(ReadThrough(i), Content(i, 0)) << i;
  const ScanPrefetchStats stats = fs_->scan_prefetch_stats();
  EXPECT_EQ(stats.listings, 0u);
  EXPECT_EQ(stats.prefetched, 0u);
}

TEST_F(ScanPrefetchTest, SecondPassOverTheFolderIsPrefetchedAgain) {
  for (int i = 0; i < kFiles; ++i) ASSERT_EQ(ReadThrough(i), Content(i, 0)) << i;
  const uint64_t first_pass = fs_->scan_prefetch_stats().used;
  for (int i = 0; i < kFiles; ++i) ASSERT_EQ(ReadThrough(i), Content(i, 0)) << i;
  const ScanPrefetchStats stats = fs_->scan_prefetch_stats();
  EXPECT_EQ(stats.used, 2 * first_pass);
  EXPECT_EQ(stats.prefetched, stats.used + stats.dropped);
}

TEST_F(ScanPrefetchTest, LookupsOfPrefetchedFilesNeedNoRoundTrip) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(ReadThrough(i), Content(i, 0));
  const uint64_t before = client_.lookup_calls();
  ASSERT_EQ(ReadThrough(3), Content(3, 0));
  EXPECT_EQ(client_.lookup_calls(), before);  // answered from the listing
  auto listed = fs_->Lookup(dir_, Name(4));
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->id(), inodes_[4]);
  EXPECT_EQ(listed->size(), Content(4, 0).size());
  EXPECT_EQ(listed->extents_size(), 0);  // attributes only, as from meta
}

TEST_F(ScanPrefetchTest, NamesChangedOnThisMountAreNotAnsweredFromTheListing) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(ReadThrough(i), Content(i, 0));
  ASSERT_TRUE(fs_->Unlink(dir_, Name(3)).ok());
  EXPECT_TRUE(absl::IsNotFound(fs_->Lookup(dir_, Name(3)).status()));
  ASSERT_TRUE(fs_->Rename(dir_, Name(4), client::kRootInode, "moved", 0).ok());
  EXPECT_TRUE(absl::IsNotFound(fs_->Lookup(dir_, Name(4)).status()));
  for (int i = 5; i < 8; ++i) ASSERT_EQ(ReadThrough(i), Content(i, 0)) << i;
  const uint64_t used = fs_->scan_prefetch_stats().used;
  ASSERT_EQ(ReadThrough(8), Content(8, 0));
  ASSERT_EQ(fs_->scan_prefetch_stats().used, used + 1);  // slice09 is listed now
  // Content committed on this mount: the lookup answers the new size.
  ASSERT_NO_FATAL_FAILURE(Write(9, 7));
  auto rewritten = fs_->Lookup(dir_, Name(9));
  ASSERT_TRUE(rewritten.ok()) << rewritten.status();
  EXPECT_EQ(rewritten->size(), Content(9, 7).size());
  EXPECT_EQ(ReadThrough(9), Content(9, 7));
}

// A window of two files loaded ahead: most listed files are only listed
// while the reader is further back.
class ScanPrefetchNarrowWindowTest : public ScanPrefetchTest {
 protected:
  ScanPrefetchNarrowWindowTest() { files_ahead_ = 2; }
};

TEST_F(ScanPrefetchNarrowWindowTest, ListedFilesAreLoadedAsTheReaderComesCloser) {
  for (int i = 0; i < kFiles; ++i) ASSERT_EQ(ReadThrough(i), Content(i, 0)) << i;
  const ScanPrefetchStats stats = fs_->scan_prefetch_stats();
  EXPECT_EQ(stats.listings, 1u);  // one listing, loads in windows of two
  EXPECT_EQ(stats.used, static_cast<uint64_t>(kFiles - 3));
  EXPECT_EQ(stats.dropped, 0u);
}

TEST_F(ScanPrefetchNarrowWindowTest, ListedButNotLoadedFilesAnswerLookupsUntilChangedHere) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(ReadThrough(i), Content(i, 0));
  ASSERT_EQ(fs_->scan_prefetch_stats().listings, 1u);
  const uint64_t before = client_.lookup_calls();
  auto listed = fs_->Lookup(dir_, Name(15));  // listed, far beyond the loaded two
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->id(), inodes_[15]);
  EXPECT_EQ(listed->size(), Content(15, 0).size());
  EXPECT_EQ(client_.lookup_calls(), before);
  // Rewritten on this mount (generation 13: a longer content): the
  // listing no longer answers for it.
  ASSERT_NO_FATAL_FAILURE(Write(15, 13));
  auto rewritten = fs_->Lookup(dir_, Name(15));
  ASSERT_TRUE(rewritten.ok()) << rewritten.status();
  EXPECT_EQ(rewritten->size(), Content(15, 13).size());
  EXPECT_NE(rewritten->content_version(), listed->content_version());
  for (int i = 3; i < kFiles; ++i) {
    ASSERT_EQ(ReadThrough(i), Content(i, i == 15 ? 13 : 0)) << i;
  }
}

class ScanPrefetchOffTest : public ScanPrefetchTest {
 protected:
  ScanPrefetchOffTest() { files_ahead_ = 0; }
};

TEST_F(ScanPrefetchOffTest, ZeroFilesAheadTurnsItOff) {
  for (int i = 0; i < kFiles; ++i) ASSERT_EQ(ReadThrough(i), Content(i, 0)) << i;
  const ScanPrefetchStats stats = fs_->scan_prefetch_stats();
  EXPECT_EQ(stats.listings, 0u);
  EXPECT_EQ(stats.prefetched, 0u);
}

}  // namespace
}  // namespace medfs::fuse
