#include "loader/pipeline/catalog.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "loader/decode/dicom_parser.h"

namespace medfs::loader {
namespace {

bool TextField(const v1::DicomInstance& r, const std::string& key, std::string* out) {
  if (key == "Modality") *out = r.modality();
  else if (key == "BodyPartExamined") *out = r.body_part_examined();
  else if (key == "PatientID") *out = r.patient_id();
  else if (key == "StudyInstanceUID") *out = r.study_instance_uid();
  else if (key == "SeriesInstanceUID") *out = r.series_instance_uid();
  else if (key == "SOPInstanceUID") *out = r.sop_instance_uid();
  else if (key == "SOPClassUID") *out = r.sop_class_uid();
  else if (key == "StudyDate") *out = r.study_date();
  else if (key == "TransferSyntaxUID") *out = r.transfer_syntax_uid();
  else if (key == "PhotometricInterpretation") *out = r.photometric_interpretation();
  else return false;
  return true;
}

bool NumberField(const v1::DicomInstance& r, const std::string& key, double* out) {
  if (key == "Rows") *out = r.rows();
  else if (key == "Columns") *out = r.columns();
  else if (key == "NumberOfFrames") *out = r.number_of_frames();
  else if (key == "BitsAllocated") *out = r.bits_allocated();
  else if (key == "SeriesNumber") *out = r.series_number();
  else if (key == "InstanceNumber") *out = r.instance_number();
  else return false;
  return true;
}

template <typename T>
bool Compare(const T& a, const std::string& op, const T& b) {
  if (op == "=") return a == b;
  if (op == "!=") return a != b;
  if (op == "<") return a < b;
  if (op == "<=") return a <= b;
  if (op == ">") return a > b;
  return a >= b;
}

}  // namespace

absl::StatusOr<RecordFilter> RecordFilter::Parse(absl::string_view query) {
  RecordFilter f;
  std::string q = absl::StrReplaceAll(query, {{" AND ", ","}, {" and ", ","}, {"&&", ","}});
  for (absl::string_view part : absl::StrSplit(q, ',', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    size_t at = part.find_first_of("=!<>");
    if (at == absl::string_view::npos || at == 0) {
      return absl::InvalidArgumentError(absl::StrCat("query clause '", part, "' has no operator"));
    }
    Clause c;
    c.key = std::string(absl::StripAsciiWhitespace(part.substr(0, at)));
    size_t op_len = (at + 1 < part.size() && part[at + 1] == '=') ? 2 : 1;
    c.op = std::string(part.substr(at, op_len));
    if (c.op == "!") return absl::InvalidArgumentError(absl::StrCat("query clause '", part, "': bad operator"));
    c.value = std::string(absl::StripAsciiWhitespace(part.substr(at + op_len)));
    if (c.value.size() >= 2 && (c.value[0] == '\'' || c.value[0] == '"')) {
      c.value = c.value.substr(1, c.value.size() - 2);
    }
    v1::DicomInstance probe;
    std::string text;
    double number;
    if (NumberField(probe, c.key, &number)) {
      c.numeric = true;
      if (!absl::SimpleAtod(c.value, &c.number)) {
        return absl::InvalidArgumentError(absl::StrCat("query clause '", part, "': not a number"));
      }
    } else if (!TextField(probe, c.key, &text)) {
      return absl::InvalidArgumentError(absl::StrCat("query clause '", part, "': unknown key ", c.key));
    }
    f.clauses_.push_back(std::move(c));
  }
  return f;
}

bool RecordFilter::Matches(const v1::DicomInstance& r) const {
  for (const Clause& c : clauses_) {
    if (c.numeric) {
      double v = 0;
      NumberField(r, c.key, &v);
      if (!Compare(v, c.op, c.number)) return false;
    } else {
      std::string v;
      TextField(r, c.key, &v);
      if (!Compare(v, c.op, c.value)) return false;
    }
  }
  return true;
}

Catalog FilterCatalog(Catalog in, const RecordFilter& filter, const SplitOptions& split) {
  Catalog out;
  out.skipped_files = in.skipped_files;
  for (size_t i = 0; i < in.records.size(); ++i) {
    const v1::DicomInstance& r = in.records[i];
    if (!filter.Matches(r)) continue;
    if (split.split != Split::kAll && SplitOfPatient(r.patient_id(), split) != split.split) continue;
    out.records.push_back(std::move(in.records[i]));
    out.planar_configuration.push_back(
        i < in.planar_configuration.size() ? in.planar_configuration[i] : 0);
  }
  return out;
}

absl::StatusOr<Catalog> ScanLocalFolder(const std::string& root) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return absl::NotFoundError(absl::StrCat("scanning ", root, ": not a folder"));
  }
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  Catalog c;
  std::vector<char> head(64 << 10);
  for (const fs::path& p : files) {
    std::ifstream in(p, std::ios::binary);
    uint64_t size = fs::file_size(p, ec);
    if (!in || ec) { ++c.skipped_files; continue; }
    in.read(head.data(), std::min<uint64_t>(size, head.size()));
    std::string rel = fs::relative(p, root, ec).string();
    auto bytes = std::as_bytes(std::span<const char>(head.data(), in.gcount()));
    auto parsed = ParseDicom(bytes, size, rel);
    if (!parsed.ok() && absl::IsOutOfRange(parsed.status())) {
      std::vector<char> all(size);
      in.clear();
      in.seekg(0);
      in.read(all.data(), size);
      parsed = ParseDicom(std::as_bytes(std::span<const char>(all.data(), in.gcount())), size, rel);
    }
    if (!parsed.ok() || parsed->record.pixel_data_length() == 0) {
      ++c.skipped_files;
      continue;
    }
    c.records.push_back(std::move(parsed->record));
    c.planar_configuration.push_back(static_cast<uint8_t>(parsed->planar_configuration));
  }
  return c;
}

}  // namespace medfs::loader
