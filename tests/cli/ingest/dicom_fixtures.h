// Realistic DICOM test data made with DCMTK: CT and MR series with proper
// UIDs, image positions, 16-bit pixels and a set of identifying
// attributes (for de-identification tests), in any transfer syntax, plus
// compressed copies through DCMTK's own dcmcjpls / dcmcrle tools.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcxfer.h"

namespace medfs::ingest::testing {

struct SeriesSpec {
  std::string modality = "CT";        // CT or MR
  std::string patient_id = "PAT-0001";
  std::string patient_name = "Doe^Jane";
  std::string study_uid;              // generated when empty
  std::string series_uid;             // generated when empty
  int slices = 4;
  int rows = 64;
  int columns = 64;
  double slice_thickness = 1.25;
  std::string body_part = "CHEST";
  E_TransferSyntax xfer = EXS_LittleEndianExplicit;
  bool with_meta = true;              // false: a raw data set, no preamble
  bool with_phi = true;               // identifying attributes + private tags
  bool omit_sop_uid = false;
};

struct Instance {
  std::string sop_uid;
  std::string bytes;                  // the encoded file
  std::vector<uint16_t> pixels;       // what was put in Pixel Data
};

struct Series {
  std::string study_uid;
  std::string series_uid;
  std::vector<Instance> instances;
};

// A fresh UID under DCMTK's site root.
std::string NewUid();

// Builds the instances of one series in memory.
Series MakeSeries(const SeriesSpec& spec);

// A temporary folder removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

// Writes `bytes` to `path`, creating parent folders.
void WriteFile(const std::string& path, const std::string& bytes);
std::string ReadFile(const std::string& path);
// Runs a shell command; returns its exit status (and stdout in *out).
int Shell(const std::string& command, std::string* out = nullptr);

}  // namespace medfs::ingest::testing
