// Test helper: writes small explicit VR little endian DICOM files with
// native 16-bit pixels, for loader tests that need many distinct
// instances (series geometry, UIDs, corrupt files).
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace medfs::loader::testing {

struct TestInstance {
  std::string sop_uid, series_uid, study_uid = "1.2.3", patient_id = "P1";
  uint16_t rows = 8, columns = 8;
  std::vector<int16_t> pixels;  // rows * columns; default: all = fill
  int16_t fill = 0;
  std::string position;  // ImagePositionPatient, "x\\y\\z"
  std::string orientation = "1\\0\\0\\0\\1\\0";
  int instance_number = 1;
  std::string photometric = "MONOCHROME2";
};

class DicomWriter {
 public:
  void Element(uint16_t g, uint16_t e, const char* vr, const std::string& v) {
    std::string value = v;
    if (value.size() % 2) value.push_back(std::strcmp(vr, "UI") == 0 ? '\0' : ' ');
    Header(g, e, vr, value.size());
    out_ += value;
  }
  void U16(uint16_t g, uint16_t e, uint16_t v) {
    Header(g, e, "US", 2);
    Raw(&v, 2);
  }
  void Header(uint16_t g, uint16_t e, const char* vr, uint32_t len) {
    Raw(&g, 2);
    Raw(&e, 2);
    out_.append(vr, 2);
    bool long_form = !std::strcmp(vr, "OB") || !std::strcmp(vr, "OW") || !std::strcmp(vr, "SQ");
    if (long_form) {
      out_.append(2, '\0');
      Raw(&len, 4);
    } else {
      uint16_t l = static_cast<uint16_t>(len);
      Raw(&l, 2);
    }
  }
  void Raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

inline std::string EncodeInstance(const TestInstance& t) {
  DicomWriter meta;
  meta.Element(0x0002, 0x0010, "UI", "1.2.840.10008.1.2.1");
  DicomWriter w;
  w.Raw(std::string(128, '\0').data(), 128);
  w.Raw("DICM", 4);
  uint32_t group_length = static_cast<uint32_t>(meta.bytes().size());
  w.Header(0x0002, 0x0000, "UL", 4);
  w.Raw(&group_length, 4);
  w.Raw(meta.bytes().data(), meta.bytes().size());
  w.Element(0x0008, 0x0018, "UI", t.sop_uid);
  w.Element(0x0008, 0x0060, "CS", "CT");
  w.Element(0x0010, 0x0020, "LO", t.patient_id);
  w.Element(0x0020, 0x000D, "UI", t.study_uid);
  w.Element(0x0020, 0x000E, "UI", t.series_uid);
  w.Element(0x0020, 0x0013, "IS", std::to_string(t.instance_number));
  if (!t.position.empty()) w.Element(0x0020, 0x0032, "DS", t.position);
  w.Element(0x0020, 0x0037, "DS", t.orientation);
  w.U16(0x0028, 0x0002, 1);
  w.Element(0x0028, 0x0004, "CS", t.photometric);
  w.U16(0x0028, 0x0010, t.rows);
  w.U16(0x0028, 0x0011, t.columns);
  w.U16(0x0028, 0x0100, 16);
  w.U16(0x0028, 0x0101, 16);
  w.U16(0x0028, 0x0102, 15);
  w.U16(0x0028, 0x0103, 1);
  std::vector<int16_t> px = t.pixels;
  if (px.empty()) px.assign(size_t{t.rows} * t.columns, t.fill);
  w.Header(0x7FE0, 0x0010, "OW", static_cast<uint32_t>(px.size() * 2));
  w.Raw(px.data(), px.size() * 2);
  return w.bytes();
}

inline void WriteInstance(const std::string& path, const TestInstance& t) {
  std::ofstream(path, std::ios::binary) << EncodeInstance(t);
}

}  // namespace medfs::loader::testing
