#include "meta/dicom/dicom_keys.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace medfs::meta::dicom {

std::string DatasetKey(absl::string_view dataset) { return absl::StrCat("D", dataset); }
std::string StatsKey(absl::string_view dataset) { return absl::StrCat("S", dataset); }

std::string InstancePrefix(absl::string_view dataset) {
  std::string key = absl::StrCat("I", dataset);
  key.push_back('\0');
  return key;
}

std::string InstanceKey(absl::string_view dataset, absl::string_view sop) {
  std::string key = InstancePrefix(dataset);
  key.append(sop.data(), sop.size());
  return key;
}

std::string GroupKey(absl::string_view dataset, char kind, absl::string_view value) {
  std::string key = absl::StrCat("G", dataset);
  key.push_back('\0');
  key.push_back(kind);
  key.append(value.data(), value.size());
  return key;
}

std::string IndexPrefix(absl::string_view dataset, uint32_t tag) {
  std::string key = absl::StrCat("X", dataset);
  key.push_back('\0');
  for (int shift = 24; shift >= 0; shift -= 8) {
    key.push_back(static_cast<char>((tag >> shift) & 0xff));
  }
  return key;
}

void AppendStringPrefix(std::string* key, absl::string_view value) {
  for (char c : value) {
    key->push_back(c);
    if (c == '\0') key->push_back('\xff');
  }
}

void AppendString(std::string* key, absl::string_view value) {
  AppendStringPrefix(key, value);
  key->push_back('\0');
  key->push_back('\x01');
}

void AppendNumber(std::string* key, double value) {
  if (value == 0) value = 0;  // -0 sorts with +0
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  bits = (bits & (uint64_t{1} << 63)) ? ~bits : (bits | (uint64_t{1} << 63));
  for (int shift = 56; shift >= 0; shift -= 8) {
    key->push_back(static_cast<char>((bits >> shift) & 0xff));
  }
}

std::string PrefixSuccessor(std::string prefix) {
  while (!prefix.empty()) {
    unsigned char last = static_cast<unsigned char>(prefix.back());
    if (last != 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;
}

std::string SopFromIndexKey(absl::string_view key, size_t value_offset, bool numeric) {
  if (numeric) {
    if (key.size() < value_offset + 8) return "";
    return std::string(key.substr(value_offset + 8));
  }
  for (size_t i = value_offset; i + 1 < key.size(); ++i) {
    if (key[i] != '\0') continue;
    if (key[i + 1] == '\x01') return std::string(key.substr(i + 2));
    ++i;  // escaped NUL (0x00 0xFF)
  }
  return "";
}

}  // namespace medfs::meta::dicom
