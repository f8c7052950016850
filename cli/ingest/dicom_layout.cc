#include "cli/ingest/dicom_layout.h"

#include <cstring>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "common/status.h"

namespace medfs::ingest {
namespace {

constexpr uint32_t kUndefinedLength = 0xFFFFFFFF;
constexpr int kMaxDepth = 32;

struct Header {
  uint16_t group = 0;
  uint16_t element = 0;
  char vr[3] = {0, 0, 0};  // empty for implicit VR and items
  uint32_t length = 0;
  size_t size = 0;          // bytes of the header itself
};

bool IsKnownVr(const char* vr) {
  static constexpr const char* kVrs[] = {
      "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO",
      "LT", "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ",
      "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT",
      "UV"};
  for (const char* known : kVrs) {
    if (vr[0] == known[0] && vr[1] == known[1]) return true;
  }
  return false;
}

bool HasLongHeader(const char* vr) {
  static constexpr const char* kLong[] = {"OB", "OD", "OF", "OL", "OV", "OW",
                                          "SQ", "UC", "UN", "UR", "UT", "SV",
                                          "UV"};
  for (const char* known : kLong) {
    if (vr[0] == known[0] && vr[1] == known[1]) return true;
  }
  return false;
}

// Walks element headers of one encoding over the whole file.
class Scanner {
 public:
  Scanner(std::span<const std::byte> file, bool explicit_vr, bool little)
      : file_(file), explicit_vr_(explicit_vr), little_(little) {}

  uint16_t U16(size_t at) const {
    auto b = [&](size_t i) { return static_cast<uint16_t>(file_[at + i]); };
    return little_ ? static_cast<uint16_t>(b(0) | (b(1) << 8))
                   : static_cast<uint16_t>((b(0) << 8) | b(1));
  }
  uint32_t U32(size_t at) const {
    uint32_t lo = U16(at), hi = U16(at + 2);
    return little_ ? (lo | (hi << 16)) : ((lo << 16) | hi);
  }

  absl::StatusOr<Header> ReadHeader(size_t pos) const {
    if (pos + 8 > file_.size()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "truncated: element header at offset %d runs past the end (%d "
          "bytes)", pos, file_.size()));
    }
    Header h;
    h.group = U16(pos);
    h.element = U16(pos + 2);
    if (h.group == 0xFFFE || !explicit_vr_) {
      h.length = U32(pos + 4);
      h.size = 8;
      return h;
    }
    h.vr[0] = static_cast<char>(file_[pos + 4]);
    h.vr[1] = static_cast<char>(file_[pos + 5]);
    if (!IsKnownVr(h.vr)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "invalid VR 0x%02x%02x in element (%04X,%04X) at offset %d",
          static_cast<uint8_t>(h.vr[0]), static_cast<uint8_t>(h.vr[1]),
          h.group, h.element, pos));
    }
    if (HasLongHeader(h.vr)) {
      if (pos + 12 > file_.size()) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "truncated: element (%04X,%04X) header at offset %d", h.group,
            h.element, pos));
      }
      h.length = U32(pos + 8);
      h.size = 12;
    } else {
      h.length = U16(pos + 6);
      h.size = 8;
    }
    return h;
  }

  // Skips one element starting at `pos`; returns the position after it.
  // `delimiter` receives where a closing sequence delimiter starts.
  absl::StatusOr<size_t> SkipElement(size_t pos, const Header& h, int depth,
                                     size_t* delimiter) {
    size_t value = pos + h.size;
    if (h.length != kUndefinedLength) {
      if (h.length > file_.size() - value) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "truncated: element (%04X,%04X) at offset %d declares %d bytes, "
            "%d remain", h.group, h.element, pos, h.length,
            file_.size() - value));
      }
      return value + h.length;
    }
    // Undefined length: a sequence, encapsulated pixel data, or UN holding
    // an implicit VR little endian sequence.
    if (h.vr[0] == 'U' && h.vr[1] == 'N') {
      Scanner implicit(file_, /*explicit_vr=*/false, /*little=*/true);
      return implicit.SkipItems(value, depth + 1, delimiter);
    }
    return SkipItems(value, depth + 1, delimiter);
  }

  // Skips items up to and including the sequence delimitation item.
  absl::StatusOr<size_t> SkipItems(size_t pos, int depth, size_t* delimiter) {
    if (depth > kMaxDepth) {
      return absl::InvalidArgumentError(
          absl::StrFormat("sequences nested deeper than %d at offset %d",
                          kMaxDepth, pos));
    }
    while (true) {
      ASSIGN_OR_RETURN(Header h, ReadHeader(pos));
      if (h.group != 0xFFFE) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "expected an item at offset %d, found (%04X,%04X)", pos, h.group,
            h.element));
      }
      if (h.element == 0xE0DD) {
        if (delimiter != nullptr) *delimiter = pos;
        return pos + 8;
      }
      if (h.element != 0xE000) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "unexpected delimiter (FFFE,%04X) at offset %d", h.element, pos));
      }
      if (h.length != kUndefinedLength) {
        if (h.length > file_.size() - (pos + 8)) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "truncated: item at offset %d declares %d bytes, %d remain",
              pos, h.length, file_.size() - pos - 8));
        }
        pos += 8 + h.length;
        continue;
      }
      ASSIGN_OR_RETURN(pos, SkipItemElements(pos + 8, depth));
    }
  }

  // Elements of an undefined-length item, through its item delimiter.
  absl::StatusOr<size_t> SkipItemElements(size_t pos, int depth) {
    while (true) {
      ASSIGN_OR_RETURN(Header h, ReadHeader(pos));
      if (h.group == 0xFFFE && h.element == 0xE00D) return pos + 8;
      ASSIGN_OR_RETURN(pos, SkipElement(pos, h, depth, nullptr));
    }
  }

  // Walks the top-level data set from `pos` to the end of the file.
  absl::Status ScanDataSet(size_t pos, DicomLayout* layout) {
    while (pos < file_.size()) {
      ASSIGN_OR_RETURN(Header h, ReadHeader(pos));
      if (h.group == 0xFFFE) {
        // Stray delimiters at the top level: tolerated only as the last
        // bytes (some writers leave a sequence delimiter), else corrupt.
        return absl::InvalidArgumentError(absl::StrFormat(
            "unexpected item tag (FFFE,%04X) at top level, offset %d",
            h.element, pos));
      }
      size_t delimiter = 0;
      ASSIGN_OR_RETURN(size_t next, SkipElement(pos, h, 0, &delimiter));
      bool pixel = h.group == 0x7FE0 &&
                   (h.element == 0x0010 || h.element == 0x0008 ||
                    h.element == 0x0009);
      if (pixel && !layout->has_pixel_data) {
        layout->has_pixel_data = true;
        layout->pixel_element_offset = pos;
        layout->pixel_value_offset = pos + h.size;
        layout->encapsulated = h.length == kUndefinedLength;
        layout->pixel_value_length =
            layout->encapsulated ? delimiter - (pos + h.size) : h.length;
        layout->pixel_element_end = next;
      } else if (layout->has_pixel_data) {
        ++layout->trailing_elements;
      }
      pos = next;
    }
    return absl::OkStatus();
  }

 private:
  std::span<const std::byte> file_;
  bool explicit_vr_;
  bool little_;
};

// Reads the meta group (explicit VR little endian) from `pos`.
absl::StatusOr<size_t> ScanMetaGroup(std::span<const std::byte> file,
                                     size_t pos, DicomLayout* layout) {
  Scanner meta(file, /*explicit_vr=*/true, /*little=*/true);
  while (pos + 8 <= file.size() && meta.U16(pos) == 0x0002) {
    ASSIGN_OR_RETURN(Header h, meta.ReadHeader(pos));
    ASSIGN_OR_RETURN(size_t next, meta.SkipElement(pos, h, 0, nullptr));
    if (h.element == 0x0010 && h.length != kUndefinedLength) {
      std::string uid(reinterpret_cast<const char*>(file.data()) + pos + h.size,
                      h.length);
      while (!uid.empty() && (uid.back() == '\0' || uid.back() == ' ')) {
        uid.pop_back();
      }
      layout->transfer_syntax_uid = uid;
    }
    layout->has_meta_header = true;
    pos = next;
  }
  return pos;
}

}  // namespace

absl::StatusOr<DicomLayout> ScanDicomLayout(std::span<const std::byte> file) {
  DicomLayout layout;
  size_t pos = 0;
  if (file.size() >= 132 && std::memcmp(file.data() + 128, "DICM", 4) == 0) {
    layout.has_preamble = true;
    pos = 132;
  }
  ASSIGN_OR_RETURN(pos, ScanMetaGroup(file, pos, &layout));
  layout.dataset_offset = pos;
  const std::string& ts = layout.transfer_syntax_uid;
  if (ts == kDeflatedExplicitVrLittleEndian) {
    layout.deflated = true;
    return layout;
  }
  if (ts == kImplicitVrLittleEndian) {
    layout.explicit_vr = false;
  } else if (ts == kExplicitVrBigEndian) {
    layout.little_endian = false;
  } else if (ts.empty()) {
    // No meta group: explicit VR if the first element shows a known VR.
    char vr[3] = {0, 0, 0};
    if (pos + 6 <= file.size()) {
      vr[0] = static_cast<char>(file[pos + 4]);
      vr[1] = static_cast<char>(file[pos + 5]);
    }
    layout.explicit_vr = IsKnownVr(vr);
  }
  Scanner scanner(file, layout.explicit_vr, layout.little_endian);
  RETURN_IF_ERROR(scanner.ScanDataSet(pos, &layout));
  return layout;
}

}  // namespace medfs::ingest
