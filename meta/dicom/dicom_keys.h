// Keys of the `dicom` column family (documented in meta/dicom/README.md):
//
//   "D" dataset                              -> v1::DatasetRecord
//   "S" dataset                              -> v1::DatasetStats
//   "I" dataset \0 SOPInstanceUID            -> v1::DicomInstance
//   "G" dataset \0 kind value                -> fixed64 instances
//        kind 'P' PatientID, 'T' StudyInstanceUID, 'R' SeriesInstanceUID
//   "X" dataset \0 tag(u32 BE) value SOPUID  -> "" (secondary index)
//
// Index values are order-preserving: strings escaped (0x00 -> 0x00 0xFF)
// and terminated by 0x00 0x01; numbers as 8 bytes whose bytewise order is
// the order of the doubles. Dataset names never contain NUL ('/'-free
// file names), so "dataset \0" is a prefix of exactly one dataset.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace medfs::meta::dicom {

std::string DatasetKey(absl::string_view dataset);
std::string StatsKey(absl::string_view dataset);
std::string InstancePrefix(absl::string_view dataset);
std::string InstanceKey(absl::string_view dataset, absl::string_view sop);
std::string GroupKey(absl::string_view dataset, char kind, absl::string_view value);
// "X" dataset \0 tag: the start of one keyword's index.
std::string IndexPrefix(absl::string_view dataset, uint32_t tag);

// Appends the order-preserving encodings.
void AppendString(std::string* key, absl::string_view value);
// The escaped bytes of `value` without the terminator: every encoding of
// a string that starts with `value` starts with these bytes.
void AppendStringPrefix(std::string* key, absl::string_view value);
void AppendNumber(std::string* key, double value);

// The smallest key greater than every key starting with `prefix`
// (empty when there is none: all 0xFF).
std::string PrefixSuccessor(std::string prefix);

// The SOPInstanceUID at the end of an index key whose value part starts
// at `value_offset`; `numeric` says how the value is encoded. Empty when
// the key is malformed.
std::string SopFromIndexKey(absl::string_view key, size_t value_offset,
                            bool numeric);

}  // namespace medfs::meta::dicom
