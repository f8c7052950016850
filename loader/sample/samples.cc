#include "loader/sample/samples.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace medfs::loader {

absl::StatusOr<SampleKind> ParseSampleKind(absl::string_view name) {
  if (name == "slice") return SampleKind::kSlice;
  if (name == "series") return SampleKind::kSeries;
  return absl::InvalidArgumentError(
      absl::StrCat("sample must be 'slice' or 'series', not '", name, "'"));
}

std::vector<uint32_t> OrderSeries(const std::vector<v1::DicomInstance>& records,
                                  std::vector<uint32_t> members,
                                  std::vector<double>* positions) {
  const v1::DicomInstance& first = records[members[0]];
  bool geometry = first.image_orientation_patient_size() == 6;
  for (uint32_t m : members) geometry &= records[m].image_position_patient_size() == 3;
  std::vector<std::pair<double, uint32_t>> keyed;
  if (geometry) {
    const auto& o = first.image_orientation_patient();
    std::array<double, 3> n = {o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5],
                               o[0] * o[4] - o[1] * o[3]};
    for (uint32_t m : members) {
      const auto& p = records[m].image_position_patient();
      keyed.push_back({p[0] * n[0] + p[1] * n[1] + p[2] * n[2], m});
    }
  } else {
    for (uint32_t m : members) {
      keyed.push_back({static_cast<double>(records[m].instance_number()), m});
    }
  }
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    return records[a.second].sop_instance_uid() < records[b.second].sop_instance_uid();
  });
  std::vector<uint32_t> ordered;
  positions->clear();
  for (const auto& [position, m] : keyed) {
    ordered.push_back(m);
    positions->push_back(position);
  }
  return ordered;
}

std::vector<Sample> BuildSamples(const std::vector<v1::DicomInstance>& records,
                                 SampleKind kind) {
  std::vector<Sample> out;
  if (kind == SampleKind::kSlice) {
    for (uint32_t i = 0; i < records.size(); ++i) {
      uint32_t frames = std::max(1u, records[i].number_of_frames());
      for (uint32_t f = 0; f < frames; ++f) {
        Sample s;
        s.instances = {i};
        s.frame = f;
        s.uid = records[i].sop_instance_uid();
        out.push_back(std::move(s));
      }
    }
    std::stable_sort(out.begin(), out.end(), [](const Sample& a, const Sample& b) {
      return a.uid != b.uid ? a.uid < b.uid : a.frame < b.frame;
    });
    return out;
  }
  std::map<std::string, std::vector<uint32_t>> series;  // sorted by uid
  for (uint32_t i = 0; i < records.size(); ++i) {
    series[records[i].series_instance_uid()].push_back(i);
  }
  for (auto& [uid, members] : series) {
    Sample s;
    s.uid = uid;
    if (members.size() == 1 && records[members[0]].number_of_frames() > 1) {
      s.instances = members;
      s.frames = records[members[0]].number_of_frames();
      for (uint32_t f = 0; f < s.frames; ++f) s.positions.push_back(f);
    } else {
      s.instances = OrderSeries(records, members, &s.positions);
    }
    out.push_back(std::move(s));
  }
  return out;
}

void ResampleDepth(const float* slices, const std::vector<double>& positions,
                   size_t plane, uint32_t depth, float* out) {
  const size_t count = positions.size();
  for (uint32_t d = 0; d < depth; ++d) {
    float* dst = out + d * plane;
    if (count == 1) {
      std::copy(slices, slices + plane, dst);
      continue;
    }
    double t = depth == 1 ? 0.5 : double(d) / (depth - 1);
    double target = positions.front() + t * (positions.back() - positions.front());
    size_t k = std::upper_bound(positions.begin(), positions.end(), target) -
               positions.begin();
    k = std::clamp<size_t>(k, 1, count - 1);
    double span = positions[k] - positions[k - 1];
    float w = span > 0 ? static_cast<float>((target - positions[k - 1]) / span) : 0.f;
    w = std::clamp(w, 0.f, 1.f);
    const float* a = slices + (k - 1) * plane;
    const float* b = slices + k * plane;
    for (size_t i = 0; i < plane; ++i) dst[i] = a[i] + w * (b[i] - a[i]);
  }
}

absl::StatusOr<LabelTable> LabelTable::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("reading labels ", path, ": cannot open"));
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str(), path);
}

absl::StatusOr<LabelTable> LabelTable::Parse(absl::string_view text,
                                             absl::string_view name) {
  LabelTable t;
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  int key_column = -1, line_no = 0;
  size_t fields = 0;
  for (absl::string_view raw : lines) {
    ++line_no;
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty()) continue;
    std::vector<std::string> cells;
    for (absl::string_view c : absl::StrSplit(line, ',')) {
      cells.emplace_back(absl::StripAsciiWhitespace(c));
    }
    if (key_column < 0) {
      for (size_t i = 0; i < cells.size(); ++i) {
        const std::string& c = cells[i];
        if (c == "SOPInstanceUID" || c == "SeriesInstanceUID" || c == "StudyInstanceUID") {
          key_column = static_cast<int>(i);
          t.key_ = c[0] == 'S' && c[1] == 'O' ? Key::kSop
                   : c[1] == 'e'              ? Key::kSeries
                                              : Key::kStudy;
        } else {
          t.columns_.push_back(c);
        }
      }
      if (key_column < 0 || t.columns_.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "reading labels ", name, ": the header needs a SOPInstanceUID, "
            "SeriesInstanceUID or StudyInstanceUID column and a label column"));
      }
      fields = cells.size();
      continue;
    }
    if (cells.size() != fields) {
      return absl::InvalidArgumentError(absl::StrCat(
          "reading labels ", name, ": line ", line_no, " has ", cells.size(),
          " fields, the header has ", fields));
    }
    std::vector<float> values;
    for (size_t i = 0; i < cells.size(); ++i) {
      if (static_cast<int>(i) == key_column) continue;
      float v;
      if (!absl::SimpleAtof(cells[i], &v)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "reading labels ", name, ": line ", line_no, ": '", cells[i],
            "' is not a number"));
      }
      values.push_back(v);
    }
    t.rows_[cells[key_column]] = std::move(values);
  }
  if (key_column < 0) {
    return absl::InvalidArgumentError(absl::StrCat("reading labels ", name, ": empty"));
  }
  return t;
}

std::optional<std::vector<float>> LabelTable::Find(
    const v1::DicomInstance& r) const {
  const std::string& k = key_ == Key::kSop      ? r.sop_instance_uid()
                         : key_ == Key::kSeries ? r.series_instance_uid()
                                                : r.study_instance_uid();
  auto it = rows_.find(k);
  if (it == rows_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<uint64_t> AttachLabels(const LabelTable& table,
                                      const std::vector<v1::DicomInstance>& records,
                                      SampleKind kind, std::vector<Sample>* samples) {
  if (kind == SampleKind::kSeries && table.key() == LabelTable::Key::kSop) {
    return absl::InvalidArgumentError(
        "labels keyed by SOPInstanceUID cannot label series samples");
  }
  uint64_t missing = 0;
  for (Sample& s : *samples) {
    auto found = table.Find(records[s.instances[0]]);
    if (found) {
      s.label = std::move(*found);
    } else {
      s.label.assign(table.columns().size(), std::numeric_limits<float>::quiet_NaN());
      ++missing;
    }
  }
  return missing;
}

}  // namespace medfs::loader
