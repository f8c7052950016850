// ManifestStore over a real MetaStore (temporary RocksDB): version
// allocation, immutability after more ingest, all-or-nothing writes,
// paging (also 100,000 members), and the error codes.
#include "meta/dicom/manifest_store.h"

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "meta/dicom/dicom_store.h"
#include "tests/meta/store/test_util.h"

namespace medfs::meta {
namespace {

class ManifestStoreTest : public testing::StoreTest {
 public:
  void SetUp() override {
    StoreTest::SetUp();
    MakeStores({});
  }

  void MakeStores(ManifestStoreOptions options) {
    dicom_ = std::make_unique<DicomStore>(store_.get());
    manifests_ = std::make_unique<ManifestStore>(store_.get(), dicom_.get(), options);
  }

  // Ingests instances `first`..`first + count - 1` of `modality` into
  // `dataset`: SOP UIDs "1.2.<index>", series "9.<index % 3>".
  void Ingest(const std::string& dataset, int first, int count, const std::string& modality) {
    constexpr int kBatch = 2000;
    for (int at = first; at < first + count; at += kBatch) {
      v1::IngestFilesRequest request;
      request.set_dataset(dataset);
      for (int i = at; i < std::min(first + count, at + kBatch); ++i) {
        v1::IngestFileEntry* e = request.add_files();
        e->set_path(absl::StrCat("s", i % 3, "/", i, ".dcm"));
        v1::DicomInstance* r = e->mutable_dicom();
        r->set_sop_instance_uid(absl::StrCat("1.2.", i));
        r->set_series_instance_uid(absl::StrCat("9.", i % 3));
        r->set_study_instance_uid("8.1");
        r->set_patient_id("P1");
        r->set_modality(modality);
        r->set_file_size(100);
        r->set_sha256(absl::StrCat("sha", i));
      }
      auto reply = dicom_->IngestFiles(request);
      ASSERT_TRUE(reply.ok()) << reply.status();
      for (const auto& result : reply->results()) {
        ASSERT_EQ(result.outcome(), v1::INGEST_OUTCOME_STORED) << result.message();
      }
    }
  }

  absl::StatusOr<v1::ManifestRecord> Freeze(const std::string& dataset, const std::string& name,
                                            const std::string& expression) {
    v1::FreezeManifestRequest request;
    request.set_dataset(dataset);
    request.set_name(name);
    request.set_expression(expression);
    return manifests_->Freeze(request);
  }

  // Every member of (dataset, name, version), read page by page.
  std::vector<std::string> Members(const std::string& dataset, const std::string& name,
                                   uint64_t version, uint32_t limit = 0, bool records = false,
                                   int* pages = nullptr) {
    v1::GetManifestRequest request;
    request.set_dataset(dataset);
    request.set_name(name);
    request.set_version(version);
    request.set_limit(limit);
    request.set_with_records(records);
    std::vector<std::string> uids;
    int n = 0;
    do {
      auto reply = manifests_->Get(request);
      EXPECT_TRUE(reply.ok()) << reply.status();
      if (!reply.ok()) break;
      ++n;
      EXPECT_FALSE(reply->members().empty());
      if (records) EXPECT_EQ(reply->records_size(), reply->members_size());
      for (int i = 0; i < reply->members_size(); ++i) {
        uids.push_back(reply->members(i).sop_instance_uid());
        EXPECT_NE(reply->members(i).inode(), 0u);
        if (records) {
          EXPECT_EQ(reply->records(i).sop_instance_uid(), uids.back());
          EXPECT_EQ(reply->records(i).inode(), reply->members(i).inode());
        }
      }
      request.set_cursor(reply->cursor());
    } while (!request.cursor().empty());
    if (pages != nullptr) *pages = n;
    return uids;
  }

  static std::vector<std::string> Uids(int first, int count) {
    std::set<std::string> sorted;
    for (int i = first; i < first + count; ++i) sorted.insert(absl::StrCat("1.2.", i));
    return {sorted.begin(), sorted.end()};
  }

  std::unique_ptr<DicomStore> dicom_;
  std::unique_ptr<ManifestStore> manifests_;
};

TEST_F(ManifestStoreTest, VersionsAreAllocatedAndKeepTheirMembersAfterMoreIngest) {
  Ingest("ds", 0, 6, "CT");
  Ingest("ds", 100, 4, "MR");
  auto v1 = Freeze("ds", "ct-train", "Modality = CT");
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(v1->version(), 1u);
  EXPECT_EQ(v1->instances(), 6u);
  EXPECT_EQ(v1->series(), 3u);
  EXPECT_EQ(v1->studies(), 1u);
  EXPECT_EQ(v1->bytes(), 600u);
  EXPECT_EQ(v1->expression(), "Modality = CT");
  EXPECT_EQ(v1->created_ns(), clock_.NowNs());

  Ingest("ds", 6, 5, "CT");  // more data arrives
  EXPECT_EQ(Members("ds", "ct-train", 1), Uids(0, 6));
  EXPECT_EQ(Members("ds", "ct-train", 0), Uids(0, 6));  // latest is still 1

  clock_.Advance(1000);
  auto v2 = Freeze("ds", "ct-train", "Modality = CT");
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->version(), 2u);
  EXPECT_EQ(v2->instances(), 11u);
  EXPECT_EQ(Members("ds", "ct-train", 0), Uids(0, 11));
  EXPECT_EQ(Members("ds", "ct-train", 1), Uids(0, 6));  // version 1 unchanged

  auto other = Freeze("ds", "mr", "Modality = MR");  // names count separately
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->version(), 1u);

  v1::ListManifestsRequest list;
  list.set_dataset("ds");
  auto all = manifests_->List(list);
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<std::string> listed;
  for (const auto& m : all->manifests()) listed.push_back(absl::StrCat(m.name(), "@", m.version()));
  EXPECT_EQ(listed, (std::vector<std::string>{"ct-train@1", "ct-train@2", "mr@1"}));
  list.set_name("mr");
  EXPECT_EQ(manifests_->List(list)->manifests_size(), 1);
}

TEST_F(ManifestStoreTest, EmptyResultIsAVersionToo) {
  Ingest("ds", 0, 3, "CT");
  auto v = Freeze("ds", "none", "Modality = US");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->instances(), 0u);
  v1::GetManifestRequest get;
  get.set_dataset("ds");
  get.set_name("none");
  auto reply = manifests_->Get(get);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->members_size(), 0);
  EXPECT_TRUE(reply->cursor().empty());
}

TEST_F(ManifestStoreTest, PagesCrossStoredPageBoundariesWithRecords) {
  MakeStores({.page_members = 3});
  Ingest("ds", 0, 20, "CT");
  ASSERT_TRUE(Freeze("ds", "all", "").ok());
  int pages = 0;
  EXPECT_EQ(Members("ds", "all", 1, /*limit=*/4, /*records=*/true, &pages), Uids(0, 20));
  EXPECT_EQ(pages, 5);
  EXPECT_EQ(Members("ds", "all", 1, /*limit=*/1000, /*records=*/false, &pages), Uids(0, 20));
  EXPECT_EQ(pages, 1);
}

TEST_F(ManifestStoreTest, ReplyBytesBoundThePage) {
  MakeStores({.reply_bytes = 1000});
  Ingest("ds", 0, 50, "CT");
  ASSERT_TRUE(Freeze("ds", "all", "").ok());
  int pages = 0;
  EXPECT_EQ(Members("ds", "all", 0, 0, /*records=*/true, &pages), Uids(0, 50));
  EXPECT_GE(pages, 4);  // ~80 bytes per member and record: ~12 per reply
  EXPECT_EQ(Members("ds", "all", 0, 0, /*records=*/false, &pages), Uids(0, 50));
  EXPECT_EQ(pages, 1);  // members alone are ~12 bytes
}

TEST_F(ManifestStoreTest, HundredThousandMembers) {
  Ingest("big", 0, 100000, "CT");
  auto v = Freeze("big", "all", "Modality = CT");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->instances(), 100000u);
  EXPECT_EQ(v->pages(), 98u);  // 1024 per page
  int pages = 0;
  EXPECT_EQ(Members("big", "all", 1, 0, false, &pages), Uids(0, 100000));
  EXPECT_EQ(pages, 10);  // 10000 per reply
  EXPECT_EQ(Members("big", "all", 1, 0, true, &pages).size(), 100000u);
  EXPECT_EQ(pages, 10);  // small test records: the limit, not the 2 MiB, ends a reply
}

TEST_F(ManifestStoreTest, ConcurrentFreezesGetDistinctVersions) {
  Ingest("ds", 0, 10, "CT");
  constexpr int kThreads = 4;
  std::vector<uint64_t> versions(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto v = Freeze("ds", "race", "");
      versions[t] = v.ok() ? v->version() : 0;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::set<uint64_t>(versions.begin(), versions.end()),
            (std::set<uint64_t>{1, 2, 3, 4}));
}

TEST_F(ManifestStoreTest, FailedFreezeWritesNothingAndCommittedOneSurvivesReopen) {
  MakeStores({.page_members = 4});
  Ingest("ds", 0, 30, "CT");
  EXPECT_EQ(Freeze("ds", "m", "NoSuchKeyword = 1").status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::ListManifestsRequest list;
  list.set_dataset("ds");
  EXPECT_EQ(manifests_->List(list)->manifests_size(), 0);
  ASSERT_EQ(Freeze("ds", "m", "").value().version(), 1u);  // the failure used no version
  Reopen();
  MakeStores({.page_members = 4});
  EXPECT_EQ(Members("ds", "m", 1, 0, true), Uids(0, 30));
  EXPECT_EQ(Freeze("ds", "m", "").value().version(), 2u);
}

TEST_F(ManifestStoreTest, Errors) {
  Ingest("ds", 0, 3, "CT");
  ASSERT_TRUE(Freeze("ds", "m", "").ok());
  v1::GetManifestRequest first;
  first.set_dataset("ds");
  first.set_name("m");
  first.set_limit(1);
  std::string cursor = manifests_->Get(first).value().cursor();
  ASSERT_FALSE(cursor.empty());

  struct Case {
    std::string what;
    std::function<absl::Status()> call;
    absl::StatusCode code;
  };
  auto get = [&](std::string dataset, std::string name, uint64_t version, std::string cursor) {
    v1::GetManifestRequest r;
    r.set_dataset(dataset);
    r.set_name(name);
    r.set_version(version);
    r.set_cursor(cursor);
    return manifests_->Get(r).status();
  };
  std::vector<Case> cases = {
      {"freeze, unknown dataset", [&] { return Freeze("nope", "m", "").status(); },
       absl::StatusCode::kNotFound},
      {"freeze, bad query", [&] { return Freeze("ds", "m", "Modality").status(); },
       absl::StatusCode::kInvalidArgument},
      {"freeze, unknown keyword", [&] { return Freeze("ds", "m", "Colour = red").status(); },
       absl::StatusCode::kInvalidArgument},
      {"freeze, empty name", [&] { return Freeze("ds", "", "").status(); },
       absl::StatusCode::kInvalidArgument},
      {"freeze, name with @", [&] { return Freeze("ds", "a@2", "").status(); },
       absl::StatusCode::kInvalidArgument},
      {"freeze, name with /", [&] { return Freeze("ds", "a/b", "").status(); },
       absl::StatusCode::kInvalidArgument},
      {"get, unknown dataset", [&] { return get("nope", "m", 0, ""); },
       absl::StatusCode::kNotFound},
      {"get, unknown manifest", [&] { return get("ds", "other", 0, ""); },
       absl::StatusCode::kNotFound},
      {"get, unknown version", [&] { return get("ds", "m", 2, ""); },
       absl::StatusCode::kNotFound},
      {"get, bad cursor", [&] { return get("ds", "m", 0, "xyz"); },
       absl::StatusCode::kInvalidArgument},
      {"get, cursor of another version", [&] { return get("ds", "m", 7, cursor); },
       absl::StatusCode::kInvalidArgument},
      {"get, cursor of this version", [&] { return get("ds", "m", 1, cursor); },
       absl::StatusCode::kOk},
      {"list, unknown dataset",
       [&] {
         v1::ListManifestsRequest r;
         r.set_dataset("nope");
         return manifests_->List(r).status();
       },
       absl::StatusCode::kNotFound},
  };
  for (const Case& c : cases) {
    absl::Status status = c.call();
    EXPECT_EQ(status.code(), c.code) << c.what << ": " << status;
  }
  // Messages name what was being done.
  EXPECT_NE(get("ds", "m", 2, "").message().find("no version 2 (versions 1 to 1)"),
            std::string::npos);
}

}  // namespace
}  // namespace medfs::meta
