#include "cli/ingest/deidentifier.h"

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "cli/ingest/deid_table.h"
#include "cli/ingest/dicom_parser.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcstack.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcmetinf.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cli/ingest/dicom_fixtures.h"

namespace medfs::ingest {
namespace {

using testing::MakeSeries;
using testing::SeriesSpec;

constexpr char kKey[] = "0123456789abcdef-test-key-32byte";

std::unique_ptr<DcmFileFormat> Load(const std::string& bytes) {
  auto ff = std::make_unique<DcmFileFormat>();
  DcmInputBufferStream in;
  in.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  in.setEos();
  ff->transferInit();
  EXPECT_TRUE(ff->read(in).good());
  ff->transferEnd();
  return ff;
}

// Every occurrence of `tag`, at any nesting depth.
std::vector<DcmElement*> FindAll(DcmDataset* ds, const DcmTagKey& tag) {
  DcmStack stack;
  std::vector<DcmElement*> out;
  if (ds->findAndGetElements(tag, stack).good()) {
    while (!stack.empty()) out.push_back(static_cast<DcmElement*>(stack.pop()));
  }
  return out;
}

std::string Value(DcmElement* e) {
  OFString v;
  e->getOFStringArray(v);
  return v.c_str();
}

std::string Get(DcmItem* ds, const DcmTagKey& tag) {
  OFString v;
  ds->findAndGetOFStringArray(tag, v);
  return v.c_str();
}

Deidentifier MakeDeid(bool retain_dates = false, bool retain_pc = false,
                      std::string key = kKey) {
  absl::StatusOr<Deidentifier> d = Deidentifier::Create({key, retain_dates, retain_pc});
  EXPECT_TRUE(d.ok());
  return *std::move(d);
}

TEST(DeidentifierTest, NoIdentifyingAttributeOfTheProfileRemains) {
  SeriesSpec spec;
  spec.slices = 2;
  testing::Series series = MakeSeries(spec);
  Deidentifier deid = MakeDeid();
  for (const testing::Instance& inst : series.instances) {
    absl::StatusOr<ParsedInstance> parsed = ParseDicom(inst.bytes, &deid);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    auto before = Load(inst.bytes);
    auto after = Load(parsed->bytes);
    DcmDataset* ds = after->getDataset();
    for (const DeidTableEntry& e : DeidTable()) {
      DcmTagKey tag(e.group, e.element);
      for (DcmElement* elem : FindAll(ds, tag)) {
        std::string v = Value(elem);
        switch (e.action) {
          case DeidAction::kX:
            ADD_FAILURE() << e.keyword << " should be removed, is '" << v << "'";
            break;
          case DeidAction::kZ:
            if (tag == DCM_PatientID || tag == DCM_PatientName) {
              EXPECT_EQ(v, deid.Pseudonym(spec.patient_id)) << e.keyword;
            } else {
              EXPECT_EQ(v, "") << e.keyword;
            }
            break;
          case DeidAction::kD:
            if (elem->getVR() != EVR_SQ) {
              for (DcmElement* old : FindAll(before->getDataset(), tag)) {
                if (!Value(old).empty()) EXPECT_NE(v, Value(old)) << e.keyword;
              }
            }
            break;
          case DeidAction::kU:
            if (elem->getVR() == EVR_UI && !v.empty()) {
              EXPECT_TRUE(absl::StartsWith(v, "2.25.")) << e.keyword << " " << v;
            }
            break;
          case DeidAction::kK:
            break;
        }
      }
    }
    // No private attribute anywhere.
    DcmStack stack;
    while (ds->nextObject(stack, OFTrue).good()) {
      EXPECT_FALSE(stack.top()->getTag().isPrivate()) << stack.top()->getTag().toString();
    }
    // None of the original identifying strings in the stored bytes.
    for (const std::string& phi :
         {std::string("Doe"), std::string("Springfield"), std::string("House"),
          std::string("ACC99812"), std::string("MRN-778812"), std::string("19610412"),
          std::string("ACME"), std::string("CTSCANNER07"), std::string("SN-443211"),
          std::string("anxious"), std::string(spec.patient_id), series.study_uid,
          series.series_uid, inst.sop_uid, std::string("1.2.3.4.5.6.7.8.9")}) {
      EXPECT_EQ(parsed->bytes.find(phi), std::string::npos) << phi;
    }
    EXPECT_EQ(Get(ds, DCM_PatientIdentityRemoved), "YES");
    DcmItem* code = nullptr;
    ASSERT_TRUE(ds->findAndGetSequenceItem(DCM_DeidentificationMethodCodeSequence, code, 0).good());
    OFString value;
    code->findAndGetOFString(DCM_CodeValue, value);
    EXPECT_EQ(value, "113100");
    // Pixels unchanged, and the record points at them in the new bytes.
    const v1::DicomInstance& r = parsed->record;
    ASSERT_EQ(r.pixel_data_length(), inst.pixels.size() * 2);
    EXPECT_EQ(std::memcmp(parsed->bytes.data() + r.pixel_data_offset(),
                          inst.pixels.data(), r.pixel_data_length()), 0);
    EXPECT_EQ(r.sop_instance_uid(), deid.RemapUid(inst.sop_uid));
    EXPECT_EQ(r.study_instance_uid(), deid.RemapUid(series.study_uid));
    EXPECT_EQ(r.patient_id(), deid.Pseudonym(spec.patient_id));
    EXPECT_EQ(Get(after->getMetaInfo(), DCM_MediaStorageSOPInstanceUID),
              r.sop_instance_uid());
    // Attributes the profile keeps.
    EXPECT_EQ(r.modality(), "CT");
    EXPECT_EQ(r.image_position_patient_size(), 3);
    EXPECT_EQ(Get(ds, DCM_StudyDate), "");
  }
}

TEST(DeidentifierTest, DcmdumpShowsNoIdentifyingValue) {
  testing::TempDir dir;
  SeriesSpec spec;
  spec.slices = 1;
  testing::Series series = MakeSeries(spec);
  Deidentifier deid = MakeDeid();
  absl::StatusOr<ParsedInstance> parsed = ParseDicom(series.instances[0].bytes, &deid);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  testing::WriteFile(dir.Sub("out.dcm"), parsed->bytes);
  std::string dump;
  ASSERT_EQ(testing::Shell("dcmdump +L " + dir.Sub("out.dcm"), &dump), 0);
  for (const char* phi : {"Doe", "Springfield", "House^Gregory", "Wilson", "Tech^Tina",
                          "ACC99812", "STUDY42", "19610412", "Radiology", "ACME"}) {
    EXPECT_FALSE(absl::StrContains(dump, phi)) << phi << "\n" << dump;
  }
  EXPECT_TRUE(absl::StrContains(dump, "(0012,0062) CS [YES]")) << dump;
}

TEST(DeidentifierTest, UidsAreConsistentAcrossRunsAndKeys) {
  SeriesSpec spec;
  spec.slices = 2;
  testing::Series series = MakeSeries(spec);
  SeriesSpec mr = spec;
  mr.modality = "MR";
  mr.study_uid = series.study_uid;  // second series of the same study
  testing::Series series2 = MakeSeries(mr);
  // Two independent runs with the same key.
  Deidentifier run1 = MakeDeid(), run2 = MakeDeid();
  Deidentifier other_key = MakeDeid(false, false, "another-secret-key-0000000");
  auto p1 = ParseDicom(series.instances[1].bytes, &run1);
  auto p2 = ParseDicom(series.instances[1].bytes, &run2);
  auto p3 = ParseDicom(series2.instances[0].bytes, &run2);
  auto p4 = ParseDicom(series.instances[1].bytes, &other_key);
  ASSERT_TRUE(p1.ok() && p2.ok() && p3.ok() && p4.ok());
  EXPECT_EQ(p1->bytes, p2->bytes);  // fully deterministic
  EXPECT_EQ(p1->record.sop_instance_uid(), p2->record.sop_instance_uid());
  EXPECT_EQ(p1->record.study_instance_uid(), p3->record.study_instance_uid());
  EXPECT_NE(p1->record.series_instance_uid(), p3->record.series_instance_uid());
  EXPECT_NE(p1->record.study_instance_uid(), p4->record.study_instance_uid());
  EXPECT_LE(p1->record.sop_instance_uid().size(), 64u);
  // Frame of reference shared by the series stays shared.
  auto a = Load(p1->bytes);
  auto b = Load(ParseDicom(series.instances[0].bytes, &run2)->bytes);
  EXPECT_EQ(Get(a->getDataset(), DCM_FrameOfReferenceUID),
            Get(b->getDataset(), DCM_FrameOfReferenceUID));
  // Registry UIDs are kept.
  EXPECT_EQ(Get(a->getDataset(), DCM_SOPClassUID), UID_CTImageStorage);
}

TEST(DeidentifierTest, RetainLongitudinalShiftsDatesPerPatient) {
  SeriesSpec spec;
  spec.slices = 1;
  testing::Series series = MakeSeries(spec);
  Deidentifier deid = MakeDeid(/*retain_dates=*/true);
  auto parsed = ParseDicom(series.instances[0].bytes, &deid);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  auto ff = Load(parsed->bytes);
  DcmDataset* ds = ff->getDataset();
  absl::CivilDay expected = absl::CivilDay(2023, 3, 1) - deid.DateShiftDays(spec.patient_id);
  std::string date = absl::StrFormat("%04d%02d%02d", expected.year(), expected.month(),
                                     expected.day());
  EXPECT_EQ(Get(ds, DCM_StudyDate), date);
  EXPECT_EQ(Get(ds, DCM_ContentDate), date);
  EXPECT_EQ(Get(ds, DCM_AcquisitionDateTime), date + "101502.25");
  EXPECT_EQ(Get(ds, DCM_StudyTime), "101500");  // times kept
  EXPECT_EQ(Get(ds, DCM_PatientBirthDate), "");  // Z, not a study date
  EXPECT_EQ(Get(ds, DCM_LongitudinalTemporalInformationModified), "MODIFIED");
  EXPECT_EQ(parsed->record.study_date(), date);
}

TEST(DeidentifierTest, RetainPatientCharacteristicsKeepsThem) {
  SeriesSpec spec;
  spec.slices = 1;
  testing::Series series = MakeSeries(spec);
  struct Case { bool retain; const char* sex; const char* age; };
  for (Case c : {Case{true, "F", "062Y"}, Case{false, "", ""}}) {
    Deidentifier deid = MakeDeid(false, c.retain);
    auto parsed = ParseDicom(series.instances[0].bytes, &deid);
    ASSERT_TRUE(parsed.ok());
    auto ff = Load(parsed->bytes);
    EXPECT_EQ(Get(ff->getDataset(), DCM_PatientSex), c.sex);
    EXPECT_EQ(Get(ff->getDataset(), DCM_PatientAge), c.age);
  }
}

TEST(DeidentifierTest, CompressedPixelsSurviveUnchanged) {
  testing::TempDir dir;
  SeriesSpec spec;
  spec.slices = 1;
  testing::WriteFile(dir.Sub("in.dcm"), MakeSeries(spec).instances[0].bytes);
  ASSERT_EQ(testing::Shell("dcmcjpls " + dir.Sub("in.dcm") + " " + dir.Sub("c.dcm")), 0);
  std::string bytes = testing::ReadFile(dir.Sub("c.dcm"));
  auto original = ParseDicom(bytes, nullptr);
  Deidentifier deid = MakeDeid();
  auto parsed = ParseDicom(bytes, &deid);
  ASSERT_TRUE(original.ok() && parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->record.transfer_syntax_uid(), "1.2.840.10008.1.2.4.80");
  EXPECT_EQ(parsed->bytes.substr(parsed->record.pixel_data_offset(),
                                 parsed->record.pixel_data_length()),
            bytes.substr(original->record.pixel_data_offset(),
                         original->record.pixel_data_length()));
}

TEST(DeidentifierTest, RefusesBurnedInAnnotationAndShortKeys) {
  EXPECT_EQ(Deidentifier::Create({"short"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  testing::TempDir dir;
  SeriesSpec spec;
  spec.slices = 1;
  testing::WriteFile(dir.Sub("in.dcm"), MakeSeries(spec).instances[0].bytes);
  ASSERT_EQ(testing::Shell("dcmodify -nb -i '(0028,0301)=YES' " + dir.Sub("in.dcm")), 0);
  Deidentifier deid = MakeDeid();
  auto parsed = ParseDicom(testing::ReadFile(dir.Sub("in.dcm")), &deid);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace medfs::ingest
