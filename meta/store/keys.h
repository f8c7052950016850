// On-disk key encodings of the metadata store. The format is documented in
// meta/README.md ("On-disk format"); change it only with a migration.
//
//   inodes    EncodeId(inode id)                    -> v1::Inode
//   dentries  EncodeId(parent id) + name bytes      -> v1::DirEntryValue
//   chunks    EncodeId(chunk id)                    -> v1::ChunkRecord
//   servers   EncodeId(server id)                   -> v1::ServerRecord
//   system    ASCII names (kSystem* below)          -> fixed64 little-endian
//
// Ids are big-endian so that RocksDB's bytewise order is numeric order and
// one directory's entries are contiguous, sorted by name.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace medfs::meta {

// The root directory's inode id.
inline constexpr uint64_t kRootInode = 1;

// Longest name of one directory entry, in bytes (POSIX NAME_MAX).
inline constexpr size_t kMaxNameBytes = 255;

// Keys of the `system` column family.
inline constexpr absl::string_view kSystemInodeHighWater = "inode_high_water";
inline constexpr absl::string_view kSystemChunkHighWater = "chunk_high_water";
inline constexpr absl::string_view kSystemInodeCount = "inode_count";
inline constexpr absl::string_view kSystemChunkCount = "chunk_count";
inline constexpr absl::string_view kSystemDefaultReplication =
    "default_replication";
inline constexpr absl::string_view kSystemMaxChunkBytes = "max_chunk_bytes";

// 8 bytes, big-endian.
inline std::string EncodeId(uint64_t id) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(id & 0xff);
    id >>= 8;
  }
  return out;
}

// REQUIRES: bytes.size() >= 8. Reads the first 8 bytes.
inline uint64_t DecodeId(absl::string_view bytes) {
  uint64_t id = 0;
  for (int i = 0; i < 8; ++i) id = (id << 8) | static_cast<uint8_t>(bytes[i]);
  return id;
}

inline std::string DentryKey(uint64_t parent, absl::string_view name) {
  std::string key = EncodeId(parent);
  key.append(name.data(), name.size());
  return key;
}

// Values of the `system` column family: fixed64 little-endian.
inline std::string EncodeU64(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return out;
}

// Returns 0 for a value that is not 8 bytes long.
inline uint64_t DecodeU64(absl::string_view bytes) {
  if (bytes.size() != 8) return 0;
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<uint8_t>(bytes[i]);
  return value;
}

}  // namespace medfs::meta
