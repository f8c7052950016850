// DicomStore::Query over a real MetaStore: every operator on string and
// numeric keywords (negative and fractional numbers, absent attributes,
// values that are prefixes of others) answered from the secondary indexes
// and by a full scan, both checked against a reference evaluation of the
// same predicate; the chosen plan; the series and study levels; paging;
// and the error codes. The parser and key encodings are checked directly.
#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "meta/dicom/dicom_keys.h"
#include "meta/dicom/dicom_query.h"
#include "meta/dicom/dicom_store.h"
#include "tests/meta/store/test_util.h"

namespace medfs::meta {
namespace {

constexpr int kInstances = 120;

// Instance i of the test dataset: 3 studies of 4 series of 10 instances.
v1::DicomInstance MakeRecord(int i) {
  v1::DicomInstance r;
  int series = i / 10;
  r.set_sop_instance_uid(absl::StrFormat("1.3.%03d", i));
  r.set_series_instance_uid(absl::StrCat("1.2.", series));
  r.set_study_instance_uid(absl::StrCat("1.1.", i / 40));
  r.set_patient_id(absl::StrCat("P", i / 40 % 2));
  static const char* kModalities[] = {"CT", "MR", "CTA"};  // "CT" is a prefix of "CTA"
  r.set_modality(kModalities[series % 3]);
  if (i % 5 != 0) r.set_body_part_examined(series % 2 == 0 ? "CHEST" : "ABDOMEN");
  r.set_slice_thickness(0.5 + (i % 4) * 0.5);
  static const double kIntercepts[] = {-1024, 0, -1.5};
  r.set_rescale_intercept(kIntercepts[i % 3]);
  r.set_instance_number(i % 10 + 1);
  r.set_rows(i % 2 == 0 ? 256 : 512);
  r.set_study_date(absl::StrFormat("202001%02d", i % 28 + 1));
  r.set_file_size(1000 + i);
  if (i % 6 != 0) {
    r.add_pixel_spacing(0.5 + (i % 3) * 0.25);
    r.add_pixel_spacing(0.5 + (i % 3) * 0.25);
  }
  r.add_window_center(40 + (i % 3) * 10);
  r.set_sha256(absl::StrCat("sha", i));
  return r;
}

using Reference = std::function<bool(const v1::DicomInstance&)>;

bool HasBodyPart(const v1::DicomInstance& r) { return !r.body_part_examined().empty(); }

class DicomQueryTest : public testing::StoreTest {
 public:
  void SetUp() override {
    StoreTest::SetUp();
    dicom_ = std::make_unique<DicomStore>(store_.get());
    v1::IngestFilesRequest request;
    request.set_dataset("ds");
    for (int i = 0; i < kInstances; ++i) {
      v1::IngestFileEntry* e = request.add_files();
      *e->mutable_dicom() = MakeRecord(i);
      e->set_path(absl::StrCat(e->dicom().series_instance_uid(), "/",
                               e->dicom().sop_instance_uid(), ".dcm"));
      e->set_size(e->dicom().file_size());
      records_.push_back(e->dicom());
    }
    auto reply = dicom_->IngestFiles(request);
    ASSERT_TRUE(reply.ok()) << reply.status();
    // Another dataset with matching records must never leak into "ds".
    request.set_dataset("ds2");
    ASSERT_TRUE(dicom_->IngestFiles(request).ok());
  }

  std::set<std::string> Expected(const Reference& ref) {
    std::set<std::string> out;
    for (const v1::DicomInstance& r : records_) {
      if (ref(r)) out.insert(r.sop_instance_uid());
    }
    return out;
  }

  absl::StatusOr<v1::QueryDicomReply> Run(const std::string& expression, bool full_scan,
                                          v1::DicomLevel level = v1::DICOM_LEVEL_INSTANCE,
                                          uint32_t limit = 0, const std::string& cursor = "") {
    v1::QueryDicomRequest q;
    q.set_dataset("ds");
    q.set_expression(expression);
    q.set_full_scan(full_scan);
    q.set_level(level);
    q.set_limit(limit);
    q.set_cursor(cursor);
    return dicom_->Query(q);
  }

  std::unique_ptr<DicomStore> dicom_;
  std::vector<v1::DicomInstance> records_;
};

struct OperatorCase {
  std::string expression;
  Reference ref;
  bool indexed;      // the index can answer it (plan "index ...")
  bool exact_range;  // the index range holds exactly the matches
};

std::vector<OperatorCase> OperatorCases() {
  using R = const v1::DicomInstance&;
  return {
      // Strings, with "CT" a prefix of "CTA".
      {"Modality = CT", [](R r) { return r.modality() == "CT"; }, true, true},
      {"Modality == 'CTA'", [](R r) { return r.modality() == "CTA"; }, true, true},
      {"Modality != CT", [](R r) { return r.modality() != "CT"; }, false, false},
      {"Modality < CTA", [](R r) { return r.modality() < "CTA"; }, true, true},
      {"Modality <= CTA", [](R r) { return r.modality() <= "CTA"; }, true, true},
      {"Modality > CT", [](R r) { return r.modality() > "CT"; }, true, true},
      {"Modality >= CTA", [](R r) { return r.modality() >= "CTA"; }, true, true},
      {"Modality ~ 'CT*'", [](R r) { return r.modality().rfind("CT", 0) == 0; }, true, true},
      {"Modality ~ 'C?A'", [](R r) { return r.modality() == "CTA"; }, true, false},
      {"Modality ~ '*A'", [](R r) { return r.modality() == "CTA"; }, false, false},
      {"Modality = XR", [](R) { return false; }, true, true},
      // Absent attributes match no comparison, not even !=.
      {"BodyPartExamined = CHEST", [](R r) { return r.body_part_examined() == "CHEST"; }, true,
       true},
      {"BodyPartExamined != CHEST",
       [](R r) { return HasBodyPart(r) && r.body_part_examined() != "CHEST"; }, false, false},
      {"BodyPartExamined >= A", [](R r) { return HasBodyPart(r); }, true, true},
      {"StudyDate >= 20200115", [](R r) { return r.study_date() >= "20200115"; }, true, true},
      {"PatientID = 'P1'", [](R r) { return r.patient_id() == "P1"; }, true, true},
      {"SeriesInstanceUID = 1.2.3", [](R r) { return r.series_instance_uid() == "1.2.3"; }, true,
       true},
      // Numbers, fractional and negative.
      {"SliceThickness = 1.5", [](R r) { return r.slice_thickness() == 1.5; }, true, true},
      {"SliceThickness != 1.5", [](R r) { return r.slice_thickness() != 1.5; }, false, false},
      {"SliceThickness < 1", [](R r) { return r.slice_thickness() < 1; }, true, true},
      {"SliceThickness <= 1", [](R r) { return r.slice_thickness() <= 1; }, true, true},
      {"SliceThickness > 1.5", [](R r) { return r.slice_thickness() > 1.5; }, true, true},
      {"SliceThickness >= 1.5", [](R r) { return r.slice_thickness() >= 1.5; }, true, true},
      {"RescaleIntercept = -1024", [](R r) { return r.rescale_intercept() == -1024; }, true, true},
      {"RescaleIntercept < -1", [](R r) { return r.rescale_intercept() < -1; }, true, true},
      {"RescaleIntercept >= -1.5", [](R r) { return r.rescale_intercept() >= -1.5; }, true, true},
      {"RescaleIntercept > -2000", [](R) { return true; }, true, true},
      {"InstanceNumber <= 3", [](R r) { return r.instance_number() <= 3; }, true, true},
      {"Rows = 512", [](R r) { return r.rows() == 512; }, true, true},
      {"FileSize > 1100", [](R r) { return r.file_size() > 1100; }, true, true},
      {"PixelSpacing < 0.7",
       [](R r) { return r.pixel_spacing_size() > 0 && r.pixel_spacing(0) < 0.7; }, true, true},
      // Keywords without an index are filtered during a scan.
      {"WindowCenter = 50", [](R r) { return r.window_center(0) == 50; }, false, false},
      {"SOPInstanceUID = 1.3.007", [](R r) { return r.sop_instance_uid() == "1.3.007"; }, false,
       false},
      // Case-insensitive keywords and 'and'.
      {"modality = CT AND slicethickness <= 1",
       [](R r) { return r.modality() == "CT" && r.slice_thickness() <= 1; }, true, false},
      {"Modality = CT and SliceThickness <= 1 and BodyPartExamined = CHEST",
       [](R r) {
         return r.modality() == "CT" && r.slice_thickness() <= 1 &&
                r.body_part_examined() == "CHEST";
       },
       true, false},
      {"Modality != MR and WindowCenter >= 50",
       [](R r) { return r.modality() != "MR" && r.window_center(0) >= 50; }, false, false},
      {"", [](R) { return true; }, false, false},
  };
}

TEST_F(DicomQueryTest, EveryOperatorByIndexAndByScanMatchesTheReference) {
  for (const OperatorCase& c : OperatorCases()) {
    SCOPED_TRACE(c.expression);
    std::set<std::string> expected = Expected(c.ref);
    for (bool full_scan : {false, true}) {
      SCOPED_TRACE(full_scan ? "full scan" : "planned");
      auto reply = Run(c.expression, full_scan);
      ASSERT_TRUE(reply.ok()) << reply.status();
      std::set<std::string> got;
      for (const auto& r : reply->instances()) {
        EXPECT_TRUE(got.insert(r.sop_instance_uid()).second) << "twice: " << r.sop_instance_uid();
        EXPECT_EQ(r.path(), absl::StrCat(r.series_instance_uid(), "/", r.sop_instance_uid(),
                                         ".dcm"));
        EXPECT_NE(r.inode(), 0u);
      }
      EXPECT_EQ(got, expected);
      EXPECT_TRUE(reply->cursor().empty());
      bool index_plan = !full_scan && c.indexed;
      EXPECT_EQ(reply->plan().rfind(index_plan ? "index " : "full scan", 0), 0u)
          << reply->plan();
      if (!index_plan) EXPECT_EQ(reply->examined(), static_cast<uint64_t>(kInstances));
      if (index_plan && c.exact_range) EXPECT_EQ(reply->examined(), expected.size());
    }
  }
}

// The most selective index among several predicates is the one scanned
// (ranges are counted 256 keys per turn, so they must be larger than that).
TEST_F(DicomQueryTest, PlanPicksTheSmallestIndexRange) {
  constexpr int kBig = 3000;
  for (int at = 0; at < kBig; at += 1000) {
    v1::IngestFilesRequest request;
    request.set_dataset("big");
    for (int i = at; i < at + 1000; ++i) {
      v1::IngestFileEntry* e = request.add_files();
      *e->mutable_dicom() = MakeRecord(i);
      e->set_path(absl::StrCat(i, ".dcm"));
    }
    ASSERT_TRUE(dicom_->IngestFiles(request).ok());
  }
  struct Case {
    std::string expression;
    std::string plan;
    uint64_t examined;
  } cases[] = {
      {"Modality ~ 'C*' and InstanceNumber = 4 and SliceThickness >= 0.5",
       "index InstanceNumber = 4", 300},
      {"SliceThickness >= 0.5 and Modality = MR", "index Modality = MR", 1000},
      {"Modality != MR and Rows = 512", "index Rows = 512", 1500},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.expression);
    v1::QueryDicomRequest q;
    q.set_dataset("big");
    q.set_expression(c.expression);
    auto reply = dicom_->Query(q);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->plan(), c.plan);
    EXPECT_EQ(reply->examined(), c.examined);
  }
}

TEST_F(DicomQueryTest, SeriesAndStudyLevels) {
  struct Case {
    v1::DicomLevel level;
    std::string (*key)(const v1::DicomInstance&);
  } cases[] = {
      {v1::DICOM_LEVEL_SERIES, [](const v1::DicomInstance& r) { return r.series_instance_uid(); }},
      {v1::DICOM_LEVEL_STUDY, [](const v1::DicomInstance& r) { return r.study_instance_uid(); }},
  };
  const std::string expression = "Modality ~ 'CT*' and SliceThickness <= 1";
  for (const Case& c : cases) {
    SCOPED_TRACE(v1::DicomLevel_Name(c.level));
    std::map<std::string, v1::DicomGroup> expected;
    for (const v1::DicomInstance& r : records_) {
      if (r.modality().rfind("CT", 0) != 0 || r.slice_thickness() > 1) continue;
      v1::DicomGroup& g = expected[c.key(r)];
      g.set_uid(c.key(r));
      g.set_instances(g.instances() + 1);
      g.set_bytes(g.bytes() + r.file_size());
      if (!g.has_first() || r.sop_instance_uid() < g.first().sop_instance_uid()) {
        *g.mutable_first() = r;
      }
    }
    for (bool full_scan : {false, true}) {
      auto reply = Run(expression, full_scan, c.level);
      ASSERT_TRUE(reply.ok()) << reply.status();
      EXPECT_EQ(reply->instances_size(), 0);
      ASSERT_EQ(reply->groups_size(), static_cast<int>(expected.size()));
      for (const v1::DicomGroup& g : reply->groups()) {
        ASSERT_TRUE(expected.count(g.uid())) << g.uid();
        const v1::DicomGroup& want = expected[g.uid()];
        EXPECT_EQ(g.instances(), want.instances()) << g.uid();
        EXPECT_EQ(g.bytes(), want.bytes()) << g.uid();
        EXPECT_EQ(g.first().sop_instance_uid(), want.first().sop_instance_uid()) << g.uid();
      }
    }
  }
}

TEST_F(DicomQueryTest, PagingReturnsEveryMatchOnce) {
  struct Case {
    std::string expression;
    bool full_scan;
    uint32_t limit;
  } cases[] = {
      {"Modality = CT", false, 7},
      {"Modality = CT", true, 7},
      {"SliceThickness >= 1", false, 1},
      {"", false, 50},
      {"Modality != MR", false, 13},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.expression, " limit ", c.limit, c.full_scan ? " scan" : ""));
    auto all = Run(c.expression, c.full_scan);
    ASSERT_TRUE(all.ok()) << all.status();
    std::vector<std::string> want;
    for (const auto& r : all->instances()) want.push_back(r.sop_instance_uid());
    std::vector<std::string> got;
    std::string cursor;
    int pages = 0;
    do {
      auto page = Run(c.expression, c.full_scan, v1::DICOM_LEVEL_INSTANCE, c.limit, cursor);
      ASSERT_TRUE(page.ok()) << page.status();
      ASSERT_LE(page->instances_size(), static_cast<int>(c.limit));
      for (const auto& r : page->instances()) got.push_back(r.sop_instance_uid());
      cursor = page->cursor();
      ASSERT_LT(++pages, kInstances + 2) << "paging does not end";
    } while (!cursor.empty());
    EXPECT_EQ(got, want);
  }
}

TEST_F(DicomQueryTest, Errors) {
  struct Case {
    std::string dataset;
    std::string expression;
    std::string cursor;
    absl::StatusCode code;
  } cases[] = {
      {"missing", "Modality = CT", "", absl::StatusCode::kNotFound},
      {"ds", "Colour = red", "", absl::StatusCode::kInvalidArgument},
      {"ds", "Modality = CT or Modality = MR", "", absl::StatusCode::kInvalidArgument},
      {"ds", "Modality = CT and", "", absl::StatusCode::kInvalidArgument},
      {"ds", "Modality CT", "", absl::StatusCode::kInvalidArgument},
      {"ds", "Modality = 'CT", "", absl::StatusCode::kInvalidArgument},
      {"ds", "SliceThickness ~ '1*'", "", absl::StatusCode::kInvalidArgument},
      {"ds", "Rows = many", "", absl::StatusCode::kInvalidArgument},
      {"ds", "Modality = CT", std::string("\x05", 1) + "x", absl::StatusCode::kInvalidArgument},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.expression);
    v1::QueryDicomRequest q;
    q.set_dataset(c.dataset);
    q.set_expression(c.expression);
    q.set_cursor(c.cursor);
    EXPECT_EQ(dicom_->Query(q).status().code(), c.code);
  }
}

// The key encodings the index ranges rely on.
TEST(DicomKeysTest, EncodingsSortLikeTheirValues) {
  const double numbers[] = {-1e9, -1024, -1.5, -0.25, 0, 1e-9, 0.5, 1, 1.5, 512, 1e12};
  for (size_t i = 0; i + 1 < std::size(numbers); ++i) {
    std::string a, b;
    dicom::AppendNumber(&a, numbers[i]);
    dicom::AppendNumber(&b, numbers[i + 1]);
    EXPECT_LT(a, b) << numbers[i] << " vs " << numbers[i + 1];
  }
  const std::string strings[] = {"", std::string("\0", 1), std::string("\0\x01", 2), "A",
                                 "CT", std::string("CT\0", 3), "CTA", "MR", "\xff"};
  for (size_t i = 0; i + 1 < std::size(strings); ++i) {
    std::string a, b;
    dicom::AppendString(&a, strings[i]);
    dicom::AppendString(&b, strings[i + 1]);
    EXPECT_LT(a + "SOP", b + "SOP") << i;  // also with the SOP UID that follows
    std::string prefix;
    dicom::AppendStringPrefix(&prefix, strings[i]);
    EXPECT_EQ(a.rfind(prefix, 0), 0u) << i;
  }
  EXPECT_EQ(dicom::PrefixSuccessor("ab"), "ac");
  EXPECT_EQ(dicom::PrefixSuccessor(std::string("a\xff", 2)), "b");
  EXPECT_EQ(dicom::PrefixSuccessor(std::string("\xff\xff", 2)), "");
}

TEST(DicomKeysTest, SopComesBackFromEveryIndexKey) {
  v1::DicomInstance r = MakeRecord(7);
  std::vector<std::string> keys = dicom::IndexKeys("ds", r);
  ASSERT_FALSE(keys.empty());
  for (const dicom::Keyword* k : dicom::IndexedKeywords()) {
    std::string prefix = dicom::IndexPrefix("ds", k->tag);
    for (const std::string& key : keys) {
      if (key.rfind(prefix, 0) != 0) continue;
      EXPECT_EQ(dicom::SopFromIndexKey(key, prefix.size(), k->numeric), r.sop_instance_uid())
          << k->name;
    }
  }
  // Absent attributes have no index entry: BodyPartExamined of instance 0.
  v1::DicomInstance absent = MakeRecord(0);
  std::string body = dicom::IndexPrefix("ds", dicom::FindKeyword("BodyPartExamined")->tag);
  for (const std::string& key : dicom::IndexKeys("ds", absent)) {
    EXPECT_NE(key.rfind(body, 0), 0u);
  }
}

TEST(DicomParseTest, PredicatesOfAnExpression) {
  auto ps = dicom::ParseExpression(
      "modality = 'CT' and SliceThickness<=1.25 AND BodyPartExamined ~ \"CHE*\"");
  ASSERT_TRUE(ps.ok()) << ps.status();
  ASSERT_EQ(ps->size(), 3u);
  EXPECT_STREQ((*ps)[0].keyword->name, "Modality");
  EXPECT_EQ((*ps)[0].op, dicom::Op::kEq);
  EXPECT_EQ((*ps)[0].text, "CT");
  EXPECT_EQ((*ps)[1].op, dicom::Op::kLe);
  EXPECT_DOUBLE_EQ((*ps)[1].number, 1.25);
  EXPECT_EQ((*ps)[2].op, dicom::Op::kGlob);
  EXPECT_EQ((*ps)[2].text, "CHE*");
  EXPECT_EQ(dicom::Describe((*ps)[1]), "SliceThickness <= 1.25");
  auto empty = dicom::ParseExpression("   ");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

}  // namespace
}  // namespace medfs::meta
