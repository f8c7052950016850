// Content sniffing: what a byte string is, judged by its first bytes and
// never by its name.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace medfs::ingest {

enum class ContentKind {
  kDicomPart10,    // 128-byte preamble followed by "DICM"
  kDicomRaw,       // no preamble, but starts like a DICOM data set
                   // (a plausible group 0x0002..0x0008 element, explicit
                   // or implicit VR little endian)
  kArchive,        // zip, tar, gzip, bzip2 or xz (read through libarchive)
  kOther,          // anything else
};

// Bytes needed to sniff reliably (tar's "ustar" magic sits at 257).
inline constexpr size_t kSniffBytes = 512;

// Classifies `head`, the first min(kSniffBytes, size) bytes of a file.
ContentKind Sniff(std::span<const std::byte> head);

inline bool IsDicom(ContentKind kind) {
  return kind == ContentKind::kDicomPart10 || kind == ContentKind::kDicomRaw;
}

}  // namespace medfs::ingest
