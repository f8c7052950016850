// The loader against a real cluster (meta + 3 chunkservers, R=2): pixel
// bytes fetched from the chunkservers by the cluster PixelSource, and an
// epoch that survives a chunkserver killed in its middle.
#include <cstdlib>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loader/pipeline/cluster_source.h"
#include "loader/pipeline/open.h"
#include "tests/integration/test_cluster.h"
#include "tests/loader/test_dicom.h"

namespace medfs::loader {
namespace {

using medfs::testing::TestCluster;
using medfs::testing::TestClusterOptions;

constexpr int kSlices = 48;

class LoaderClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    TestClusterOptions o;
    o.chunkservers = 3;
    o.replication = 2;
    o.max_chunk_bytes = 1 << 20;  // many chunks spread over the servers
    auto c = TestCluster::Start(o);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = c->release();
    client::ClientOptions co;
    co.meta_address = cluster_->meta_address();
    auto cl = client::Client::Connect(co);
    ASSERT_TRUE(cl.ok()) << cl.status();
    auto dir = (*cl)->MkDir(client::kRootInode, "ct", 0755, 0, 0);
    ASSERT_TRUE(dir.ok()) << dir.status();
    for (int k = 0; k < kSlices; ++k) {
      loader::testing::TestInstance t;
      t.sop_uid = absl::StrCat("1.2.840.99.", 1000 + k);
      t.series_uid = "1.2.840.99.7";
      t.rows = t.columns = 64;
      t.fill = static_cast<int16_t>(k * 10);
      std::string bytes = loader::testing::EncodeInstance(t);
      auto writer = (*cl)->NewWriter();
      ASSERT_TRUE(writer.ok());
      ASSERT_TRUE((*writer)->Append(std::as_bytes(std::span<const char>(bytes))).ok());
      auto content = (*writer)->Finish();
      ASSERT_TRUE(content.ok()) << content.status();
      auto file = (*cl)->CreateFile(dir->id(), absl::StrCat("s", k, ".dcm"), *content, {});
      ASSERT_TRUE(file.ok()) << file.status();
    }
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  OpenOptions Options() {
    OpenOptions o;
    o.meta = cluster_->meta_address();
    o.dataset = "ct";
    o.loader.batch_size = 8;
    o.loader.transform.height = o.loader.transform.width = 16;
    o.loader.transform.window = Window{500.5, 1001};  // v -> v / 1000
    o.loader.threads = 4;
    o.loader.on_error = OnError::kFail;
    return o;
  }

  static TestCluster* cluster_;
};

TestCluster* LoaderClusterTest::cluster_ = nullptr;

TEST_F(LoaderClusterTest, EpochReadsEveryInstanceFromTheChunkservers) {
  auto l = OpenLoader(Options());
  ASSERT_TRUE(l.ok()) << l.status();
  std::set<std::string> seen;
  while (true) {
    auto b = (*l)->Next();
    ASSERT_TRUE(b.ok()) << b.status();
    if (!b->has_value()) break;
    const float* px = reinterpret_cast<const float*>((**b).images->bytes.data());
    for (uint32_t i = 0; i < (**b).size; ++i) {
      const std::string& uid = (**b).uids[i];
      int k = std::stoi(uid.substr(uid.rfind('.') + 1)) - 1000;
      EXPECT_NEAR(px[i * 256 + 17], k * 10 / 1000.f, 1e-5) << uid;
      seen.insert(uid);
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kSlices));
  auto stats = (*l)->Stats();
  EXPECT_EQ(stats.bytes_read, uint64_t{kSlices} * 64 * 64 * 2);  // pixels only
  EXPECT_EQ(stats.failures, 0u);
}

TEST_F(LoaderClusterTest, FabricProviderComesFromTheOptions) {
  // (medfs.DataLoader's provider= and $MEDFS_FABRIC_PROVIDER land here.)
  OpenOptions o = Options();
  o.fabric_provider = "no-such-provider";
  auto l = OpenLoader(o);
  absl::Status failure = l.status();
  if (l.ok()) failure = (*l)->Next().status();
  ASSERT_FALSE(failure.ok()) << "a loader on an unknown provider read a batch";
  EXPECT_THAT(std::string(failure.message()), ::testing::HasSubstr("no-such-provider"));
}

TEST_F(LoaderClusterTest, ChunkserverKilledMidEpochDoesNotFailTheEpoch) {
  OpenOptions o = Options();
  o.loader.prefetch = 1;
  auto l = OpenLoader(o);
  ASSERT_TRUE(l.ok()) << l.status();
  std::set<std::string> seen;
  int batches = 0;
  while (true) {
    auto b = (*l)->Next();
    ASSERT_TRUE(b.ok()) << b.status();  // kFail: any failed sample fails here
    if (!b->has_value()) break;
    for (auto& u : (**b).uids) seen.insert(u);
    if (++batches == 2) ASSERT_TRUE(cluster_->KillChunkserver(1).ok());
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kSlices));
  EXPECT_EQ((*l)->Stats().failures, 0u);
  ASSERT_TRUE(cluster_->RestartChunkserver(1).ok());
}

TEST_F(LoaderClusterTest, IngestedDatasetIsReadThroughTheDicomIndex) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(cluster_->root()) / "ingest_src";
  fs::create_directories(dir);
  for (int k = 0; k < 10; ++k) {
    loader::testing::TestInstance t;
    t.sop_uid = absl::StrCat("1.2.840.98.", k);
    t.series_uid = "1.2.840.98.100";
    t.rows = t.columns = 32;
    t.fill = static_cast<int16_t>(k * 100);
    loader::testing::WriteInstance((dir / absl::StrCat("i", k, ".dcm")).string(), t);
  }
  std::string cmd = absl::StrCat(cluster_->CliCommand(), " ingest --dataset=indexed ", dir.string(), " > ",
                                 cluster_->root(), "/logs/ingest.log 2>&1");
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  ClusterSourceOptions c;
  c.meta_address = cluster_->meta_address();
  c.dataset = "indexed";
  c.query = "Modality = CT";
  auto opened = OpenCluster(c);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_TRUE(opened->from_index);
  ASSERT_EQ(opened->catalog.records.size(), 10u);
  for (const auto& r : opened->catalog.records) EXPECT_NE(r.inode(), 0u) << r.sop_instance_uid();
  LoaderOptions lo = Options().loader;
  lo.transform.window = Window{500.5, 1001};
  auto l = Loader::Create(std::move(opened->catalog), opened->source, lo);
  ASSERT_TRUE(l.ok()) << l.status();
  size_t n = 0;
  while (true) {
    auto b = (*l)->Next();
    ASSERT_TRUE(b.ok()) << b.status();
    if (!b->has_value()) break;
    const float* px = reinterpret_cast<const float*>((**b).images->bytes.data());
    for (uint32_t i = 0; i < (**b).size; ++i, ++n) {
      int k = std::stoi((**b).uids[i].substr((**b).uids[i].rfind('.') + 1));
      EXPECT_NEAR(px[i * 256], k * 100 / 1000.f, 1e-5);
    }
  }
  EXPECT_EQ(n, 10u);
}

}  // namespace
}  // namespace medfs::loader
