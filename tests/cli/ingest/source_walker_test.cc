#include "cli/ingest/source_walker.h"

#include <filesystem>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cli/ingest/dicom_fixtures.h"

namespace medfs::ingest {
namespace {

using ::testing::HasSubstr;
using testing::MakeSeries;
using testing::SeriesSpec;
using testing::Shell;
using testing::TempDir;
using testing::WriteFile;

class Collect : public SourceSink {
 public:
  absl::Status OnFile(SourceFile file) override {
    files[file.relative_path] = std::move(file);
    return absl::OkStatus();
  }
  void OnProblem(SourceProblem problem) override { problems.push_back(problem); }
  std::map<std::string, SourceFile> files;  // by relative path
  std::vector<SourceProblem> problems;
};

// A folder of one CT series (no file extensions, one subfolder, one raw
// data set without preamble) and a text file.
struct Fixture {
  TempDir dir;
  std::map<std::string, std::string> files;  // rel path -> bytes
  Fixture() {
    SeriesSpec spec;
    spec.slices = 3;
    testing::Series ct = MakeSeries(spec);
    files["series/IM0001"] = ct.instances[0].bytes;
    files["series/IM0002"] = ct.instances[1].bytes;
    files["series/deeper/IM0003"] = ct.instances[2].bytes;
    SeriesSpec raw = spec;
    raw.slices = 1;
    raw.with_meta = false;
    raw.xfer = EXS_LittleEndianImplicit;
    files["raw/0001.img"] = MakeSeries(raw).instances[0].bytes;
    for (const auto& [rel, bytes] : files) WriteFile(dir.Sub("src/" + rel), bytes);
    WriteFile(dir.Sub("src/README.txt"), "exported by PACS\n");
  }
};

TEST(SourceWalkerTest, FolderIsWalkedRecursivelyByContent) {
  Fixture f;
  Collect sink;
  ASSERT_TRUE(WalkSource(f.dir.Sub("src"), &sink).ok());
  ASSERT_EQ(sink.files.size(), f.files.size());
  for (const auto& [rel, bytes] : f.files) {
    ASSERT_TRUE(sink.files.count(rel)) << rel;
    EXPECT_EQ(sink.files[rel].bytes, bytes);
  }
  ASSERT_EQ(sink.problems.size(), 1u);
  EXPECT_THAT(sink.problems[0].origin, HasSubstr("README.txt"));
  EXPECT_THAT(sink.problems[0].reason, HasSubstr("not a DICOM file"));
}

struct ArchiveCase {
  const char* name;
  const char* command;  // run in src/, writing ../out/<file>
  const char* file;
};

class ArchiveTest : public ::testing::TestWithParam<ArchiveCase> {};

TEST_P(ArchiveTest, MembersAreStreamedWithTheirPaths) {
  Fixture f;
  std::filesystem::create_directories(f.dir.Sub("out"));
  ASSERT_EQ(Shell(absl::StrCat("cd ", f.dir.Sub("src"), " && ", GetParam().command,
                               " ../out/", GetParam().file, " . >/dev/null")), 0);
  // The archive as the source, and inside a folder.
  std::filesystem::create_directories(f.dir.Sub("nested/exports"));
  std::filesystem::copy_file(f.dir.Sub(absl::StrCat("out/", GetParam().file)),
                             f.dir.Sub(absl::StrCat("nested/exports/", GetParam().file)));
  for (bool nested : {false, true}) {
    Collect sink;
    std::string source = nested ? f.dir.Sub("nested")
                                : f.dir.Sub(absl::StrCat("out/", GetParam().file));
    ASSERT_TRUE(WalkSource(source, &sink).ok());
    ASSERT_EQ(sink.files.size(), f.files.size()) << source;
    for (const auto& [rel, bytes] : f.files) {
      std::string expected = nested ? "exports/export/" + rel : rel;
      ASSERT_TRUE(sink.files.count(expected)) << expected << " have " << sink.files.begin()->first << " " << sink.files.rbegin()->first;
      EXPECT_EQ(sink.files[expected].bytes, bytes);
      EXPECT_THAT(sink.files[expected].origin, HasSubstr(std::string("!") ));
    }
    ASSERT_EQ(sink.problems.size(), 1u);  // README.txt
    EXPECT_THAT(sink.problems[0].origin, HasSubstr("!README.txt"));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, ArchiveTest,
    ::testing::Values(ArchiveCase{"Zip", "zip -qr", "export.zip"},
                      ArchiveCase{"Tar", "tar cf", "export.tar"},
                      ArchiveCase{"Tgz", "tar czf", "export.tgz"},
                      ArchiveCase{"TarGz", "tar czf", "export.tar.gz"}),
    [](const auto& info) { return info.param.name; });

TEST(SourceWalkerTest, CorruptZipMemberIsReportedAndTheRestWalked) {
  Fixture f;
  // Stored (uncompressed) members, so a flipped byte fails the CRC.
  ASSERT_EQ(Shell(absl::StrCat("cd ", f.dir.Sub("src"),
                               " && zip -q0r ../export.zip series")), 0);
  std::string zip = testing::ReadFile(f.dir.Sub("export.zip"));
  const std::string& victim = f.files["series/IM0002"];
  size_t at = zip.find(victim.substr(2000, 64));
  ASSERT_NE(at, std::string::npos);
  zip[at] ^= 0x5a;
  WriteFile(f.dir.Sub("export.zip"), zip);
  Collect sink;
  ASSERT_TRUE(WalkSource(f.dir.Sub("export.zip"), &sink).ok());
  EXPECT_EQ(sink.files.size(), 2u);
  EXPECT_FALSE(sink.files.count("series/IM0002"));
  ASSERT_EQ(sink.problems.size(), 1u);
  EXPECT_THAT(sink.problems[0].origin, HasSubstr("export.zip!series/IM0002"));
  EXPECT_THAT(sink.problems[0].reason, HasSubstr("unreadable archive member"));
}

TEST(SourceWalkerTest, TruncatedTgzReportsAndFinishes) {
  Fixture f;
  ASSERT_EQ(Shell(absl::StrCat("cd ", f.dir.Sub("src"), " && tar czf ../e.tgz .")), 0);
  std::string tgz = testing::ReadFile(f.dir.Sub("e.tgz"));
  WriteFile(f.dir.Sub("e.tgz"), tgz.substr(0, tgz.size() / 2));
  Collect sink;
  ASSERT_TRUE(WalkSource(f.dir.Sub("e.tgz"), &sink).ok());
  EXPECT_LT(sink.files.size(), f.files.size());
  ASSERT_FALSE(sink.problems.empty());
  bool reported = false;
  for (const SourceProblem& p : sink.problems) {
    reported |= absl::StrContains(p.reason, "unreadable");
  }
  EXPECT_TRUE(reported);
}

TEST(SourceWalkerTest, DicomDirWalksTheReferencedFiles) {
  TempDir dir;
  SeriesSpec spec;
  spec.slices = 3;
  spec.with_phi = false;
  testing::Series series = MakeSeries(spec);
  for (size_t i = 0; i < series.instances.size(); ++i) {
    WriteFile(dir.Sub(absl::StrCat("media/DICOM/IM00000", i)), series.instances[i].bytes);
  }
  ASSERT_EQ(Shell(absl::StrCat("cd ", dir.Sub("media"),
                               " && dcmmkdir -q +r +I DICOM/*")), 0);
  // Not referenced by the DICOMDIR: must not be walked.
  WriteFile(dir.Sub("media/DICOM/EXTRA"), series.instances[0].bytes);
  // Media copied to a case-folding file system: lower-case names.
  std::filesystem::rename(dir.Sub("media/DICOM/IM000001"), dir.Sub("media/DICOM/im000001"));
  Collect sink;
  ASSERT_TRUE(WalkSource(dir.Sub("media/DICOMDIR"), &sink).ok());
  EXPECT_TRUE(sink.problems.empty()) << sink.problems[0].reason;
  ASSERT_EQ(sink.files.size(), 3u);
  EXPECT_TRUE(sink.files.count("DICOM/IM000001"));
  EXPECT_EQ(sink.files["DICOM/IM000001"].bytes, series.instances[1].bytes);
}

TEST(SourceWalkerTest, DicomDirMissingReferenceIsReported) {
  TempDir dir;
  SeriesSpec spec;
  spec.slices = 2;
  spec.with_phi = false;
  testing::Series series = MakeSeries(spec);
  WriteFile(dir.Sub("m/DICOM/IM1"), series.instances[0].bytes);
  WriteFile(dir.Sub("m/DICOM/IM2"), series.instances[1].bytes);
  ASSERT_EQ(Shell(absl::StrCat("cd ", dir.Sub("m"), " && dcmmkdir -q +r +I DICOM/*")), 0);
  std::filesystem::remove(dir.Sub("m/DICOM/IM2"));
  Collect sink;
  ASSERT_TRUE(WalkSource(dir.Sub("m/DICOMDIR"), &sink).ok());
  EXPECT_EQ(sink.files.size(), 1u);
  ASSERT_EQ(sink.problems.size(), 1u);
  EXPECT_THAT(sink.problems[0].reason, HasSubstr("referenced by DICOMDIR"));
}

TEST(SourceWalkerTest, MissingSourceIsNotFound) {
  Collect sink;
  EXPECT_EQ(WalkSource("/nonexistent/medfs/src", &sink).code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace medfs::ingest
