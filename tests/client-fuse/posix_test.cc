// POSIX behaviour suite of medfs-mount: every operation the mount serves,
// through real syscalls on a real FUSE mount, with the errno each failure
// must carry. Linked twice: over an in-process mount with a fake client
// (posix_fake_test) and over medfs-mount on a real cluster
// (posix_cluster_test); see mount_backend.h.
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/client-fuse/mount_backend.h"

namespace medfs::fuse::testing {
namespace {

constexpr uid_t kOtherUid = 65534;  // nobody
constexpr gid_t kOtherGid = 65534;

std::string Pattern(size_t size, uint32_t seed) {
  std::string bytes(size, '\0');
  std::mt19937 rng(seed);
  for (char& c : bytes) c = static_cast<char>(rng());
  return bytes;
}

// Writes `data` in `piece`-byte write(2) calls. Returns 0 or errno.
int WriteFile(const std::string& path, const std::string& data, int flags = O_TRUNC,
              size_t piece = 1 << 20) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | flags, 0644);
  if (fd < 0) return errno;
  for (size_t done = 0; done < data.size();) {
    ssize_t n = ::write(fd, data.data() + done, std::min(piece, data.size() - done));
    if (n < 0) {
      int error = errno;
      ::close(fd);
      return error;
    }
    done += static_cast<size_t>(n);
  }
  return ::close(fd) == 0 ? 0 : errno;
}

std::string ReadFile(const std::string& path, size_t piece = 1 << 20) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return "<open failed: " + std::string(strerror(errno)) + ">";
  std::string out, buf(piece, '\0');
  ssize_t n;
  while ((n = ::read(fd, buf.data(), buf.size())) > 0) out.append(buf.data(), n);
  ::close(fd);
  return out;
}

// errno of a call returning -1 on failure, 0 on success.
int Errno(int rc) { return rc < 0 ? errno : 0; }

class PosixTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto started = StartMountBackend();
    ASSERT_TRUE(started.ok()) << started.status();
    backend_ = started->release();
  }
  static void TearDownTestSuite() {
    delete backend_;
    backend_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(backend_, nullptr);
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '_');
    dir_ = backend_->mount_point() + "/" + name;
    ASSERT_EQ(Errno(::mkdir(dir_.c_str(), 0755)), 0) << backend_->Log();
  }
  std::string P(const std::string& name) const { return dir_ + "/" + name; }

  static MountBackend* backend_;
  std::string dir_;
};
MountBackend* PosixTest::backend_ = nullptr;

// ---------------------------------------------------------------- files

TEST_F(PosixTest, LargeFileRoundTrip) {
  const std::string data = Pattern(13 * (1 << 20) + 12345, 1);
  ASSERT_EQ(WriteFile(P("big"), data), 0);
  struct stat st;
  ASSERT_EQ(::stat(P("big").c_str(), &st), 0);
  EXPECT_EQ(static_cast<size_t>(st.st_size), data.size());
  EXPECT_EQ(ReadFile(P("big")), data);
  EXPECT_EQ(ReadFile(P("big"), 4096), data);  // small reads too
}

TEST_F(PosixTest, OverwriteWithTruncShrinks) {
  ASSERT_EQ(WriteFile(P("f"), Pattern(3 << 20, 2)), 0);
  ASSERT_EQ(WriteFile(P("f"), "short"), 0);
  EXPECT_EQ(ReadFile(P("f")), "short");
}

TEST_F(PosixTest, WritesAtAnyOffset) {
  int fd = ::open(P("sparse").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "tail", 4, 100000), 4);
  ASSERT_EQ(::pwrite(fd, "head", 4, 0), 4);
  ASSERT_EQ(::pwrite(fd, "mid", 3, 5000), 3);
  char buf[4] = {};
  ASSERT_EQ(::pread(fd, buf, 4, 100000), 4);  // reads its own writes while open
  EXPECT_EQ(std::string(buf, 4), "tail");
  ASSERT_EQ(::close(fd), 0);
  std::string want(100004, '\0');
  want.replace(0, 4, "head");
  want.replace(5000, 3, "mid");
  want.replace(100000, 4, "tail");
  EXPECT_EQ(ReadFile(P("sparse")), want);
}

TEST_F(PosixTest, OpenWithoutTruncPreservesContent) {
  const std::string data = Pattern(5 << 20, 3);
  ASSERT_EQ(WriteFile(P("f"), data), 0);
  int fd = ::open(P("f").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "XYZ", 3, 2 << 20), 3);
  ASSERT_EQ(::close(fd), 0);
  std::string want = data;
  want.replace(2 << 20, 3, "XYZ");
  EXPECT_EQ(ReadFile(P("f")), want);
}

TEST_F(PosixTest, AppendMode) {
  ASSERT_EQ(WriteFile(P("log"), "one\n"), 0);
  ASSERT_EQ(WriteFile(P("log"), "two\n", O_APPEND), 0);
  ASSERT_EQ(WriteFile(P("log"), "three\n", O_APPEND), 0);
  EXPECT_EQ(ReadFile(P("log")), "one\ntwo\nthree\n");
}

TEST_F(PosixTest, TruncateAndFtruncate) {
  ASSERT_EQ(WriteFile(P("f"), "0123456789"), 0);
  ASSERT_EQ(::truncate(P("f").c_str(), 4), 0);
  EXPECT_EQ(ReadFile(P("f")), "0123");
  ASSERT_EQ(::truncate(P("f").c_str(), 6), 0);
  EXPECT_EQ(ReadFile(P("f")), std::string("0123\0\0", 6));
  int fd = ::open(P("f").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 2), 0);
  struct stat st;
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 2);
  ASSERT_EQ(::close(fd), 0);
  EXPECT_EQ(ReadFile(P("f")), "01");
}

TEST_F(PosixTest, FsyncPublishesBeforeClose) {
  int fd = ::open(P("f").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "synced", 6), 6);
  ASSERT_EQ(::fsync(fd), 0);
  EXPECT_EQ(ReadFile(P("f")), "synced");
  ASSERT_EQ(::write(fd, "+more", 5), 5);
  ASSERT_EQ(::close(fd), 0);
  EXPECT_EQ(ReadFile(P("f")), "synced+more");
}

TEST_F(PosixTest, UnlinkWhileOpenKeepsReading) {
  const std::string data = Pattern(2 << 20, 4);
  ASSERT_EQ(WriteFile(P("f"), data), 0);
  int fd = ::open(P("f").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::unlink(P("f").c_str()), 0);
  std::string got(data.size(), '\0');
  EXPECT_EQ(::pread(fd, got.data(), got.size(), 0), static_cast<ssize_t>(data.size()));
  EXPECT_EQ(got, data);
  ::close(fd);
  struct stat st;
  EXPECT_EQ(Errno(::stat(P("f").c_str(), &st)), ENOENT);
}

// ------------------------------------------------------------ namespace

TEST_F(PosixTest, MkdirRmdir) {
  ASSERT_EQ(Errno(::mkdir(P("d").c_str(), 0750)), 0);
  struct stat st;
  ASSERT_EQ(::stat(P("d").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(Errno(::rmdir(P("d").c_str())), 0);
  EXPECT_EQ(Errno(::stat(P("d").c_str(), &st)), ENOENT);
}

TEST_F(PosixTest, RenameCases) {
  ASSERT_EQ(WriteFile(P("a"), "A"), 0);
  ASSERT_EQ(WriteFile(P("b"), "B"), 0);
  ASSERT_EQ(::mkdir(P("sub").c_str(), 0755), 0);
  // Within a folder.
  ASSERT_EQ(Errno(::rename(P("a").c_str(), P("a2").c_str())), 0);
  EXPECT_EQ(ReadFile(P("a2")), "A");
  // Over an existing file: the target takes the source's content.
  ASSERT_EQ(Errno(::rename(P("a2").c_str(), P("b").c_str())), 0);
  EXPECT_EQ(ReadFile(P("b")), "A");
  struct stat st;
  EXPECT_EQ(Errno(::stat(P("a2").c_str(), &st)), ENOENT);
  // Across folders, and a folder with content.
  ASSERT_EQ(Errno(::rename(P("b").c_str(), P("sub/b").c_str())), 0);
  EXPECT_EQ(ReadFile(P("sub/b")), "A");
  ASSERT_EQ(Errno(::rename(P("sub").c_str(), P("moved").c_str())), 0);
  EXPECT_EQ(ReadFile(P("moved/b")), "A");
}

TEST_F(PosixTest, SymlinkReadlink) {
  ASSERT_EQ(WriteFile(P("target"), "via link"), 0);
  ASSERT_EQ(Errno(::symlink("target", P("link").c_str())), 0);
  char buf[64] = {};
  ASSERT_EQ(::readlink(P("link").c_str(), buf, sizeof(buf)), 6);
  EXPECT_EQ(std::string(buf), "target");
  EXPECT_EQ(ReadFile(P("link")), "via link");
  struct stat st;
  ASSERT_EQ(::lstat(P("link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

TEST_F(PosixTest, ChmodChownUtimens) {
  ASSERT_EQ(WriteFile(P("f"), "x"), 0);
  ASSERT_EQ(Errno(::chmod(P("f").c_str(), 0604)), 0);
  ASSERT_EQ(Errno(::chown(P("f").c_str(), 1234, 5678)), 0);
  const timespec times[2] = {{1000000, 5}, {2000000, 7}};
  ASSERT_EQ(Errno(::utimensat(AT_FDCWD, P("f").c_str(), times, 0)), 0);
  struct stat st;
  ASSERT_EQ(::stat(P("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0604u);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_mtim.tv_sec, 2000000);
  EXPECT_EQ(st.st_atim.tv_sec, 1000000);
}

TEST_F(PosixTest, TimesSetWhileOpenSurviveClose) {  // cp -p, tar, rsync
  int fd = ::open(P("f").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "data", 4), 4);
  const timespec times[2] = {{1500000000, 0}, {1500000000, 0}};
  ASSERT_EQ(Errno(::futimens(fd, times)), 0);
  ASSERT_EQ(::close(fd), 0);
  struct stat st;
  ASSERT_EQ(::stat(P("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1500000000);
  EXPECT_EQ(ReadFile(P("f")), "data");
}

TEST_F(PosixTest, StatFsReportsClusterCapacity) {
  struct statvfs st;
  ASSERT_EQ(Errno(::statvfs(dir_.c_str(), &st)), 0);
  EXPECT_GT(st.f_blocks, 0u);
  EXPECT_GT(st.f_bsize, 0u);
  EXPECT_LE(st.f_bfree, st.f_blocks);
  EXPECT_EQ(st.f_namemax, 255u);
}

TEST_F(PosixTest, ReaddirListsEveryEntryWithType) {
  std::set<std::string> want;
  for (int i = 0; i < 1500; ++i) {
    const std::string name = "entry-" + std::to_string(i);
    ASSERT_EQ(WriteFile(P(name), ""), 0);
    want.insert(name);
  }
  ASSERT_EQ(::mkdir(P("zdir").c_str(), 0755), 0);
  DIR* d = ::opendir(dir_.c_str());
  ASSERT_NE(d, nullptr);
  std::set<std::string> got;
  bool saw_dot = false, saw_dir_type = false;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") { saw_dot = true; continue; }
    if (name == "zdir") { saw_dir_type = e->d_type == DT_DIR; continue; }
    EXPECT_EQ(e->d_type, DT_REG) << name;
    EXPECT_TRUE(got.insert(name).second) << "listed twice: " << name;
  }
  ::closedir(d);
  EXPECT_TRUE(saw_dot);
  EXPECT_TRUE(saw_dir_type);
  EXPECT_EQ(got, want);
}

TEST_F(PosixTest, MknodRegularFileOnly) {
  EXPECT_EQ(Errno(::mknod(P("reg").c_str(), S_IFREG | 0644, 0)), 0);
  EXPECT_EQ(Errno(::mknod(P("fifo").c_str(), S_IFIFO | 0644, 0)), EPERM);
}

// --------------------------------------------------------- error codes

struct ErrorCase {
  std::string name;
  std::function<int(const std::string& dir)> call;  // returns -1/errno style
  int expected_errno;
};

class PosixErrorTest : public PosixTest, public ::testing::WithParamInterface<ErrorCase> {
 protected:
  void SetUp() override {
    PosixTest::SetUp();
    // A standard tree: file, empty folder, folder with a file.
    ASSERT_EQ(WriteFile(P("file"), "x"), 0);
    ASSERT_EQ(::mkdir(P("empty").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(P("full").c_str(), 0755), 0);
    ASSERT_EQ(WriteFile(P("full/inner"), "y"), 0);
  }
};

TEST_P(PosixErrorTest, FailsWithErrno) {
  errno = 0;
  const int rc = GetParam().call(dir_);
  EXPECT_EQ(rc < 0 ? errno : 0, GetParam().expected_errno) << strerror(errno);
}

const std::string kLongName(256, 'n');
int OpenRc(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags, 0644);
  if (fd >= 0) ::close(fd);
  return fd < 0 ? -1 : 0;
}

INSTANTIATE_TEST_SUITE_P(
    Errors, PosixErrorTest,
    ::testing::Values(
        ErrorCase{"StatMissing", [](const std::string& d) { struct stat st; return ::stat((d + "/missing").c_str(), &st); }, ENOENT},
        ErrorCase{"OpenMissing", [](const std::string& d) { return OpenRc(d + "/missing", O_RDONLY); }, ENOENT},
        ErrorCase{"UnlinkMissing", [](const std::string& d) { return ::unlink((d + "/missing").c_str()); }, ENOENT},
        ErrorCase{"RenameMissing", [](const std::string& d) { return ::rename((d + "/missing").c_str(), (d + "/x").c_str()); }, ENOENT},
        ErrorCase{"MkdirExisting", [](const std::string& d) { return ::mkdir((d + "/empty").c_str(), 0755); }, EEXIST},
        ErrorCase{"MkdirOverFile", [](const std::string& d) { return ::mkdir((d + "/file").c_str(), 0755); }, EEXIST},
        ErrorCase{"CreateExclusiveExisting", [](const std::string& d) { return OpenRc(d + "/file", O_CREAT | O_EXCL | O_WRONLY); }, EEXIST},
        ErrorCase{"SymlinkExisting", [](const std::string& d) { return ::symlink("t", (d + "/file").c_str()); }, EEXIST},
        ErrorCase{"RenameNoReplace", [](const std::string& d) { return static_cast<int>(::syscall(SYS_renameat2, AT_FDCWD, (d + "/file").c_str(), AT_FDCWD, (d + "/full/inner").c_str(), RENAME_NOREPLACE)); }, EEXIST},
        ErrorCase{"RmdirNotEmpty", [](const std::string& d) { return ::rmdir((d + "/full").c_str()); }, ENOTEMPTY},
        ErrorCase{"RenameDirOverNonEmptyDir", [](const std::string& d) { return ::rename((d + "/empty").c_str(), (d + "/full").c_str()); }, ENOTEMPTY},
        ErrorCase{"RmdirFile", [](const std::string& d) { return ::rmdir((d + "/file").c_str()); }, ENOTDIR},
        ErrorCase{"MkdirUnderFile", [](const std::string& d) { return ::mkdir((d + "/file/sub").c_str(), 0755); }, ENOTDIR},
        ErrorCase{"RenameDirOverFile", [](const std::string& d) { return ::rename((d + "/empty").c_str(), (d + "/file").c_str()); }, ENOTDIR},
        ErrorCase{"UnlinkDir", [](const std::string& d) { return ::unlink((d + "/empty").c_str()); }, EISDIR},
        ErrorCase{"OpenDirForWrite", [](const std::string& d) { return OpenRc(d + "/empty", O_WRONLY); }, EISDIR},
        ErrorCase{"RenameFileOverDir", [](const std::string& d) { return ::rename((d + "/file").c_str(), (d + "/empty").c_str()); }, EISDIR},
        ErrorCase{"CreateNameTooLong", [](const std::string& d) { return OpenRc(d + "/" + kLongName, O_CREAT | O_WRONLY); }, ENAMETOOLONG},
        ErrorCase{"MkdirNameTooLong", [](const std::string& d) { return ::mkdir((d + "/" + kLongName).c_str(), 0755); }, ENAMETOOLONG},
        ErrorCase{"StatNameTooLong", [](const std::string& d) { struct stat st; return ::stat((d + "/" + kLongName).c_str(), &st); }, ENAMETOOLONG},
        ErrorCase{"HardLinkRefused", [](const std::string& d) { return ::link((d + "/file").c_str(), (d + "/hard").c_str()); }, EPERM},
        ErrorCase{"ReadlinkOnFile", [](const std::string& d) { char b[8]; return static_cast<int>(::readlink((d + "/file").c_str(), b, sizeof(b))); }, EINVAL}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) { return info.param.name; });

// ---------------------------------------------------------- permissions

struct AccessCase {
  std::string name;
  std::function<int(const std::string& dir)> call;  // run as kOtherUid
  int expected_errno;
};

class PosixAccessTest : public PosixTest, public ::testing::WithParamInterface<AccessCase> {
 protected:
  void SetUp() override {
    PosixTest::SetUp();
    ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);  // owned by root
    ASSERT_EQ(WriteFile(P("private"), "secret"), 0);
    ASSERT_EQ(::chmod(P("private").c_str(), 0600), 0);
    ASSERT_EQ(WriteFile(P("public"), "hello"), 0);
    ASSERT_EQ(::chmod(P("public").c_str(), 0644), 0);
  }
  // Runs `call` in a child with another uid/gid; returns its errno (0: ok).
  static int AsOtherUser(const std::function<int(const std::string&)>& call,
                         const std::string& dir) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(kOtherGid) != 0 || ::setuid(kOtherUid) != 0) {
        ::_exit(200);
      }
      errno = 0;
      const int rc = call(dir);
      ::_exit(rc < 0 ? errno : 0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
  }
};

TEST_P(PosixAccessTest, KernelEnforcesModes) {
  EXPECT_EQ(AsOtherUser(GetParam().call, dir_), GetParam().expected_errno);
}

INSTANTIATE_TEST_SUITE_P(
    Access, PosixAccessTest,
    ::testing::Values(
        AccessCase{"ReadPrivateFile", [](const std::string& d) { return OpenRc(d + "/private", O_RDONLY); }, EACCES},
        AccessCase{"WritePublicFile", [](const std::string& d) { return OpenRc(d + "/public", O_WRONLY); }, EACCES},
        AccessCase{"CreateInRootsFolder", [](const std::string& d) { return OpenRc(d + "/new", O_CREAT | O_WRONLY); }, EACCES},
        AccessCase{"MkdirInRootsFolder", [](const std::string& d) { return ::mkdir((d + "/newdir").c_str(), 0755); }, EACCES},
        AccessCase{"UnlinkInRootsFolder", [](const std::string& d) { return ::unlink((d + "/public").c_str()); }, EACCES},
        AccessCase{"ChmodRootsFile", [](const std::string& d) { return ::chmod((d + "/public").c_str(), 0777); }, EPERM},
        AccessCase{"ReadPublicFileAllowed", [](const std::string& d) { return OpenRc(d + "/public", O_RDONLY); }, 0}),
    [](const ::testing::TestParamInfo<AccessCase>& info) { return info.param.name; });

}  // namespace
}  // namespace medfs::fuse::testing
