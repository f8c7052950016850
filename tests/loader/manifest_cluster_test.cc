// Manifests end to end on a real cluster (meta + 3 chunkservers, R=2):
// ingest with the medfs CLI, freeze, ingest more, and check that the
// manifest still holds the original set, that freezing again gives version
// 2 with the new set, and that a loader reading a manifest yields exactly
// the frozen instances (also split by patient).
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/dicom_client.h"
#include "gtest/gtest.h"
#include "loader/pipeline/open.h"
#include "tests/integration/test_cluster.h"
#include "tests/loader/test_dicom.h"

namespace medfs::loader {
namespace {

using medfs::testing::TestCluster;
using UidSet = std::set<std::string>;

class ManifestClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    medfs::testing::TestClusterOptions o;
    o.chunkservers = 3;
    o.replication = 2;
    auto c = TestCluster::Start(o);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = c->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  // Writes instances [first, first + count) (patient "P<k>", pixels k * 10)
  // into a fresh folder and ingests them into `dataset` with the CLI.
  static UidSet Ingest(const std::string& dataset, int first, int count) {
    namespace fs = std::filesystem;
    fs::path dir = fs::path(cluster_->root()) / absl::StrCat("src_", dataset, "_", first);
    fs::create_directories(dir);
    UidSet uids;
    for (int k = first; k < first + count; ++k) {
      loader::testing::TestInstance t;
      t.sop_uid = absl::StrCat("1.2.840.77.", k);
      t.series_uid = absl::StrCat("1.2.840.77.1000", k % 2);
      t.patient_id = absl::StrCat("P", k);
      t.rows = t.columns = 32;  // resized down to 16 x 16
      t.fill = static_cast<int16_t>(k * 10);
      loader::testing::WriteInstance((dir / absl::StrCat("i", k, ".dcm")).string(), t);
      uids.insert(t.sop_uid);
    }
    std::string cmd = absl::StrCat(cluster_->CliCommand(), " ingest --dataset=", dataset, " ",
                                   dir.string(), " >> ", cluster_->root(), "/logs/ingest.log 2>&1");
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return uids;
  }

  static client::DicomClient Dicom() {
    client::DicomClientOptions o;
    o.meta.address = cluster_->meta_address();
    return client::DicomClient(o);
  }

  static UidSet ManifestUids(const std::string& dataset, const std::string& ref) {
    auto m = Dicom().GetManifest(dataset, client::ParseManifestRef(ref).value(), false);
    EXPECT_TRUE(m.ok()) << m.status();
    UidSet uids;
    if (m.ok()) {
      for (const auto& member : m->members) uids.insert(member.sop_instance_uid());
    }
    return uids;
  }

  OpenOptions Options(const std::string& dataset, const std::string& manifest) {
    OpenOptions o;
    o.meta = cluster_->meta_address();
    o.dataset = dataset;
    o.manifest = manifest;
    o.loader.batch_size = 4;
    o.loader.transform.height = o.loader.transform.width = 16;
    o.loader.transform.window = Window{500.5, 1001};  // v -> v / 1000
    o.loader.threads = 2;
    o.loader.on_error = OnError::kFail;
    return o;
  }

  // One epoch's UIDs; checks each image's pixels against its UID.
  static UidSet Epoch(const OpenOptions& o) {
    auto l = OpenLoader(o);
    EXPECT_TRUE(l.ok()) << l.status();
    UidSet seen;
    if (!l.ok()) return seen;
    while (true) {
      auto b = (*l)->Next();
      EXPECT_TRUE(b.ok()) << b.status();
      if (!b.ok() || !b->has_value()) break;
      const float* px = reinterpret_cast<const float*>((**b).images->bytes.data());
      for (uint32_t i = 0; i < (**b).size; ++i) {
        const std::string& uid = (**b).uids[i];
        int k = std::stoi(uid.substr(uid.rfind('.') + 1));
        EXPECT_NEAR(px[i * 256 + 5], k * 10 / 1000.f, 1e-5) << uid;
        EXPECT_TRUE(seen.insert(uid).second) << uid << " twice in one epoch";
      }
    }
    return seen;
  }

  static TestCluster* cluster_;
};

TestCluster* ManifestClusterTest::cluster_ = nullptr;

TEST_F(ManifestClusterTest, FrozenSetSurvivesMoreIngestAndFeedsTheLoader) {
  UidSet first = Ingest("ct", 0, 6);
  auto v1 = Dicom().FreezeManifest("ct", "train", "Modality = CT", v1::DICOM_LEVEL_INSTANCE);
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(v1->version(), 1u);
  EXPECT_EQ(v1->instances(), 6u);

  UidSet second = Ingest("ct", 6, 4);
  EXPECT_EQ(ManifestUids("ct", "train"), first);    // latest is still version 1
  EXPECT_EQ(ManifestUids("ct", "train@1"), first);

  auto v2 = Dicom().FreezeManifest("ct", "train", "Modality = CT", v1::DICOM_LEVEL_INSTANCE);
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->version(), 2u);
  UidSet all = first;
  all.insert(second.begin(), second.end());
  EXPECT_EQ(ManifestUids("ct", "train"), all);
  EXPECT_EQ(ManifestUids("ct", "train@1"), first);  // version 1 unchanged

  EXPECT_EQ(Epoch(Options("ct", "train@1")), first);
  EXPECT_EQ(Epoch(Options("ct", "train")), all);
  EXPECT_EQ(Epoch(Options("ct", "train@2")), all);
}

TEST_F(ManifestClusterTest, SplitPartitionsTheManifestByPatient) {
  UidSet uids = Ingest("split", 30, 20);  // pixels k * 10 stay inside the window
  ASSERT_TRUE(Dicom().FreezeManifest("split", "m", "", v1::DICOM_LEVEL_SERIES).ok());
  UidSet joined;
  for (const char* name : {"train", "val", "test"}) {
    OpenOptions o = Options("split", "m");
    ASSERT_TRUE(ParseSplit(name, &o.split.split).ok());
    o.split.train_fraction = 0.5;
    o.split.val_fraction = 0.25;
    UidSet part = Epoch(o);
    for (const std::string& uid : part) {
      int k = std::stoi(uid.substr(uid.rfind('.') + 1));
      EXPECT_EQ(SplitOfPatient(absl::StrCat("P", k), o.split), o.split.split) << uid;
      EXPECT_TRUE(joined.insert(uid).second) << uid << " in two splits";
    }
  }
  EXPECT_EQ(joined, uids);
}

TEST_F(ManifestClusterTest, Errors) {
  Ingest("err", 200, 2);
  ASSERT_TRUE(Dicom().FreezeManifest("err", "m", "", v1::DICOM_LEVEL_INSTANCE).ok());
  struct Case {
    std::string what;
    OpenOptions options;
    absl::StatusCode code;
  };
  OpenOptions both = Options("err", "m");
  both.query = "Modality = CT";
  OpenOptions local = Options("/tmp", "m");
  local.meta = "local";
  std::vector<Case> cases = {
      {"query and manifest", both, absl::StatusCode::kInvalidArgument},
      {"manifest in local mode", local, absl::StatusCode::kInvalidArgument},
      {"unknown version", Options("err", "m@9"), absl::StatusCode::kNotFound},
      {"unknown manifest", Options("err", "nope"), absl::StatusCode::kNotFound},
      {"unknown dataset", Options("nope", "m"), absl::StatusCode::kNotFound},
      {"bad reference", Options("err", "m@x"), absl::StatusCode::kInvalidArgument},
  };
  for (const Case& c : cases) {
    auto l = OpenLoader(c.options);
    EXPECT_EQ(l.status().code(), c.code) << c.what << ": " << l.status();
  }
  auto bad = Dicom().FreezeManifest("err", "m", "Modality", v1::DICOM_LEVEL_INSTANCE);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();
  auto unknown = Dicom().FreezeManifest("nope", "m", "", v1::DICOM_LEVEL_INSTANCE);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound) << unknown.status();
}

}  // namespace
}  // namespace medfs::loader
