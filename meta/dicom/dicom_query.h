// The DICOM query language of medfs and the keywords it knows:
//
//   expression := predicate ("and" predicate)*
//   predicate  := Keyword op value
//   op         := "=" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "~" (glob)
//   value      := 'quoted' | "quoted" | bare-word
//
// e.g. "Modality = CT and SliceThickness <= 1.5 and BodyPartExamined ~ 'CHE*'".
// Keywords are DICOM keywords (case-insensitive); numeric keywords compare
// as numbers, the others as byte strings (StudyDate YYYYMMDD compares in
// date order). Multi-valued attributes (PixelSpacing, WindowCenter,
// WindowWidth) use their first value. An attribute absent from an instance
// matches no predicate. Indexed keywords (secondary indexes) are listed in
// dicom_query.cc; the others are filtered.
//
// Thread safety: pure functions over immutable tables.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/proto/medfs.pb.h"

namespace medfs::meta::dicom {

namespace v1 = ::medfs::v1;

struct Keyword {
  const char* name;
  uint32_t tag;     // (group << 16) | element; 0xFFFFxxxx for medfs fields
  bool numeric;
  bool indexed;
  // The attribute's value in `r`; false when absent.
  bool (*get_string)(const v1::DicomInstance& r, std::string* out);
  bool (*get_number)(const v1::DicomInstance& r, double* out);
};

const Keyword* FindKeyword(absl::string_view name);
const std::vector<const Keyword*>& IndexedKeywords();

enum class Op { kEq, kNe, kLt, kLe, kGt, kGe, kGlob };

struct Predicate {
  const Keyword* keyword = nullptr;
  Op op = Op::kEq;
  std::string text;    // the value as written
  double number = 0;   // for numeric keywords
};

// kInvalidArgument naming the offending token (unknown keywords list the
// known ones).
absl::StatusOr<std::vector<Predicate>> ParseExpression(absl::string_view expression);

bool Matches(const Predicate& p, const v1::DicomInstance& r);
bool MatchesAll(const std::vector<Predicate>& ps, const v1::DicomInstance& r);
std::string Describe(const Predicate& p);

// The index keys ("X" ...) of record `r` in `dataset`.
std::vector<std::string> IndexKeys(absl::string_view dataset,
                                   const v1::DicomInstance& r);

// The key range [begin, end) of `dataset`'s index holding every instance
// that satisfies `p`, and where values start inside those keys. False when
// the index cannot answer `p` (!=, a glob without a literal prefix, a
// keyword without an index).
struct IndexRange {
  std::string begin;
  std::string end;
  size_t value_offset = 0;
  bool numeric = false;
};
bool RangeFor(absl::string_view dataset, const Predicate& p, IndexRange* range);

}  // namespace medfs::meta::dicom
