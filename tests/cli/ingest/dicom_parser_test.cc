#include "cli/ingest/dicom_parser.h"

#include <dirent.h>

#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "tests/cli/ingest/dicom_fixtures.h"

namespace medfs::ingest {
namespace {

using ::testing::HasSubstr;
using testing::MakeSeries;
using testing::SeriesSpec;

// Reads `bytes` fully with DCMTK (pixels included).
std::unique_ptr<DcmFileFormat> LoadWithDcmtk(const std::string& bytes) {
  auto ff = std::make_unique<DcmFileFormat>();
  DcmInputBufferStream in;
  in.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  in.setEos();
  ff->transferInit();
  OFCondition cond = ff->read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
  ff->transferEnd();
  EXPECT_TRUE(cond.good()) << cond.text();
  return ff;
}

// The native pixel bytes DCMTK decoded, in the file's byte order.
std::string DcmtkNativePixels(DcmFileFormat* ff, DcmTagKey tag) {
  DcmElement* pixel = nullptr;
  if (ff->getDataset()->findAndGetElement(tag, pixel).bad()) return "";
  Uint8* data = nullptr;
  pixel->getUint8Array(data);
  std::string out(reinterpret_cast<const char*>(data), pixel->getLength());
  if (ff->getDataset()->getOriginalXfer() == EXS_BigEndianExplicit &&
      pixel->getVR() == EVR_OW) {
    for (size_t i = 0; i + 1 < out.size(); i += 2) std::swap(out[i], out[i + 1]);
  }
  return out;
}

struct XferCase {
  const char* name;
  E_TransferSyntax xfer;
  bool with_meta;
  const char* expected_ts;
};

class NativeXferTest : public ::testing::TestWithParam<XferCase> {};

TEST_P(NativeXferTest, RecordAndPixelLocationMatchDcmtk) {
  SeriesSpec spec;
  spec.xfer = GetParam().xfer;
  spec.with_meta = GetParam().with_meta;
  spec.slices = 2;
  testing::Series series = MakeSeries(spec);
  for (const testing::Instance& inst : series.instances) {
    absl::StatusOr<ParsedInstance> parsed = ParseDicom(inst.bytes, nullptr);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    const v1::DicomInstance& r = parsed->record;
    EXPECT_EQ(r.sop_instance_uid(), inst.sop_uid);
    EXPECT_EQ(r.series_instance_uid(), series.series_uid);
    EXPECT_EQ(r.study_instance_uid(), series.study_uid);
    EXPECT_EQ(r.modality(), "CT");
    EXPECT_EQ(r.body_part_examined(), "CHEST");
    EXPECT_EQ(r.rows(), 64u);
    EXPECT_EQ(r.columns(), 64u);
    EXPECT_EQ(r.bits_allocated(), 16u);
    EXPECT_EQ(r.bits_stored(), 12u);
    EXPECT_EQ(r.number_of_frames(), 1u);
    EXPECT_EQ(r.photometric_interpretation(), "MONOCHROME2");
    EXPECT_DOUBLE_EQ(r.rescale_intercept(), -1024);
    EXPECT_DOUBLE_EQ(r.slice_thickness(), 1.25);
    EXPECT_THAT(r.window_center(), ::testing::ElementsAre(40, 400));
    ASSERT_EQ(r.image_position_patient_size(), 3);
    EXPECT_EQ(r.transfer_syntax_uid(), GetParam().expected_ts);
    EXPECT_EQ(r.file_size(), inst.bytes.size());
    EXPECT_EQ(r.sha256().size(), 32u);
    EXPECT_EQ(parsed->bytes, inst.bytes);  // stored unchanged
    ASSERT_EQ(r.pixel_data_length(), inst.pixels.size() * 2);
    EXPECT_FALSE(r.pixel_data_encapsulated());
    auto ff = LoadWithDcmtk(inst.bytes);
    EXPECT_EQ(parsed->bytes.substr(r.pixel_data_offset(), r.pixel_data_length()),
              DcmtkNativePixels(ff.get(), DCM_PixelData));
  }
}

INSTANTIATE_TEST_SUITE_P(
    TransferSyntaxes, NativeXferTest,
    ::testing::Values(
        XferCase{"ExplicitLE", EXS_LittleEndianExplicit, true, "1.2.840.10008.1.2.1"},
        XferCase{"ImplicitLE", EXS_LittleEndianImplicit, true, "1.2.840.10008.1.2"},
        XferCase{"ExplicitBE", EXS_BigEndianExplicit, true, "1.2.840.10008.1.2.2"},
        XferCase{"RawExplicit", EXS_LittleEndianExplicit, false, "1.2.840.10008.1.2.1"},
        XferCase{"RawImplicit", EXS_LittleEndianImplicit, false, "1.2.840.10008.1.2"}),
    [](const auto& info) { return info.param.name; });

struct CodecCase {
  const char* name;
  const char* tool;  // DCMTK command line encoder
  const char* ts;
};

class EncapsulatedTest : public ::testing::TestWithParam<CodecCase> {};

TEST_P(EncapsulatedTest, FragmentsLieInsideTheRecordedRange) {
  testing::TempDir dir;
  SeriesSpec spec;
  spec.slices = 1;
  testing::Series series = MakeSeries(spec);
  testing::WriteFile(dir.Sub("in.dcm"), series.instances[0].bytes);
  ASSERT_EQ(testing::Shell(absl::StrCat(GetParam().tool, " ", dir.Sub("in.dcm"),
                                        " ", dir.Sub("out.dcm"))), 0);
  std::string bytes = testing::ReadFile(dir.Sub("out.dcm"));
  absl::StatusOr<ParsedInstance> parsed = ParseDicom(bytes, nullptr);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const v1::DicomInstance& r = parsed->record;
  EXPECT_EQ(r.transfer_syntax_uid(), GetParam().ts);
  EXPECT_TRUE(r.pixel_data_encapsulated());
  // The range starts with the first item and ends at the delimiter.
  EXPECT_EQ(bytes.substr(r.pixel_data_offset(), 4), std::string("\xFE\xFF\x00\xE0", 4));
  EXPECT_EQ(bytes.substr(r.pixel_data_offset() + r.pixel_data_length(), 4),
            std::string("\xFE\xFF\xDD\xE0", 4));
  // Walking the items in the range yields DCMTK's fragments exactly.
  auto ff = LoadWithDcmtk(bytes);
  DcmPixelData* pixel = nullptr;
  ASSERT_TRUE(ff->getDataset()->findAndGetElement(
      DCM_PixelData, reinterpret_cast<DcmElement*&>(pixel)).good());
  DcmPixelSequence* sequence = nullptr;
  ASSERT_TRUE(pixel->getEncapsulatedRepresentation(
      ff->getDataset()->getOriginalXfer(), nullptr, sequence).good());
  size_t pos = r.pixel_data_offset();
  for (unsigned long i = 0; i < sequence->card(); ++i) {
    DcmPixelItem* item = nullptr;
    ASSERT_TRUE(sequence->getItem(item, i).good());
    Uint8* data = nullptr;
    item->getUint8Array(data);
    uint32_t length;
    std::memcpy(&length, bytes.data() + pos + 4, 4);
    ASSERT_EQ(length, item->getLength()) << "fragment " << i;
    EXPECT_EQ(std::memcmp(bytes.data() + pos + 8, data, length), 0);
    pos += 8 + length;
  }
  EXPECT_EQ(pos, r.pixel_data_offset() + r.pixel_data_length());
}

INSTANTIATE_TEST_SUITE_P(
    Codecs, EncapsulatedTest,
    ::testing::Values(CodecCase{"JpegLs", "dcmcjpls", "1.2.840.10008.1.2.4.80"},
                      CodecCase{"Rle", "dcmcrle", "1.2.840.10008.1.2.5"}),
    [](const auto& info) { return info.param.name; });

struct BadCase {
  const char* name;
  std::function<std::string(const std::string&)> damage;
  const char* reason;
};

class RejectTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(RejectTest, RejectedWithReason) {
  SeriesSpec spec;
  spec.slices = 1;
  std::string bytes = GetParam().damage(MakeSeries(spec).instances[0].bytes);
  absl::StatusOr<ParsedInstance> parsed = ParseDicom(bytes, nullptr);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(GetParam().reason));
}

INSTANTIATE_TEST_SUITE_P(
    Damaged, RejectTest,
    ::testing::Values(
        BadCase{"TruncatedInPixels",
                [](const std::string& b) { return b.substr(0, b.size() * 3 / 5); },
                "truncated"},
        BadCase{"TruncatedInHeader",
                [](const std::string& b) { return b.substr(0, 300); }, "truncated"},
        BadCase{"CorruptVr",
                [](const std::string& b) {
                  std::string c = b;
                  // The first data set element after the meta group: its VR.
                  size_t at = c.find(std::string("\x08\x00\x05\x00", 4));
                  if (at == std::string::npos) at = c.find(std::string("\x08\x00\x16\x00", 4));
                  c[at + 4] = '\x01';
                  c[at + 5] = '\x02';
                  return c;
                },
                "invalid VR"},
        BadCase{"NotDicom",
                [](const std::string&) { return std::string(4000, 'x'); },
                "DICOM parse failed"}),
    [](const auto& info) { return info.param.name; });

TEST(ParseDicomTest, MissingSopInstanceUidIsRejected) {
  SeriesSpec spec;
  spec.slices = 1;
  spec.omit_sop_uid = true;
  absl::StatusOr<ParsedInstance> parsed =
      ParseDicom(MakeSeries(spec).instances[0].bytes, nullptr);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("missing SOPInstanceUID"));
}

constexpr char kPydicomFiles[] = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

// Every file Debian's pydicom ships is either parsed (with a pixel range
// that matches DCMTK for native little-endian data) or rejected with a
// reason; none crashes the parser.
TEST(ParseDicomTest, PydicomTestFilesAreParsedOrRejectedWithReason) {
  ASSERT_TRUE(std::filesystem::exists(kPydicomFiles)) << "python3-pydicom missing";
  int parsed_count = 0, rejected = 0, pixels_checked = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(kPydicomFiles)) {
    if (!entry.is_regular_file()) continue;
    std::string bytes = testing::ReadFile(entry.path());
    absl::StatusOr<ParsedInstance> parsed = ParseDicom(bytes, nullptr);
    if (!parsed.ok()) {
      EXPECT_FALSE(parsed.status().message().empty()) << entry.path();
      std::printf("rejected %s: %s\n", entry.path().filename().c_str(),
                  std::string(parsed.status().message()).c_str());
      ++rejected;
      continue;
    }
    ++parsed_count;
    const v1::DicomInstance& r = parsed->record;
    if (r.pixel_data_length() == 0 || r.pixel_data_encapsulated()) continue;
    auto ff = LoadWithDcmtk(bytes);
    std::string expected;
    for (DcmTagKey tag : {DCM_PixelData, DCM_FloatPixelData, DCM_DoubleFloatPixelData}) {
      if (expected.empty()) expected = DcmtkNativePixels(ff.get(), tag);
    }
    EXPECT_EQ(bytes.substr(r.pixel_data_offset(), r.pixel_data_length()), expected)
        << entry.path();
    ++pixels_checked;
  }
  EXPECT_GT(parsed_count, 40);
  EXPECT_GT(pixels_checked, 15);
  std::printf("pydicom files: %d parsed (%d pixel ranges checked), %d rejected\n",
              parsed_count, pixels_checked, rejected);
}

// With a scratch buffer the re-encoded file lands in the scratch memory and
// the input comes back; the result is the same as without one.
TEST(ParseDicomTest, DeidentifyIntoScratchBuffer) {
  absl::StatusOr<Deidentifier> deid =
      Deidentifier::Create({"parser-test-key-0123456789", false, false});
  ASSERT_TRUE(deid.ok()) << deid.status();
  SeriesSpec spec;
  spec.slices = 1;
  std::string input = MakeSeries(spec).instances[0].bytes;
  absl::StatusOr<ParsedInstance> plain = ParseDicom(input, &*deid);
  ASSERT_TRUE(plain.ok()) << plain.status();
  struct Case {
    const char* name;
    std::string scratch;
  } cases[] = {
      {"empty scratch", ""},
      {"small scratch", std::string(10, 'x')},
      {"large dirty scratch", std::string(input.size() * 2, '\xAB')},
  };
  for (Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string owned = input;
    const char* input_data = owned.data();
    absl::StatusOr<ParsedInstance> parsed = ParseDicom(std::move(owned), &*deid, &c.scratch);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->bytes, plain->bytes);
    EXPECT_EQ(parsed->record.SerializeAsString(), plain->record.SerializeAsString());
    EXPECT_EQ(c.scratch.data(), input_data);  // the input buffer, handed back
  }
}

TEST(ParseDicomTest, DicomDirIsNotAnInstance) {
  std::string path = absl::StrCat(kPydicomFiles, "/dicomdirtests/DICOMDIR");
  ASSERT_TRUE(std::filesystem::exists(path));
  absl::StatusOr<ParsedInstance> parsed = ParseDicom(testing::ReadFile(path), nullptr);
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(IsDicomDirStatus(parsed.status())) << parsed.status();
}

}  // namespace
}  // namespace medfs::ingest
