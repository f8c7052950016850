#include "loader/decode/dicom_parser.h"

#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/status.h"

namespace medfs::loader {
namespace {

constexpr uint32_t kUndefinedLength = 0xFFFFFFFFu;
constexpr uint32_t Tag(uint16_t group, uint16_t element) {
  return (uint32_t{group} << 16) | element;
}
constexpr uint32_t kItem = Tag(0xFFFE, 0xE000);
constexpr uint32_t kItemDelimiter = Tag(0xFFFE, 0xE00D);
constexpr uint32_t kSequenceDelimiter = Tag(0xFFFE, 0xE0DD);
constexpr uint32_t kPixelData = Tag(0x7FE0, 0x0010);

struct Element {
  uint32_t tag = 0;
  char vr[3] = {0, 0, 0};
  uint32_t length = 0;
  size_t value_offset = 0;
};

// Reads elements from a byte range in one encoding. Errors carry offsets.
class Reader {
 public:
  Reader(std::span<const std::byte> bytes, bool explicit_vr, bool big_endian)
      : b_(bytes), explicit_(explicit_vr), big_(big_endian) {}

  void set_encoding(bool explicit_vr, bool big_endian) {
    explicit_ = explicit_vr;
    big_ = big_endian;
  }
  size_t size() const { return b_.size(); }

  uint16_t U16(size_t at) const {
    auto* p = reinterpret_cast<const uint8_t*>(b_.data()) + at;
    return big_ ? uint16_t(p[0] << 8 | p[1]) : uint16_t(p[1] << 8 | p[0]);
  }
  uint32_t U32(size_t at) const {
    return big_ ? (uint32_t{U16(at)} << 16) | U16(at + 2)
                : (uint32_t{U16(at + 2)} << 16) | U16(at);
  }

  // Element header at `at`; kOutOfRange when the bytes end inside it.
  absl::StatusOr<Element> Header(size_t at) const {
    if (at + 8 > b_.size()) return absl::OutOfRangeError("element header");
    Element e;
    e.tag = (uint32_t{U16(at)} << 16) | U16(at + 2);
    bool delimiter = (e.tag >> 16) == 0xFFFE;
    if (!explicit_ || delimiter) {
      e.length = U32(at + 4);
      e.value_offset = at + 8;
      return e;
    }
    std::memcpy(e.vr, b_.data() + at + 4, 2);
    if (!absl::ascii_isupper(e.vr[0]) || !absl::ascii_isupper(e.vr[1])) {
      // Not a VR: an implicitly encoded element inside an explicit data
      // set (UN sequences, mislabelled files). Read it as implicit.
      e.vr[0] = e.vr[1] = 0;
      e.length = U32(at + 4);
      e.value_offset = at + 8;
      return e;
    }
    static constexpr const char* kLong[] = {"OB", "OD", "OF", "OL", "OV",
                                            "OW", "SQ", "UC", "UR", "UT",
                                            "UN", "SV", "UV"};
    bool long_form = false;
    for (const char* v : kLong) long_form |= std::memcmp(v, e.vr, 2) == 0;
    if (long_form) {
      if (at + 12 > b_.size()) return absl::OutOfRangeError("element header");
      e.length = U32(at + 8);
      e.value_offset = at + 12;
    } else {
      e.length = U16(at + 6);
      e.value_offset = at + 8;
    }
    return e;
  }

  // Skips a value of undefined length starting at `at` (a sequence of
  // items, or encapsulated fragments); returns the offset after its
  // Sequence Delimitation Item.
  absl::StatusOr<size_t> SkipUndefined(size_t at, int depth) const {
    if (depth > 32) return absl::InvalidArgumentError("sequences nest too deep");
    while (true) {
      ASSIGN_OR_RETURN(Element item, Header(at));
      if (item.tag == kSequenceDelimiter) return item.value_offset;
      if (item.tag != kItem) {
        return absl::InvalidArgumentError(
            absl::StrCat("expected an item at offset ", at));
      }
      if (item.length != kUndefinedLength) {
        at = item.value_offset + item.length;
        continue;
      }
      ASSIGN_OR_RETURN(at, SkipItemDataset(item.value_offset, depth + 1));
    }
  }

 private:
  absl::StatusOr<size_t> SkipItemDataset(size_t at, int depth) const {
    while (true) {
      ASSIGN_OR_RETURN(Element e, Header(at));
      if (e.tag == kItemDelimiter) return e.value_offset;
      if (e.length == kUndefinedLength) {
        ASSIGN_OR_RETURN(at, SkipUndefined(e.value_offset, depth + 1));
      } else {
        at = e.value_offset + e.length;
      }
    }
  }

  std::span<const std::byte> b_;
  bool explicit_;
  bool big_;
};

std::string Text(std::span<const std::byte> b, const Element& e) {
  std::string s(reinterpret_cast<const char*>(b.data()) + e.value_offset,
                e.length);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  absl::string_view v = absl::StripLeadingAsciiWhitespace(s);
  return std::string(v);
}

std::vector<double> Numbers(const std::string& text) {
  std::vector<double> out;
  for (absl::string_view part : absl::StrSplit(text, '\\')) {
    double d;
    if (absl::SimpleAtod(absl::StripAsciiWhitespace(part), &d)) out.push_back(d);
  }
  return out;
}

std::optional<int32_t> Integer(const std::string& text) {
  std::vector<double> n = Numbers(text);
  if (n.empty()) return std::nullopt;
  return static_cast<int32_t>(n[0]);
}

// Stores one top-level element's value in the record.
void Store(const Reader& r, std::span<const std::byte> b, const Element& e,
           ParsedDicom* out) {
  v1::DicomInstance& rec = out->record;
  auto us = [&] { return e.length >= 2 ? r.U16(e.value_offset) : 0u; };
  switch (e.tag) {
    case Tag(0x0008, 0x0016): rec.set_sop_class_uid(Text(b, e)); break;
    case Tag(0x0008, 0x0018): rec.set_sop_instance_uid(Text(b, e)); break;
    case Tag(0x0008, 0x0020): rec.set_study_date(Text(b, e)); break;
    case Tag(0x0008, 0x0060): rec.set_modality(Text(b, e)); break;
    case Tag(0x0010, 0x0020): rec.set_patient_id(Text(b, e)); break;
    case Tag(0x0018, 0x0015): rec.set_body_part_examined(Text(b, e)); break;
    case Tag(0x0018, 0x0050):
      if (auto n = Numbers(Text(b, e)); !n.empty()) rec.set_slice_thickness(n[0]);
      break;
    case Tag(0x0020, 0x000D): rec.set_study_instance_uid(Text(b, e)); break;
    case Tag(0x0020, 0x000E): rec.set_series_instance_uid(Text(b, e)); break;
    case Tag(0x0020, 0x0011):
      if (auto n = Integer(Text(b, e))) rec.set_series_number(*n);
      break;
    case Tag(0x0020, 0x0013):
      if (auto n = Integer(Text(b, e))) rec.set_instance_number(*n);
      break;
    case Tag(0x0020, 0x0032):
      for (double d : Numbers(Text(b, e))) rec.add_image_position_patient(d);
      break;
    case Tag(0x0020, 0x0037):
      for (double d : Numbers(Text(b, e))) rec.add_image_orientation_patient(d);
      break;
    case Tag(0x0028, 0x0002): rec.set_samples_per_pixel(us()); break;
    case Tag(0x0028, 0x0004): rec.set_photometric_interpretation(Text(b, e)); break;
    case Tag(0x0028, 0x0006): out->planar_configuration = us(); break;
    case Tag(0x0028, 0x0008):
      if (auto n = Integer(Text(b, e)); n && *n > 0) rec.set_number_of_frames(*n);
      break;
    case Tag(0x0028, 0x0010): rec.set_rows(us()); break;
    case Tag(0x0028, 0x0011): rec.set_columns(us()); break;
    case Tag(0x0028, 0x0030):
      for (double d : Numbers(Text(b, e))) rec.add_pixel_spacing(d);
      break;
    case Tag(0x0028, 0x0100): rec.set_bits_allocated(us()); break;
    case Tag(0x0028, 0x0101): rec.set_bits_stored(us()); break;
    case Tag(0x0028, 0x0103): rec.set_pixel_representation(us()); break;
    case Tag(0x0028, 0x1050):
      for (double d : Numbers(Text(b, e))) rec.add_window_center(d);
      break;
    case Tag(0x0028, 0x1051):
      for (double d : Numbers(Text(b, e))) rec.add_window_width(d);
      break;
    case Tag(0x0028, 0x1052):
      if (auto n = Numbers(Text(b, e)); !n.empty()) rec.set_rescale_intercept(n[0]);
      break;
    case Tag(0x0028, 0x1053):
      if (auto n = Numbers(Text(b, e)); !n.empty()) rec.set_rescale_slope(n[0]);
      break;
    default: break;
  }
}

// Where the data set starts and its encoding, from preamble and meta group.
struct Start {
  size_t offset = 0;
  std::string transfer_syntax;
};

absl::StatusOr<Start> ReadMeta(std::span<const std::byte> b) {
  Start s;
  if (b.size() >= 132 && std::memcmp(b.data() + 128, "DICM", 4) == 0) {
    Reader meta(b, /*explicit_vr=*/true, /*big_endian=*/false);
    size_t at = 132;
    while (at + 8 <= b.size() && meta.U16(at) == 0x0002) {
      ASSIGN_OR_RETURN(Element e, meta.Header(at));
      if (e.value_offset + e.length > b.size()) {
        return absl::OutOfRangeError("file meta information");
      }
      if (e.tag == Tag(0x0002, 0x0010)) s.transfer_syntax = Text(b, e);
      at = e.value_offset + e.length;
    }
    s.offset = at;
    if (s.transfer_syntax.empty()) s.transfer_syntax = ts::kExplicitLittle;
    return s;
  }
  // No preamble: guess from the first element (explicit VR has letters).
  if (b.size() < 8) return absl::InvalidArgumentError("too short for DICOM");
  auto* p = reinterpret_cast<const char*>(b.data());
  bool letters = absl::ascii_isupper(p[4]) && absl::ascii_isupper(p[5]);
  bool group_even = (static_cast<uint8_t>(p[0]) & 1) == 0 && p[1] == 0;
  if (!group_even && !(p[0] == 0 && (static_cast<uint8_t>(p[1]) & 1) == 0)) {
    return absl::InvalidArgumentError("no DICM prefix and no data set");
  }
  if (!group_even) {
    s.transfer_syntax = ts::kExplicitBig;
  } else {
    s.transfer_syntax = letters ? ts::kExplicitLittle : ts::kImplicitLittle;
  }
  return s;
}

absl::Status WalkDataset(std::span<const std::byte> b, uint64_t file_size,
                         const Start& start, ParsedDicom* out) {
  const std::string& tsuid = start.transfer_syntax;
  if (tsuid == ts::kDeflated) return absl::OkStatus();  // offsets unknowable
  Reader r(b, tsuid != ts::kImplicitLittle, tsuid == ts::kExplicitBig);
  size_t at = start.offset;
  while (at < b.size()) {
    ASSIGN_OR_RETURN(Element e, r.Header(at));
    if (e.tag == kPixelData) {
      out->record.set_pixel_data_offset(e.value_offset);
      if (e.length == kUndefinedLength) {
        out->record.set_pixel_data_encapsulated(true);
        uint64_t len = file_size - e.value_offset;
        if (auto end = r.SkipUndefined(e.value_offset, 0); end.ok()) {
          len = *end - 8 - e.value_offset;
        }
        out->record.set_pixel_data_length(len);
      } else {
        out->record.set_pixel_data_length(e.length);
      }
      return absl::OkStatus();
    }
    if (e.length == kUndefinedLength) {
      ASSIGN_OR_RETURN(at, r.SkipUndefined(e.value_offset, 0));
      continue;
    }
    if (e.value_offset + e.length > b.size()) {
      if (e.value_offset + e.length > file_size) {
        return absl::InvalidArgumentError(absl::StrCat(
            "element at offset ", at, " runs past the end of the file"));
      }
      return absl::OutOfRangeError("element value");
    }
    if ((e.tag >> 16) == 0x0028 || (e.tag >> 16) <= 0x0020) Store(r, b, e, out);
    at = e.value_offset + e.length;
  }
  if (b.size() < file_size) return absl::OutOfRangeError("no pixel data yet");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ParsedDicom> ParseDicom(std::span<const std::byte> bytes,
                                       uint64_t file_size,
                                       absl::string_view name) {
  auto context = [&](const absl::Status& s) {
    return Annotate(s, absl::StrCat("parsing DICOM file ", name));
  };
  auto start = ReadMeta(bytes);
  if (!start.ok()) return context(start.status());
  ParsedDicom out;
  out.record.set_number_of_frames(1);
  out.record.set_samples_per_pixel(1);
  out.record.set_transfer_syntax_uid(start->transfer_syntax);
  out.record.set_file_size(file_size);
  out.record.set_path(std::string(name));
  absl::Status status = WalkDataset(bytes, file_size, *start, &out);
  if (!status.ok()) return context(status);
  return out;
}

}  // namespace medfs::loader
