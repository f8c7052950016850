// Keys of the manifests in the `dicom` column family (README.md):
//
//   "M" dataset \0 name \0 version(u64 BE)           -> v1::ManifestRecord
//   "m" dataset \0 name \0 version(u64 BE) page(u32 BE) -> v1::ManifestPage
//   "N" dataset \0 name                              -> fixed64 LE latest version
//
// Dataset and manifest names never contain NUL, so "M" dataset \0 name \0
// is the prefix of exactly one manifest's versions, and versions sort in
// number order.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "meta/store/keys.h"

namespace medfs::meta::dicom {

// "M" dataset \0: every manifest header of a dataset.
inline std::string ManifestDatasetPrefix(absl::string_view dataset) {
  std::string key = absl::StrCat("M", dataset);
  key.push_back('\0');
  return key;
}

// "M" dataset \0 name \0: every version of one manifest.
inline std::string ManifestNamePrefix(absl::string_view dataset, absl::string_view name) {
  std::string key = ManifestDatasetPrefix(dataset);
  key.append(name.data(), name.size());
  key.push_back('\0');
  return key;
}

inline std::string ManifestKey(absl::string_view dataset, absl::string_view name,
                               uint64_t version) {
  return ManifestNamePrefix(dataset, name) + EncodeId(version);
}

inline std::string ManifestPageKey(absl::string_view dataset, absl::string_view name,
                                   uint64_t version, uint32_t page) {
  std::string key = absl::StrCat("m", dataset);
  key.push_back('\0');
  key.append(name.data(), name.size());
  key.push_back('\0');
  key += EncodeId(version);
  for (int shift = 24; shift >= 0; shift -= 8) {
    key.push_back(static_cast<char>((page >> shift) & 0xff));
  }
  return key;
}

inline std::string ManifestLatestKey(absl::string_view dataset, absl::string_view name) {
  std::string key = absl::StrCat("N", dataset);
  key.push_back('\0');
  key.append(name.data(), name.size());
  return key;
}

}  // namespace medfs::meta::dicom
