#include "meta/dicom/dicom_query.h"

#include <fnmatch.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "meta/dicom/dicom_keys.h"

namespace medfs::meta::dicom {
namespace {

#define MEDFS_STR(field)                                                   \
  [](const v1::DicomInstance& r, std::string* out) {                       \
    *out = r.field();                                                      \
    return !out->empty();                                                  \
  }
#define MEDFS_NUM(field, present)                                          \
  [](const v1::DicomInstance& r, double* out) {                            \
    *out = static_cast<double>(r.field());                                 \
    return static_cast<bool>(present);                                     \
  }
#define MEDFS_FIRST(field)                                                 \
  [](const v1::DicomInstance& r, double* out) {                            \
    if (r.field##_size() == 0) return false;                               \
    *out = r.field(0);                                                     \
    return true;                                                           \
  }

const Keyword kKeywords[] = {
    {"PatientID", 0x00100020, false, true, MEDFS_STR(patient_id), nullptr},
    {"StudyInstanceUID", 0x0020000D, false, true, MEDFS_STR(study_instance_uid), nullptr},
    {"SeriesInstanceUID", 0x0020000E, false, true, MEDFS_STR(series_instance_uid), nullptr},
    {"SOPInstanceUID", 0x00080018, false, false, MEDFS_STR(sop_instance_uid), nullptr},
    {"SOPClassUID", 0x00080016, false, true, MEDFS_STR(sop_class_uid), nullptr},
    {"StudyDate", 0x00080020, false, true, MEDFS_STR(study_date), nullptr},
    {"Modality", 0x00080060, false, true, MEDFS_STR(modality), nullptr},
    {"BodyPartExamined", 0x00180015, false, true, MEDFS_STR(body_part_examined), nullptr},
    {"PhotometricInterpretation", 0x00280004, false, true,
     MEDFS_STR(photometric_interpretation), nullptr},
    {"TransferSyntaxUID", 0x00020010, false, true, MEDFS_STR(transfer_syntax_uid), nullptr},
    {"Path", 0xFFFF0002, false, false, MEDFS_STR(path), nullptr},
    {"Rows", 0x00280010, true, true, nullptr, MEDFS_NUM(rows, r.rows() != 0)},
    {"Columns", 0x00280011, true, true, nullptr, MEDFS_NUM(columns, r.columns() != 0)},
    {"NumberOfFrames", 0x00280008, true, true, nullptr,
     MEDFS_NUM(number_of_frames, r.number_of_frames() != 0)},
    {"BitsAllocated", 0x00280100, true, true, nullptr,
     MEDFS_NUM(bits_allocated, r.bits_allocated() != 0)},
    {"BitsStored", 0x00280101, true, true, nullptr, MEDFS_NUM(bits_stored, r.bits_stored() != 0)},
    {"PixelRepresentation", 0x00280103, true, true, nullptr,
     MEDFS_NUM(pixel_representation, r.bits_allocated() != 0)},
    {"SamplesPerPixel", 0x00280002, true, true, nullptr,
     MEDFS_NUM(samples_per_pixel, r.samples_per_pixel() != 0)},
    {"SliceThickness", 0x00180050, true, true, nullptr,
     MEDFS_NUM(slice_thickness, r.has_slice_thickness())},
    {"SeriesNumber", 0x00200011, true, true, nullptr, MEDFS_NUM(series_number, r.has_series_number())},
    {"InstanceNumber", 0x00200013, true, true, nullptr,
     MEDFS_NUM(instance_number, r.has_instance_number())},
    {"RescaleSlope", 0x00281053, true, true, nullptr, MEDFS_NUM(rescale_slope, r.has_rescale_slope())},
    {"RescaleIntercept", 0x00281052, true, true, nullptr,
     MEDFS_NUM(rescale_intercept, r.has_rescale_intercept())},
    {"PixelSpacing", 0x00280030, true, true, nullptr, MEDFS_FIRST(pixel_spacing)},
    {"WindowCenter", 0x00281050, true, false, nullptr, MEDFS_FIRST(window_center)},
    {"WindowWidth", 0x00281051, true, false, nullptr, MEDFS_FIRST(window_width)},
    {"FileSize", 0xFFFF0001, true, true, nullptr, MEDFS_NUM(file_size, true)},
};

#undef MEDFS_STR
#undef MEDFS_NUM
#undef MEDFS_FIRST

std::string KnownKeywords() {
  std::vector<std::string> names;
  for (const Keyword& k : kKeywords) names.push_back(k.name);
  return absl::StrJoin(names, ", ");
}

// Splits an expression into tokens: words, operators, quoted values.
absl::StatusOr<std::vector<std::string>> Tokenize(absl::string_view s) {
  std::vector<std::string> tokens;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) { ++i; continue; }
    if (c == '\'' || c == '"') {
      size_t end = s.find(c, i + 1);
      if (end == absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat("query: unterminated quote at ", i));
      }
      tokens.push_back(absl::StrCat("\x01", s.substr(i + 1, end - i - 1)));  // quoted
      i = end + 1;
      continue;
    }
    if (c == '<' || c == '>' || c == '!' || c == '=' || c == '~') {
      size_t len = (i + 1 < s.size() && s[i + 1] == '=') ? 2 : 1;
      tokens.push_back(std::string(s.substr(i, len)));
      i += len;
      continue;
    }
    size_t start = i;
    while (i < s.size() && !absl::ascii_isspace(static_cast<unsigned char>(s[i])) &&
           std::string_view("<>!=~'\"").find(s[i]) == std::string_view::npos) {
      ++i;
    }
    tokens.push_back(std::string(s.substr(start, i - start)));
  }
  return tokens;
}

absl::StatusOr<Op> ParseOp(const std::string& t) {
  if (t == "=" || t == "==") return Op::kEq;
  if (t == "!=") return Op::kNe;
  if (t == "<") return Op::kLt;
  if (t == "<=") return Op::kLe;
  if (t == ">") return Op::kGt;
  if (t == ">=") return Op::kGe;
  if (t == "~") return Op::kGlob;
  return absl::InvalidArgumentError(absl::StrCat("query: expected an operator, got '", t, "'"));
}

template <typename T>
bool Compare(Op op, const T& a, const T& b) {
  switch (op) {
    case Op::kEq: return a == b;
    case Op::kNe: return a != b;
    case Op::kLt: return a < b;
    case Op::kLe: return a <= b;
    case Op::kGt: return a > b;
    case Op::kGe: return a >= b;
    case Op::kGlob: return false;
  }
  return false;
}

}  // namespace

const Keyword* FindKeyword(absl::string_view name) {
  for (const Keyword& k : kKeywords) {
    if (absl::EqualsIgnoreCase(k.name, name)) return &k;
  }
  return nullptr;
}

const std::vector<const Keyword*>& IndexedKeywords() {
  static const auto* list = [] {
    auto* v = new std::vector<const Keyword*>;
    for (const Keyword& k : kKeywords) {
      if (k.indexed) v->push_back(&k);
    }
    return v;
  }();
  return *list;
}

absl::StatusOr<std::vector<Predicate>> ParseExpression(absl::string_view expression) {
  std::vector<std::string> tokens;
  {
    auto t = Tokenize(expression);
    if (!t.ok()) return t.status();
    tokens = *std::move(t);
  }
  std::vector<Predicate> out;
  size_t i = 0;
  while (i < tokens.size()) {
    if (!out.empty()) {
      if (!absl::EqualsIgnoreCase(tokens[i], "and")) {
        return absl::InvalidArgumentError(absl::StrCat(
            "query: expected 'and', got '", tokens[i], "' (only conjunctions are supported)"));
      }
      ++i;
    }
    if (i + 3 > tokens.size()) {
      return absl::InvalidArgumentError("query: incomplete comparison at the end");
    }
    Predicate p;
    p.keyword = FindKeyword(tokens[i]);
    if (p.keyword == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "query: unknown keyword '", tokens[i], "'; known: ", KnownKeywords()));
    }
    auto op = ParseOp(tokens[i + 1]);
    if (!op.ok()) return op.status();
    p.op = *op;
    p.text = tokens[i + 2];
    if (!p.text.empty() && p.text[0] == '\x01') p.text.erase(0, 1);
    if (p.keyword->numeric) {
      if (p.op == Op::kGlob) {
        return absl::InvalidArgumentError(
            absl::StrCat("query: ", p.keyword->name, " is numeric: no glob match"));
      }
      if (!absl::SimpleAtod(p.text, &p.number)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "query: ", p.keyword->name, " needs a number, got '", p.text, "'"));
      }
    }
    out.push_back(std::move(p));
    i += 3;
  }
  return out;
}

bool Matches(const Predicate& p, const v1::DicomInstance& r) {
  if (p.keyword->numeric) {
    double v;
    return p.keyword->get_number(r, &v) && Compare(p.op, v, p.number);
  }
  std::string v;
  if (!p.keyword->get_string(r, &v)) return false;
  if (p.op == Op::kGlob) return fnmatch(p.text.c_str(), v.c_str(), 0) == 0;
  return Compare(p.op, v, p.text);
}

bool MatchesAll(const std::vector<Predicate>& ps, const v1::DicomInstance& r) {
  for (const Predicate& p : ps) {
    if (!Matches(p, r)) return false;
  }
  return true;
}

std::string Describe(const Predicate& p) {
  static constexpr const char* kOps[] = {"=", "!=", "<", "<=", ">", ">=", "~"};
  return absl::StrCat(p.keyword->name, " ", kOps[static_cast<int>(p.op)], " ", p.text);
}

std::vector<std::string> IndexKeys(absl::string_view dataset, const v1::DicomInstance& r) {
  std::vector<std::string> keys;
  for (const Keyword* k : IndexedKeywords()) {
    std::string key = IndexPrefix(dataset, k->tag);
    if (k->numeric) {
      double v;
      if (!k->get_number(r, &v)) continue;
      AppendNumber(&key, v);
    } else {
      std::string v;
      if (!k->get_string(r, &v)) continue;
      AppendString(&key, v);
    }
    key.append(r.sop_instance_uid());
    keys.push_back(std::move(key));
  }
  return keys;
}

bool RangeFor(absl::string_view dataset, const Predicate& p, IndexRange* range) {
  if (!p.keyword->indexed || p.op == Op::kNe) return false;
  std::string base = IndexPrefix(dataset, p.keyword->tag);
  range->value_offset = base.size();
  range->numeric = p.keyword->numeric;
  std::string at = base;  // base + encoded value
  if (p.op == Op::kGlob) {
    size_t wild = p.text.find_first_of("*?[\\");
    std::string literal = p.text.substr(0, wild);
    if (literal.empty()) return false;
    AppendStringPrefix(&at, literal);
    range->begin = at;
    range->end = PrefixSuccessor(at);
    return true;
  }
  if (p.keyword->numeric) {
    AppendNumber(&at, p.number);
  } else {
    AppendString(&at, p.text);
  }
  std::string after_value = PrefixSuccessor(at);
  std::string end_of_index = PrefixSuccessor(base);
  switch (p.op) {
    case Op::kEq: range->begin = at; range->end = after_value; break;
    case Op::kLt: range->begin = base; range->end = at; break;
    case Op::kLe: range->begin = base; range->end = after_value; break;
    case Op::kGt: range->begin = after_value; range->end = end_of_index; break;
    case Op::kGe: range->begin = at; range->end = end_of_index; break;
    default: return false;
  }
  return true;
}

}  // namespace medfs::meta::dicom
