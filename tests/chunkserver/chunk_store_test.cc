#include "chunkserver/chunk_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crc32c.h"
#include "common/status.h"
#include "gtest/gtest.h"
#include "tests/testing/pattern.h"
#include "tests/chunkserver/fault_file_system.h"

namespace medfs::chunkserver {
namespace {

constexpr uint64_t kBlock = kChunkBlockBytes;

using ::medfs::testing::Pattern;

// Flips one bit of the file at `path`, `offset` bytes in.
void FlipBit(const std::string& path, uint64_t offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  char c = 0;
  ASSERT_EQ(::pread(fd, &c, 1, offset), 1);
  c ^= 0x10;
  ASSERT_EQ(::pwrite(fd, &c, 1, offset), 1);
  ::close(fd);
}

class ChunkStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string base = std::filesystem::temp_directory_path() /
                       "medfs-chunk-store-XXXXXX";
    ASSERT_NE(::mkdtemp(base.data()), nullptr);
    root_ = base;
    options_.data_dirs = {root_ + "/a"};
    options_.max_chunk_bytes = 16ull << 20;
    options_.file_system = &fs_;
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(root_);
  }

  void Open() {
    store_.reset();
    auto store = ChunkStore::Open(options_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // Writes `data` as chunk `id` in pieces of `piece` bytes and seals it.
  absl::Status WriteChunk(uint64_t id, const std::string& data,
                          size_t piece = 4 << 20) {
    RETURN_IF_ERROR(store_->Create(id));
    for (size_t at = 0; at < data.size(); at += piece) {
      size_t n = std::min(piece, data.size() - at);
      RETURN_IF_ERROR(store_->Append(id, at, data.data() + at, n).status());
    }
    return store_->Seal(id, data.size()).status();
  }

  absl::StatusOr<std::string> ReadRange(uint64_t id, uint64_t offset,
                                        uint64_t length) {
    std::vector<char> buffer(ChunkStore::CoveringBytes(offset, length) + 1);
    ASSIGN_OR_RETURN(const char* p, store_->Read(id, offset, length,
                                                 buffer.data(), buffer.size()));
    return std::string(p, length);
  }

  std::string ChunkFile(const std::string& dir, uint64_t id) {
    return absl::StrFormat("%s/chunks/%02x/%016x", dir, id % 256, id);
  }

  std::string root_;
  testing::FaultFileSystem fs_;
  ChunkStoreOptions options_;
  std::unique_ptr<ChunkStore> store_;
};

TEST_F(ChunkStoreTest, WriteSealReadRoundTrip) {
  Open();
  struct Case {
    size_t length;
    size_t piece;
  };
  const Case cases[] = {{0, kBlock},          {1, kBlock},
                        {kBlock, kBlock},     {kBlock + 1, kBlock},
                        {3 * kBlock + 17, kBlock}, {(9 << 20) + 5, 4 << 20},
                        {5 * kBlock, 2 * kBlock}};
  uint64_t id = 100;
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("length ", c.length, " piece ", c.piece));
    std::string data = Pattern(c.length, id);
    ASSERT_TRUE(WriteChunk(id, data, c.piece).ok());
    ChunkState state = store_->Stat(id);
    EXPECT_TRUE(state.exists);
    EXPECT_TRUE(state.sealed);
    EXPECT_EQ(state.length, c.length);
    EXPECT_EQ(state.crc32c, Crc32c(data.data(), data.size()));
    auto back = ReadRange(id, 0, c.length);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(*back == data);
    ++id;
  }
  // The index survives a restart.
  Open();
  EXPECT_EQ(store_->ListChunks().size(), std::size(cases));
  auto back = ReadRange(104, 0, 3 * kBlock + 17);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == Pattern(3 * kBlock + 17, 104));
}

TEST_F(ChunkStoreTest, RangesCrossingBlockBoundaries) {
  Open();
  const std::string data = Pattern(5 * kBlock + 1000, 7);
  ASSERT_TRUE(WriteChunk(7, data, 2 * kBlock).ok());
  struct Case {
    uint64_t offset;
    uint64_t length;
  };
  const Case cases[] = {{0, 1},
                        {kBlock - 1, 2},
                        {kBlock - 1, kBlock + 2},
                        {kBlock, kBlock},
                        {3, 4 * kBlock},
                        {5 * kBlock, 1000},
                        {5 * kBlock + 999, 1},
                        {4 * kBlock + 5, kBlock + 995},
                        {0, data.size()},
                        {data.size(), 0}};
  for (const Case& c : cases) {
    auto back = ReadRange(7, c.offset, c.length);
    ASSERT_TRUE(back.ok()) << c.offset << "+" << c.length << ": "
                           << back.status();
    EXPECT_TRUE(*back == data.substr(c.offset, c.length))
        << c.offset << "+" << c.length;
  }
}

TEST_F(ChunkStoreTest, ErrorsHaveTheRightCodes) {
  Open();
  ASSERT_TRUE(WriteChunk(1, Pattern(1000, 1)).ok());
  ASSERT_TRUE(store_->Create(2).ok());
  std::vector<char> buffer(4 * kBlock);
  const std::string block = Pattern(kBlock, 2);
  struct Case {
    const char* name;
    absl::Status status;
    absl::StatusCode code;
  };
  const Case cases[] = {
      {"read past end", store_->Read(1, 900, 101, buffer.data(), buffer.size()).status(),
       absl::StatusCode::kOutOfRange},
      {"read unknown", store_->Read(9, 0, 1, buffer.data(), buffer.size()).status(),
       absl::StatusCode::kNotFound},
      {"read unsealed", store_->Read(2, 0, 1, buffer.data(), buffer.size()).status(),
       absl::StatusCode::kFailedPrecondition},
      {"create sealed", store_->Create(1), absl::StatusCode::kAlreadyExists},
      {"create pending", store_->Create(2), absl::StatusCode::kAlreadyExists},
      {"append unknown", store_->Append(9, 0, block.data(), kBlock).status(),
       absl::StatusCode::kNotFound},
      {"append sealed", store_->Append(1, 0, block.data(), kBlock).status(),
       absl::StatusCode::kFailedPrecondition},
      {"out of order", store_->Append(2, kBlock, block.data(), kBlock).status(),
       absl::StatusCode::kFailedPrecondition},
      {"seal short", store_->Seal(2, 5).status(),
       absl::StatusCode::kFailedPrecondition},
      {"delete unknown", store_->Delete(9), absl::StatusCode::kNotFound},
      {"abort sealed", store_->Abort(1), absl::StatusCode::kFailedPrecondition},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.code(), c.code) << c.name << ": " << c.status;
  }
  EXPECT_EQ(store_->Read(9, 0, 1, buffer.data(), buffer.size()).status().message(),
            "chunk 9: not on this server");
}

TEST_F(ChunkStoreTest, PiecePastMaxChunkBytesIsRejected) {
  options_.max_chunk_bytes = 2 * kBlock;
  Open();
  ASSERT_TRUE(store_->Create(3).ok());
  const std::string data = Pattern(3 * kBlock, 3);
  EXPECT_EQ(store_->Append(3, 0, data.data(), data.size()).status().code(),
            absl::StatusCode::kInvalidArgument);
  // The chunk is still writable within the limit.
  EXPECT_TRUE(store_->Append(3, 0, data.data(), 2 * kBlock).ok());
}

TEST_F(ChunkStoreTest, FlippedBitIsDataLossNamingTheBlock) {
  Open();
  const std::string data = Pattern(4 * kBlock, 5);
  ASSERT_TRUE(WriteChunk(5, data).ok());
  FlipBit(ChunkFile(root_ + "/a", 5), kChunkHeaderBytes + 2 * kBlock + 77);
  auto bad = ReadRange(5, 2 * kBlock + 100, 10);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(bad.status().message(), absl::StrCat("chunk 5 block 2 on ", root_,
                                                 "/a: checksum mismatch"));
  EXPECT_EQ(ReadRange(5, kBlock, 2 * kBlock).status().code(),
            absl::StatusCode::kDataLoss);
  // Blocks that are intact still read.
  auto good = ReadRange(5, 0, 2 * kBlock);
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_TRUE(*good == data.substr(0, 2 * kBlock));
}

TEST_F(ChunkStoreTest, HeaderCorruptionIsDetected) {
  Open();
  ASSERT_TRUE(WriteChunk(6, Pattern(kBlock, 6)).ok());
  ASSERT_TRUE(WriteChunk(8, Pattern(kBlock, 8)).ok());
  FlipBit(ChunkFile(root_ + "/a", 6), 24);  // the length field
  // Not yet open: the first read parses the header and refuses it.
  EXPECT_EQ(ReadRange(6, 0, 10).status().code(), absl::StatusCode::kDataLoss);
  // After a restart the chunk is left out of the index; others stay.
  Open();
  EXPECT_FALSE(store_->Stat(6).exists);
  EXPECT_TRUE(store_->Stat(8).exists);
}

// Pieces from page-aligned buffers (as the data service's pooled buffers
// are) go to the disk with direct I/O where the file system allows it; a
// last piece that is not a multiple of the alignment is padded on disk and
// the padding cut off at seal, so the file has exactly header + length.
TEST_F(ChunkStoreTest, AlignedPiecesAndUnalignedTailsRoundTrip) {
  Open();
  const size_t lengths[] = {1, kDirectIoAlignment, 3 * kBlock + 100,
                            (4 << 20) + kDirectIoAlignment - 1, 2 << 20};
  constexpr size_t kPiece = 1 << 20;
  uint64_t id = 500;
  for (size_t length : lengths) {
    SCOPED_TRACE(absl::StrCat("length ", length));
    const std::string data = Pattern(length, id);
    const size_t padded = (length + kDirectIoAlignment - 1) /
                          kDirectIoAlignment * kDirectIoAlignment;
    std::unique_ptr<char, decltype(&std::free)> aligned(
        static_cast<char*>(std::aligned_alloc(kDirectIoAlignment, padded)),
        &std::free);
    std::memcpy(aligned.get(), data.data(), length);
    ASSERT_TRUE(store_->Create(id).ok());
    for (size_t at = 0; at < length; at += kPiece) {
      const size_t n = std::min(kPiece, length - at);
      ASSERT_TRUE(store_->Append(id, at, aligned.get() + at, n).ok());
    }
    auto sealed = store_->Seal(id, length);
    ASSERT_TRUE(sealed.ok()) << sealed.status();
    EXPECT_EQ(sealed->crc32c, Crc32c(data.data(), data.size()));
    EXPECT_EQ(std::filesystem::file_size(ChunkFile(root_ + "/a", id)),
              kChunkHeaderBytes + length);
    auto back = ReadRange(id, 0, length);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(*back == data);
    ++id;
  }
  Open();  // the start-up scan checks every file's size against its header
  EXPECT_EQ(store_->ListChunks().size(), std::size(lengths));
  auto back = ReadRange(502, 0, 3 * kBlock + 100);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == Pattern(3 * kBlock + 100, 502));
}

// A crash after an unaligned (padded) last piece but before the seal
// leaves only the part file, which the next start removes.
TEST_F(ChunkStoreTest, CrashAfterPaddedTailLeavesNoVisibleChunk) {
  Open();
  const std::string data = Pattern(kBlock + 10, 11);
  ASSERT_TRUE(store_->Create(11).ok());
  ASSERT_TRUE(store_->Append(11, 0, data.data(), data.size()).ok());
  Open();
  EXPECT_FALSE(store_->Stat(11).exists);
  EXPECT_TRUE(std::filesystem::is_empty(root_ + "/a/tmp"));
  EXPECT_FALSE(std::filesystem::exists(ChunkFile(root_ + "/a", 11)));
}

TEST_F(ChunkStoreTest, CrashMidWriteLeavesNoVisibleChunk) {
  Open();
  const std::string data = Pattern(2 * kBlock, 9);
  ASSERT_TRUE(store_->Create(9).ok());
  ASSERT_TRUE(store_->Append(9, 0, data.data(), data.size()).ok());
  EXPECT_TRUE(std::filesystem::exists(root_ + "/a/tmp/0000000000000009.part"));
  Open();  // the old store goes away without sealing: a crash
  EXPECT_FALSE(store_->Stat(9).exists);
  EXPECT_TRUE(std::filesystem::is_empty(root_ + "/a/tmp"));
  std::vector<char> buffer(kBlock);
  EXPECT_EQ(store_->Read(9, 0, 1, buffer.data(), buffer.size()).status().code(),
            absl::StatusCode::kNotFound);
  // The id can be written afresh.
  EXPECT_TRUE(WriteChunk(9, data).ok());
}

TEST_F(ChunkStoreTest, DiskFullAbandonsOnlyTheChunkBeingWritten) {
  struct Case {
    const char* name;
    int error;
    bool at_seal;
  };
  const Case cases[] = {{"ENOSPC write", ENOSPC, false},
                        {"EDQUOT write", EDQUOT, false},
                        {"ENOSPC sync", ENOSPC, true}};
  Open();
  const std::string intact = Pattern(3 * kBlock, 1);
  ASSERT_TRUE(WriteChunk(1, intact).ok());
  uint64_t id = 20;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string data = Pattern(2 * kBlock, id);
    ASSERT_TRUE(store_->Create(id).ok());
    if (c.at_seal) {
      ASSERT_TRUE(store_->Append(id, 0, data.data(), data.size()).ok());
      fs_.FailSyncs(".part", c.error);
    } else {
      fs_.FailWrites(".part", c.error);
    }
    absl::Status status =
        c.at_seal ? store_->Seal(id, data.size()).status()
                  : store_->Append(id, 0, data.data(), data.size()).status();
    fs_.FailWrites("", 0);
    fs_.FailSyncs("", 0);
    EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
    EXPECT_NE(status.message().find(root_ + "/a"), std::string::npos)
        << status;
    EXPECT_FALSE(store_->Stat(id).exists);
    EXPECT_TRUE(std::filesystem::is_empty(root_ + "/a/tmp"));
    ++id;
  }
  auto back = ReadRange(1, 0, intact.size());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == intact);
}

TEST_F(ChunkStoreTest, EioOnWriteAbandonsTheChunk) {
  Open();
  ASSERT_TRUE(store_->Create(4).ok());
  fs_.FailWrites(".part", EIO);
  const std::string data = Pattern(kBlock, 4);
  EXPECT_EQ(store_->Append(4, 0, data.data(), data.size()).status().code(),
            absl::StatusCode::kDataLoss);
  fs_.FailWrites("", 0);
  EXPECT_FALSE(store_->Stat(4).exists);
}

TEST_F(ChunkStoreTest, FdCacheBoundIsRespected) {
  options_.max_open_chunks = 3;
  Open();
  for (uint64_t id = 1; id <= 10; ++id) {
    ASSERT_TRUE(WriteChunk(id, Pattern(1000, id)).ok());
  }
  for (int round = 0; round < 2; ++round) {
    for (uint64_t id = 1; id <= 10; ++id) {
      auto back = ReadRange(id, 0, 1000);
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_TRUE(*back == Pattern(1000, id));
      EXPECT_LE(store_->open_chunk_count(), 3u);
      EXPECT_LE(fs_.open_files(), 3);
    }
  }
  EXPECT_EQ(store_->open_chunk_count(), 3u);
}

TEST_F(ChunkStoreTest, NewChunksGoToTheFolderWithMostFreeSpace) {
  options_.data_dirs = {root_ + "/a", root_ + "/b"};
  Open();
  fs_.SetFreeBytes("/a", options_.max_chunk_bytes);  // b has the real disk
  ASSERT_TRUE(WriteChunk(30, Pattern(100, 30)).ok());
  EXPECT_TRUE(std::filesystem::exists(ChunkFile(root_ + "/b", 30)));
  fs_.SetFreeBytes(root_, options_.max_chunk_bytes - 1);  // both nearly full
  absl::Status full = store_->Create(31);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  // A restart finds chunks on every folder.
  Open();
  EXPECT_TRUE(store_->Stat(30).sealed);
}

TEST_F(ChunkStoreTest, FoldersOnOneFileSystemCountOnce) {
  options_.data_dirs = {root_ + "/a", root_ + "/b"};
  Open();
  auto usage = store_->Usage();
  auto disk = PosixFileSystem()->Space(root_);
  ASSERT_TRUE(usage.ok() && disk.ok());
  EXPECT_EQ(usage->capacity_bytes, disk->capacity_bytes);
}

TEST_F(ChunkStoreTest, DeleteRemovesSealedAndPendingChunks) {
  Open();
  ASSERT_TRUE(WriteChunk(40, Pattern(100, 40)).ok());
  ASSERT_TRUE(ReadRange(40, 0, 100).ok());  // cached open
  ASSERT_TRUE(store_->Create(41).ok());
  EXPECT_TRUE(store_->Delete(40).ok());
  EXPECT_TRUE(store_->Delete(41).ok());
  EXPECT_FALSE(store_->Stat(40).exists);
  EXPECT_FALSE(store_->Stat(41).exists);
  EXPECT_EQ(ReadRange(40, 0, 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(ChunkFile(root_ + "/a", 40)));
  EXPECT_EQ(store_->Delete(40).code(), absl::StatusCode::kNotFound);
  auto usage = store_->Usage();
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(usage->chunk_count, 0u);
  EXPECT_GT(usage->capacity_bytes, 0u);
}

TEST_F(ChunkStoreTest, IdleWritesAreAbandoned) {
  Open();
  ASSERT_TRUE(store_->Create(50).ok());
  EXPECT_EQ(store_->AbortIdleWrites(absl::Hours(1)), 0);
  EXPECT_EQ(store_->AbortIdleWrites(absl::ZeroDuration()), 1);
  EXPECT_FALSE(store_->Stat(50).exists);
}

TEST_F(ChunkStoreTest, HealthCheck) {
  Open();
  EXPECT_TRUE(store_->CheckHealth().ok());
  fs_.FailSyncs("health.probe", EIO);
  absl::Status status = store_->CheckHealth();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find(root_ + "/a"), std::string::npos);
}

TEST_F(ChunkStoreTest, BadOptionsAreRejected) {
  options_.data_dirs.clear();
  EXPECT_EQ(ChunkStore::Open(options_).status().code(),
            absl::StatusCode::kInvalidArgument);
  options_.data_dirs = {root_ + "/a"};
  options_.max_chunk_bytes = kMaxChunkBytes + 1;
  EXPECT_EQ(ChunkStore::Open(options_).status().code(),
            absl::StatusCode::kInvalidArgument);
}


// ------------------------------------------------------- zero-copy reads

// Evicts the file at `path` from the page cache (it is clean: sealed
// chunks are synced).
void DropFromPageCache(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
  ::close(fd);
}

TEST(MappingArenaTest, SlotsAreReusedAndMappingsShowTheFile) {
  auto arena = MappingArena::Reserve(3 << 20, 2);
  ASSERT_TRUE(arena.ok()) << arena.status();
  EXPECT_EQ((*arena)->slot_bytes(), 4u << 20) << "rounded up to 2 MiB";
  EXPECT_EQ((*arena)->size(), 8u << 20);
  const std::string path = std::filesystem::temp_directory_path() /
                           absl::StrCat("medfs-arena-", ::getpid());
  const std::string data = Pattern(1 << 20, 9);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, data.data(), data.size(), 0), ssize_t(data.size()));
  {
    auto first = (*arena)->Map(fd, data.size(), path.c_str());
    auto second = (*arena)->Map(fd, data.size(), path.c_str());
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_TRUE(second.ok()) << second.status();
    EXPECT_NE((*first)->data(), (*second)->data());
    EXPECT_EQ((*arena)->mapped_count(), 2u);
    auto third = (*arena)->Map(fd, data.size(), path.c_str());
    EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ((*arena)->Map(fd, 5u << 20, path.c_str()).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(std::string((*first)->data(), data.size()) == data);
    EXPECT_TRUE((*first)->Resident(0, data.size())) << "just written";
    (*first)->DropPages(0, data.size());
    EXPECT_TRUE(std::string((*first)->data(), data.size()) == data)
        << "the page cache keeps dropped pages";
  }
  EXPECT_EQ((*arena)->mapped_count(), 0u);
  auto again = (*arena)->Map(fd, 10, path.c_str());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(std::string((*again)->data(), 10) == data.substr(0, 10));
  again->reset();
  ::close(fd);
  ::unlink(path.c_str());
}

TEST(MappingArenaTest, ReservationErrorsNameTheSize) {
  auto huge = MappingArena::Reserve(size_t{1} << 40, size_t{1} << 20);  // 2^60 bytes
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(huge.status().message(), "reserving 1152921504606846976 bytes"))
      << huge.status();
  EXPECT_EQ(MappingArena::Reserve(0, 4).status().code(), absl::StatusCode::kInvalidArgument);
}

class MappedChunkStoreTest : public ChunkStoreTest {
 protected:
  void OpenWithArena(size_t slots) {
    auto arena = MappingArena::Reserve(
        kChunkHeaderBytes + options_.max_chunk_bytes, slots);
    ASSERT_TRUE(arena.ok()) << arena.status();
    arena_ = *std::move(arena);
    options_.mapping_arena = arena_.get();
    Open();
  }
  void TearDown() override {
    ChunkStoreTest::TearDown();  // the store, holding mappings, goes first
    arena_.reset();
  }
  std::unique_ptr<MappingArena> arena_;
};

TEST_F(MappedChunkStoreTest, CachedRangesReadInPlaceVerified) {
  ASSERT_NO_FATAL_FAILURE(OpenWithArena(4));
  const std::string data = Pattern(5 * kBlock + 123, 7);
  ASSERT_TRUE(WriteChunk(7, data).ok());
  ASSERT_TRUE(ReadRange(7, 0, data.size()).ok());  // into the page cache
  struct Case {
    uint64_t offset, length;
  };
  for (const Case& c : {Case{0, 1}, Case{kBlock - 1, 2}, Case{3 * kBlock + 5, 2 * kBlock + 118},
                        Case{0, data.size()}}) {
    SCOPED_TRACE(absl::StrCat(c.offset, "+", c.length));
    auto mapped = store_->ReadMapped(7, c.offset, c.length);
    ASSERT_TRUE(mapped.ok()) << mapped.status();
    ASSERT_TRUE(mapped->has_value());
    MappedRead& read = **mapped;
    EXPECT_GE(read.data, arena_->data());
    EXPECT_LE(read.data + c.length, arena_->data() + arena_->size());
    EXPECT_TRUE(std::string(read.data, c.length) == data.substr(c.offset, c.length));
    read.Release();
  }
  EXPECT_EQ(arena_->mapped_count(), 1u) << "one mapping per open chunk";
  EXPECT_EQ(store_->ReadMapped(7, data.size(), 1).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(store_->ReadMapped(99, 0, 1).status().code(), absl::StatusCode::kNotFound);
  FlipBit(ChunkFile(root_ + "/a", 7), kChunkHeaderBytes + 4 * kBlock + 9);
  auto bad = store_->ReadMapped(7, 4 * kBlock, 10);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss) << bad.status();
  EXPECT_EQ(bad.status().message(), absl::StrCat("chunk 7 block 4 on ", root_,
                                                 "/a: checksum mismatch"));
}

TEST_F(MappedChunkStoreTest, UncachedPagesOrNoFreeSlotMeanCopies) {
  ASSERT_NO_FATAL_FAILURE(OpenWithArena(1));
  const std::string data = Pattern(3 * kBlock, 8);
  ASSERT_TRUE(WriteChunk(8, data).ok());
  ASSERT_TRUE(WriteChunk(9, data).ok());
  ASSERT_NO_FATAL_FAILURE(DropFromPageCache(ChunkFile(root_ + "/a", 8)));
  auto uncached = store_->ReadMapped(8, kBlock, 10);
  ASSERT_TRUE(uncached.ok()) << uncached.status();
  EXPECT_FALSE(uncached->has_value()) << "would read the disk through a mapping";
  ASSERT_TRUE(ReadRange(8, 0, data.size()).ok());  // caches it
  auto cached = store_->ReadMapped(8, kBlock, 10);
  ASSERT_TRUE(cached.ok()) << cached.status();
  ASSERT_TRUE(cached->has_value());
  (*cached)->Release();
  // kOnlyIfMapped never opens or maps: chunk 9 is not open yet.
  auto only_if_mapped = store_->ReadMapped(9, 0, 10, ChunkStore::MapMode::kOnlyIfMapped);
  ASSERT_TRUE(only_if_mapped.ok()) << only_if_mapped.status();
  EXPECT_FALSE(only_if_mapped->has_value());
  EXPECT_EQ(store_->open_chunk_count(), 1u);
  auto mapped_already = store_->ReadMapped(8, 0, 10, ChunkStore::MapMode::kOnlyIfMapped);
  ASSERT_TRUE(mapped_already.ok()) << mapped_already.status();
  ASSERT_TRUE(mapped_already->has_value());
  EXPECT_TRUE(std::string((*mapped_already)->data, 10) == data.substr(0, 10));
  (*mapped_already)->Release();
  // Chunk 8's open file holds the only slot: chunk 9 reads with copies.
  ASSERT_TRUE(ReadRange(9, 0, data.size()).ok());
  auto no_slot = store_->ReadMapped(9, 0, 10);
  ASSERT_TRUE(no_slot.ok()) << no_slot.status();
  EXPECT_FALSE(no_slot->has_value());
  auto copied = ReadRange(9, 0, 10);
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_TRUE(*copied == data.substr(0, 10));
}

// Pages of [offset, offset+length) of the file at `path` now in the page cache.
size_t CachedPages(const std::string& path, uint64_t offset, uint64_t length) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return 0;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t first = offset / page * page;
  const size_t span = offset + length - first;
  void* map = ::mmap(nullptr, span, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(first));
  ::close(fd);
  if (map == MAP_FAILED) return 0;
  std::vector<unsigned char> resident((span + page - 1) / page);
  size_t cached = 0;
  if (::mincore(map, span, resident.data()) == 0) {
    for (unsigned char r : resident) cached += r & 1;
  }
  ::munmap(map, span);
  return cached;
}

// For a reader that caches the bytes itself, blocks not in the page cache
// are read around it (the cache stays without them) and verified like any
// other; cached blocks and readers without a cache of their own read
// through the page cache.
TEST_F(MappedChunkStoreTest, ReadsForCachingReadersGoAroundThePageCache) {
  ASSERT_NO_FATAL_FAILURE(OpenWithArena(4));
  const std::string data = Pattern(5 * kBlock + 123, 12);  // ends mid-page
  ASSERT_TRUE(WriteChunk(12, data).ok());
  const std::string path = ChunkFile(root_ + "/a", 12);
  ASSERT_NO_FATAL_FAILURE(DropFromPageCache(path));
  ASSERT_EQ(CachedPages(path, kChunkHeaderBytes, data.size()), 0u);
  // Aligned buffers, as the data service's bounce buffers are.
  auto read_around = [&](uint64_t offset, uint64_t length, bool* around) {
    const size_t bytes = ChunkStore::CoveringBytes(offset, length) + kDirectIoAlignment;
    void* buffer = std::aligned_alloc(kDirectIoAlignment, bytes);
    auto read = store_->Read(12, offset, length, static_cast<char*>(buffer), bytes,
                             ChunkStore::Caching::kBypassWhenNotCached, around);
    absl::StatusOr<std::string> out =
        read.ok() ? absl::StatusOr<std::string>(std::string(*read, length)) : read.status();
    std::free(buffer);
    return out;
  };
  struct Case {
    uint64_t offset, length;
  };
  // Opening the chunk reads its header through the page cache, and the
  // kernel's read-ahead of that may bring the first data pages along:
  // whatever is cached after the first read stays all that is.
  size_t after_open = 0;
  for (const Case& c : {Case{0, data.size()}, Case{4 * kBlock + 7, kBlock + 116},
                        Case{kBlock - 1, 2}}) {
    SCOPED_TRACE(absl::StrCat(c.offset, "+", c.length));
    bool around = false;
    auto back = read_around(c.offset, c.length, &around);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(*back == data.substr(c.offset, c.length));
    EXPECT_TRUE(around);
    if (c.offset == 0) after_open = CachedPages(path, kChunkHeaderBytes, data.size());
  }
  EXPECT_EQ(CachedPages(path, kChunkHeaderBytes, data.size()), after_open);
  EXPECT_LT(after_open, data.size() / 4096 / 4);
  // A damaged block is found as on any other read.
  FlipBit(path, kChunkHeaderBytes + 2 * kBlock + 3);
  bool around = false;
  auto bad = read_around(2 * kBlock, 10, &around);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss) << bad.status();
  // A reader without a cache of its own fills the page cache; after that,
  // cached blocks are read through it for everyone.
  ASSERT_TRUE(ReadRange(12, 3 * kBlock, kBlock).ok());
  EXPECT_GT(CachedPages(path, kChunkHeaderBytes + 3 * kBlock, kBlock), 0u);
  auto cached = read_around(3 * kBlock, kBlock, &around);
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_TRUE(*cached == data.substr(3 * kBlock, kBlock));
  EXPECT_FALSE(around);
}

// A chunk file cut short behind the server's back while it is mapped: the
// cut pages leave the page cache, so the mapped read declines (touching
// them would be SIGBUS) and the copying read reports the damage.
TEST_F(MappedChunkStoreTest, FileTruncatedWhileMappedIsDataLossNotACrash) {
  ASSERT_NO_FATAL_FAILURE(OpenWithArena(2));
  const std::string data = Pattern(4 * kBlock, 11);
  ASSERT_TRUE(WriteChunk(11, data).ok());
  ASSERT_TRUE(ReadRange(11, 0, data.size()).ok());
  auto mapped = store_->ReadMapped(11, 3 * kBlock, 10);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  ASSERT_TRUE(mapped->has_value());
  (*mapped)->Release();
  ASSERT_EQ(::truncate(ChunkFile(root_ + "/a", 11).c_str(), kChunkHeaderBytes + kBlock), 0);
  auto cut = store_->ReadMapped(11, 3 * kBlock, 10);
  ASSERT_TRUE(cut.ok()) << cut.status();
  EXPECT_FALSE(cut->has_value());
  auto copied = ReadRange(11, 3 * kBlock, 10);
  EXPECT_EQ(copied.status().code(), absl::StatusCode::kDataLoss) << copied.status();
  auto intact = store_->ReadMapped(11, 0, 10);  // still in the file
  ASSERT_TRUE(intact.ok()) << intact.status();
  ASSERT_TRUE(intact->has_value());
  EXPECT_TRUE(std::string((*intact)->data, 10) == data.substr(0, 10));
  (*intact)->Release();
}

TEST_F(ChunkStoreTest, WithoutAnArenaNothingIsMapped) {
  Open();
  ASSERT_TRUE(WriteChunk(10, Pattern(100, 10)).ok());
  ASSERT_TRUE(ReadRange(10, 0, 100).ok());
  auto mapped = store_->ReadMapped(10, 0, 100);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_FALSE(mapped->has_value());
}

}  // namespace
}  // namespace medfs::chunkserver
