// End-to-end tests of medfs-mount on a real cluster (medfs-meta + three
// medfs-chunkservers, replication 2) with real tools: cp -r, diff -r,
// dcmdump, pydicom (Debian's /usr/bin/python3), concurrent rewrite and
// read, a chunkserver killed mid-read, unmount with open files, and a meta
// restart.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/client-fuse/mount_util.h"
#include "tests/integration/test_cluster.h"

namespace medfs::fuse::testing {
namespace {

namespace fs = std::filesystem;
using medfs::testing::TestCluster;
using medfs::testing::TestClusterOptions;

const char kPydicomFiles[] = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

std::string Pattern(size_t size, uint32_t seed) {
  std::string bytes(size, '\0');
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i + 8 <= size; i += 8) {
    const uint64_t v = rng();
    std::memcpy(bytes.data() + i, &v, 8);
  }
  return bytes;
}

bool WriteFile(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return false;
  for (size_t done = 0; done < data.size();) {
    ssize_t n = ::write(fd, data.data() + done, std::min<size_t>(1 << 20, data.size() - done));
    if (n <= 0) { ::close(fd); return false; }
    done += n;
  }
  return ::close(fd) == 0;
}

std::string ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return "<open failed>";
  std::string out, buf(1 << 20, '\0');
  ssize_t n;
  while ((n = ::read(fd, buf.data(), buf.size())) > 0) out.append(buf.data(), n);
  ::close(fd);
  return n < 0 ? "<read failed>" : out;
}

// Runs a shell command; returns its exit code and output.
std::pair<int, std::string> Shell(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) output.append(buf, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

std::unique_ptr<TestCluster> StartCluster() {
  TestClusterOptions options;
  options.chunkservers = 3;
  options.replication = 2;
  auto cluster = TestCluster::Start(options);
  EXPECT_TRUE(cluster.ok()) << cluster.status();
  return cluster.ok() ? std::move(*cluster) : nullptr;
}

// One cluster and mount shared by the non-destructive cases.
class FuseE2ETest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = StartCluster().release();
    if (cluster_ == nullptr) return;
    auto mount = MountProcess::Start(cluster_->meta_address());
    ASSERT_TRUE(mount.ok()) << mount.status();
    mount_ = mount->release();
  }
  static void TearDownTestSuite() {
    delete mount_;
    delete cluster_;
  }
  void SetUp() override {
    ASSERT_NE(mount_, nullptr);
    local_ = MakeTempDir("medfs-e2e-local");
    ASSERT_FALSE(local_.empty());
  }
  void TearDown() override { fs::remove_all(local_); }
  static std::string M(const std::string& name) { return mount_->path() + "/" + name; }

  static TestCluster* cluster_;
  static MountProcess* mount_;
  std::string local_;
};
TestCluster* FuseE2ETest::cluster_ = nullptr;
MountProcess* FuseE2ETest::mount_ = nullptr;

TEST_F(FuseE2ETest, CopyTreeInAndCompareByteForByte) {
  // ~1,000 files in 40 folders, sizes from empty to a few MiB.
  const std::string src = local_ + "/tree";
  std::mt19937 rng(42);
  int files = 0;
  for (int d = 0; d < 40; ++d) {
    const std::string dir = absl::StrCat(src, "/study", d, "/series", d % 3);
    fs::create_directories(dir);
    for (int f = 0; f < 25; ++f, ++files) {
      size_t size = rng() % (600 << 10);
      if (f == 0) size = 0;
      if (f == 1 && d % 10 == 0) size = (3 << 20) + 17;
      ASSERT_TRUE(WriteFile(absl::StrCat(dir, "/img", f, ".dcm"), Pattern(size, rng())));
    }
  }
  ASSERT_EQ(files, 1000);
  auto [cp_rc, cp_out] = Shell("cp -r " + src + " " + M("tree"));
  ASSERT_EQ(cp_rc, 0) << cp_out << mount_->LogTail();
  auto [diff_rc, diff_out] = Shell("diff -r " + src + " " + M("tree"));
  EXPECT_EQ(diff_rc, 0) << diff_out.substr(0, 2000);
  auto [find_rc, find_out] = Shell("find " + M("tree") + " -type f | wc -l");
  EXPECT_EQ(find_rc, 0);
  EXPECT_EQ(std::stoi(find_out), 1000);
  auto [ls_rc, ls_out] = Shell("ls -lR " + M("tree") + " > /dev/null && du -s " + M("tree"));
  EXPECT_EQ(ls_rc, 0) << ls_out;
  // And back out again with rsync-like tools: cp -r out, compare.
  auto [out_rc, out_out] = Shell("cp -r " + M("tree") + " " + local_ + "/back && diff -r " +
                                 src + " " + local_ + "/back");
  EXPECT_EQ(out_rc, 0) << out_out.substr(0, 2000);
}

TEST_F(FuseE2ETest, DcmdumpAndPydicomReadThroughTheMount) {
  ASSERT_EQ(::mkdir(M("dicom").c_str(), 0755), 0);
  for (const char* name : {"CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm"}) {
    auto [rc, out] = Shell(absl::StrCat("cp ", kPydicomFiles, "/", name, " ", M("dicom/")));
    ASSERT_EQ(rc, 0) << out;
    auto [dump_rc, dump] = Shell(absl::StrCat("dcmdump ", M("dicom/"), name));
    EXPECT_EQ(dump_rc, 0) << dump;
    EXPECT_NE(dump.find("(0010,0010)"), std::string::npos) << "no PatientName in " << name;
  }
  const std::string script = absl::StrCat(
      "import pydicom, sys\n"
      "for name in ['CT_small.dcm', 'MR_small.dcm', 'MR_small_RLE.dcm']:\n"
      "    a = pydicom.dcmread('", kPydicomFiles, "/' + name)\n"
      "    b = pydicom.dcmread('", M("dicom/"), "' + name)\n"
      "    assert a.PatientName == b.PatientName, name\n"
      "    assert a.PixelData == b.PixelData, name\n"
      "    assert (a.pixel_array == b.pixel_array).all(), name\n"
      "print('ok')\n");
  ASSERT_TRUE(WriteFile(local_ + "/check.py", script));
  auto [py_rc, py_out] = Shell("/usr/bin/python3 " + local_ + "/check.py");
  EXPECT_EQ(py_rc, 0) << py_out;
  EXPECT_NE(py_out.find("ok"), std::string::npos) << py_out;
}

TEST_F(FuseE2ETest, ReaderDuringRewriteSeesWholeOldOrWholeNew) {
  const std::string old_bytes = Pattern(6 << 20, 1);
  const std::string new_bytes = Pattern(9 << 20, 2);
  ASSERT_TRUE(WriteFile(M("versioned"), old_bytes));
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, mixed{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!stop) {
        const std::string got = ReadFile(M("versioned"));
        if (got != old_bytes && got != new_bytes) ++mixed;
        ++reads;
      }
    });
  }
  for (int round = 0; round < 6; ++round) {
    ASSERT_TRUE(WriteFile(M("versioned"), round % 2 == 0 ? new_bytes : old_bytes));
  }
  // Let the readers finish at least a few whole reads of the last version.
  const int target = reads + 4;
  while (reads < target) absl::SleepFor(absl::Milliseconds(10));
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(mixed, 0) << "of " << reads << " whole-file reads";
  EXPECT_GT(reads, 0);
}

// Waits until every chunkserver has sent a heartbeat newer than the
// newest one seen when called: deletes meta handed out by then have
// reached their servers.
void AwaitNextHeartbeats(TestCluster* cluster) {
  auto status = cluster->Status();
  ASSERT_TRUE(status.ok()) << status.status();
  int64_t seen = 0;
  for (const v1::ServerRecord& server : status->servers()) {
    seen = std::max<int64_t>(seen, server.last_heartbeat_ns());
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    status = cluster->Status();
    ASSERT_TRUE(status.ok()) << status.status();
    bool all_newer = true;
    for (const v1::ServerRecord& server : status->servers()) {
      all_newer = all_newer && server.last_heartbeat_ns() > seen;
    }
    if (all_newer) return;
    absl::SleepFor(absl::Milliseconds(50));  // polling the condition above
  }
  FAIL() << "no heartbeat from every chunkserver within 30 s";
}

TEST_F(FuseE2ETest, OpenReaderOfARewrittenFileReadsTheOldVersionToTheEnd) {
  // Large enough that the part read last is not loaded ahead at open.
  const std::string old_bytes = Pattern(96 << 20, 3);
  ASSERT_TRUE(WriteFile(M("kept"), old_bytes));
  const int fd = ::open(M("kept").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::string head(4096, '\0');
  ASSERT_EQ(::pread(fd, head.data(), head.size(), 0), 4096);
  // Rewritten: the old version's chunks are no longer referenced.
  ASSERT_TRUE(WriteFile(M("kept"), Pattern(1 << 20, 4)));
  for (int i = 0; i < 2; ++i) ASSERT_NO_FATAL_FAILURE(AwaitNextHeartbeats(cluster_));
  // The reader still reads the version it opened, to its last byte.
  const size_t offset = (96 << 20) - (8 << 20);
  std::string tail(8 << 20, '\0');
  ASSERT_EQ(::pread(fd, tail.data(), tail.size(), offset), static_cast<ssize_t>(tail.size()))
      << std::strerror(errno) << mount_->LogTail();
  EXPECT_TRUE(tail == old_bytes.substr(offset));
  ::close(fd);
}

// The destructive cases get a cluster and a mount of their own.

TEST(FuseE2EFailures, ChunkserverKilledMidReadReadCompletes) {
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  auto mount = MountProcess::Start(cluster->meta_address(), {"--chunk_timeout_s=2"});
  ASSERT_TRUE(mount.ok()) << mount.status();
  const std::string path = (*mount)->path() + "/large";
  const std::string data = Pattern(160 << 20, 9);  // spans three 64 MiB chunks
  ASSERT_TRUE(WriteFile(path, data)) << (*mount)->LogTail();
  // Written through direct I/O: nothing of it is in the page cache.
  int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::string got;
  std::string buf(1 << 20, '\0');
  bool killed = false;
  ssize_t n;
  while ((n = ::read(fd, buf.data(), buf.size())) > 0) {
    got.append(buf.data(), n);
    if (!killed && got.size() >= (24u << 20)) {
      ASSERT_TRUE(cluster->KillChunkserver(0, SIGKILL).ok());
      killed = true;
    }
  }
  const int read_errno = n < 0 ? errno : 0;
  ::close(fd);
  EXPECT_EQ(read_errno, 0) << (*mount)->LogTail();
  EXPECT_TRUE(killed);
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data) << "content differs after failover";
}

TEST(FuseE2EFailures, UnmountWithOpenFiles) {
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  auto mount = MountProcess::Start(cluster->meta_address());
  ASSERT_TRUE(mount.ok()) << mount.status();
  const std::string mnt = (*mount)->path();
  ASSERT_TRUE(WriteFile(mnt + "/reading", "read me"));
  int reader = ::open((mnt + "/reading").c_str(), O_RDONLY);
  int writer = ::open((mnt + "/writing").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(reader, 0);
  ASSERT_GE(writer, 0);
  ASSERT_EQ(::write(writer, "before ", 7), 7);
  // A clean unmount is refused while files are open; the mount stays usable.
  EXPECT_FALSE(Unmount(mnt, /*lazy=*/false).ok());
  // (Unmount() fell back to a lazy unmount: the mount is detached from the
  // namespace but the open files keep working.)
  EXPECT_FALSE(IsMounted(mnt));
  ASSERT_EQ(::write(writer, "after", 5), 5);
  EXPECT_EQ(::close(writer), 0);
  char buf[16] = {};
  EXPECT_EQ(::read(reader, buf, sizeof(buf)), 7);
  EXPECT_EQ(::close(reader), 0);
  // With the last file closed the daemon finishes and exits by itself.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while ((*mount)->process()->running() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_FALSE((*mount)->process()->running()) << (*mount)->LogTail();
  // The content written after the unmount was committed.
  auto again = MountProcess::Start(cluster->meta_address());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(ReadFile((*again)->path() + "/writing"), "before after");
}

TEST(FuseE2EFailures, MetaRestartIsSurvivedAndOutageEndsInEio) {
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  auto mount = MountProcess::Start(cluster->meta_address(),
                                   {"--meta_retry_s=20", "--attr_timeout_s=0",
                                    "--entry_timeout_s=0", "--negative_timeout_s=0"});
  ASSERT_TRUE(mount.ok()) << mount.status();
  const std::string mnt = (*mount)->path();
  ASSERT_TRUE(WriteFile(mnt + "/before", "x"));
  // Restart: a call made while meta is down is retried and succeeds.
  ASSERT_TRUE(cluster->KillMeta(SIGKILL).ok());
  std::atomic<int> stat_errno{-1};
  std::thread caller([&] {
    struct stat st;
    stat_errno = ::stat((mnt + "/before").c_str(), &st) == 0 ? 0 : errno;
  });
  absl::SleepFor(absl::Seconds(2));  // the outage being simulated, not a sync
  ASSERT_TRUE(cluster->RestartMeta().ok());
  caller.join();
  EXPECT_EQ(stat_errno, 0) << (*mount)->LogTail();
  EXPECT_EQ(ReadFile(mnt + "/before"), "x");

  // An outage longer than the retry budget ends in EIO and a log line,
  // not a hang.
  auto short_mount = MountProcess::Start(cluster->meta_address(),
                                         {"--meta_retry_s=2", "--attr_timeout_s=0",
                                          "--entry_timeout_s=0", "--negative_timeout_s=0"});
  ASSERT_TRUE(short_mount.ok()) << short_mount.status();
  ASSERT_TRUE(cluster->KillMeta(SIGKILL).ok());
  struct stat st;
  const int rc = ::stat(((*short_mount)->path() + "/before").c_str(), &st);
  EXPECT_EQ(rc < 0 ? errno : 0, EIO);
  EXPECT_NE((*short_mount)->LogTail().find("I/O error"), std::string::npos)
      << (*short_mount)->LogTail();
  ASSERT_TRUE(cluster->RestartMeta().ok());
}

}  // namespace
}  // namespace medfs::fuse::testing
