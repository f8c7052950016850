// The real `medfs` binary against a real cluster: every command once, the
// error cases with their exit status and message.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "tests/integration/test_cluster.h"

namespace medfs::cli {
namespace {

namespace fs = std::filesystem;
using testing::TestCluster;

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 random(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(random());
  return s;
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    testing::TestClusterOptions options;
    options.chunkservers = 3;
    options.replication = 2;
    options.max_chunk_bytes = 8 << 20;
    auto cluster = TestCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    local_ = fs::path(cluster_->root()) / ::testing::UnitTest::GetInstance()
                                              ->current_test_info()
                                              ->name();
    fs::create_directories(local_);
  }

  // Runs `medfs --meta=<cluster> args...` (no --meta when `with_meta` is
  // false) and captures its output.
  Result Medfs(std::vector<std::string> args, bool with_meta = true,
               const std::string& env = "") {
    std::string command = env.empty() ? "" : env + " ";
    absl::StrAppend(&command, "'", TestCluster::BinaryPath("medfs"), "'");
    if (with_meta) {
      absl::StrAppend(&command, " --meta=", cluster_->meta_address());
    }
    for (const std::string& a : args) absl::StrAppend(&command, " '", a, "'");
    const std::string out = (local_ / "stdout").string();
    const std::string err = (local_ / "stderr").string();
    absl::StrAppend(&command, " >'", out, "' 2>'", err, "'");
    Result r;
    const int status = std::system(command.c_str());
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = ReadFile(out);
    r.err = ReadFile(err);
    return r;
  }

  static TestCluster* cluster_;
  fs::path local_;
};

TestCluster* CliTest::cluster_ = nullptr;

TEST_F(CliTest, NamespaceCommands) {
  struct Step {
    std::vector<std::string> args;
    int exit_code;
    std::string out_contains;
    std::string err_equals;  // "" : no check
  };
  const std::vector<Step> steps = {
      {{"mkdir", "/ns"}, 0, "", ""},
      {{"mkdir", "/ns"}, 1, "", "medfs: mkdir /ns: already exists\n"},
      {{"mkdir", "-p", "/ns/a/b/c"}, 0, "", ""},
      {{"mkdir", "-p", "/ns/a/b"}, 0, "", ""},
      {{"ls", "/ns/a"}, 0, "b\n", ""},
      {{"ls", "-l", "/ns/a"}, 0, "drwxr-xr-x", ""},
      {{"stat", "/ns/a/b"}, 0, "Type: directory", ""},
      {{"mv", "/ns/a/b", "/ns/moved"}, 0, "", ""},
      {{"stat", "/ns/a/b"}, 1, "", "medfs: stat /ns/a/b: not found\n"},
      {{"stat", "/ns/moved/c"}, 0, "Type: directory", ""},
      {{"rm", "/ns/moved"}, 1, "", "medfs: rm /ns/moved: is a directory (use rm -r)\n"},
      {{"rm", "-r", "/ns/moved"}, 0, "", ""},
      {{"stat", "/ns/moved"}, 1, "", "medfs: stat /ns/moved: not found\n"},
      {{"stat", "/x"}, 1, "", "medfs: stat /x: not found\n"},
      {{"rm", "/nope/file"}, 1, "", "medfs: rm /nope/file: not found\n"},
      {{"frobnicate"}, 2, "", ""},
      {{"stat"}, 2, "", "medfs: usage: medfs stat PATH\n"},
  };
  for (const Step& s : steps) {
    const std::string what = absl::StrJoin(s.args, " ");
    Result r = Medfs(s.args);
    EXPECT_EQ(r.exit_code, s.exit_code) << what << "\n" << r.err;
    EXPECT_TRUE(absl::StrContains(r.out, s.out_contains))
        << what << " printed:\n" << r.out;
    if (!s.err_equals.empty()) EXPECT_EQ(r.err, s.err_equals) << what;
  }
}

TEST_F(CliTest, PutGetCatReplaceAndTrees) {
  const std::string small = RandomBytes(1000, 1);
  const std::string big = RandomBytes(20 << 20, 2);  // several chunks
  WriteFile(local_ / "small", small);
  WriteFile(local_ / "big", big);
  ASSERT_EQ(Medfs({"mkdir", "/data"}).exit_code, 0);
  ASSERT_EQ(Medfs({"put", (local_ / "small").string(), "/data/small"}).exit_code, 0);
  ASSERT_EQ(Medfs({"put", (local_ / "big").string(), "/data"}).exit_code, 0);
  Result cat = Medfs({"cat", "/data/small"});
  EXPECT_EQ(cat.exit_code, 0) << cat.err;
  EXPECT_EQ(cat.out, small);
  Result get = Medfs({"get", "/data/big", (local_ / "big.back").string()});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(ReadFile(local_ / "big.back"), big);
  Result stat = Medfs({"stat", "/data/big"});
  EXPECT_TRUE(absl::StrContains(stat.out, absl::StrCat("Size: ", big.size())))
      << stat.out;
  // put replaces an existing file.
  WriteFile(local_ / "small2", "replaced");
  ASSERT_EQ(Medfs({"put", (local_ / "small2").string(), "/data/small"}).exit_code, 0);
  EXPECT_EQ(Medfs({"cat", "/data/small"}).out, "replaced");
  // Folder trees.
  fs::create_directories(local_ / "tree/sub/deeper");
  WriteFile(local_ / "tree/one", "1");
  WriteFile(local_ / "tree/sub/two", RandomBytes(5 << 20, 3));
  WriteFile(local_ / "tree/sub/deeper/empty", "");
  EXPECT_EQ(Medfs({"put", (local_ / "tree").string(), "/t"}).exit_code, 1);
  ASSERT_EQ(Medfs({"put", "-r", (local_ / "tree").string(), "/t"}).exit_code, 0);
  Result ls = Medfs({"ls", "/t/sub"});
  EXPECT_EQ(ls.out, "deeper\ntwo\n");
  ASSERT_EQ(Medfs({"get", "-r", "/t", (local_ / "tree.back").string()}).exit_code, 0);
  for (const char* f : {"one", "sub/two", "sub/deeper/empty"}) {
    EXPECT_EQ(ReadFile(local_ / "tree.back" / f), ReadFile(local_ / "tree" / f)) << f;
  }
  Result missing = Medfs({"get", "/data/nope", (local_ / "x").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "medfs: get /data/nope: not found\n");
}

TEST_F(CliTest, ChecksumMismatchOnAllReplicas) {
  WriteFile(local_ / "victim", RandomBytes(100000, 4));
  ASSERT_EQ(Medfs({"put", (local_ / "victim").string(), "/victim"}).exit_code, 0);
  Result stat = Medfs({"stat", "/victim"});
  const size_t at = stat.out.find("Chunk ids: ");
  ASSERT_NE(at, std::string::npos) << stat.out;
  const uint64_t chunk = std::stoull(stat.out.substr(at + 11));
  int corrupted = 0;
  for (int i = 0; i < cluster_->chunkserver_count(); ++i) {
    char name[64];
    std::snprintf(name, sizeof(name), "chunks/%02x/%016llx",
                  static_cast<unsigned>(chunk % 256),
                  static_cast<unsigned long long>(chunk));
    const std::string path = cluster_->chunkserver_dir(i) + "/" + name;
    if (!fs::exists(path)) continue;
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(8192 + 10);
    char b = 0;
    f.read(&b, 1);
    b ^= 0x01;
    f.seekp(8192 + 10);
    f.write(&b, 1);
    ++corrupted;
  }
  ASSERT_EQ(corrupted, 2);
  Result cat = Medfs({"cat", "/victim"});
  EXPECT_EQ(cat.exit_code, 1);
  EXPECT_TRUE(absl::StartsWith(
      cat.err, "medfs: cat /victim: checksum mismatch on all replicas: "))
      << cat.err;
}

TEST_F(CliTest, StatusAndUnreachableMeta) {
  Result status = Medfs({"status"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_TRUE(absl::StrContains(status.out, "total: 3 servers (3 up)")) << status.out;
  // $MEDFS_META is honoured when --meta is absent.
  Result env = Medfs({"status"}, false,
                     absl::StrCat("MEDFS_META=", cluster_->meta_address()));
  EXPECT_EQ(env.exit_code, 0) << env.err;
  Result down = Medfs({"--meta=127.0.0.1:1", "status"}, false);
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_TRUE(absl::StartsWith(
      down.err, "medfs: status: server unreachable: connect to meta at 127.0.0.1:1"))
      << down.err;
}

}  // namespace
}  // namespace medfs::cli
