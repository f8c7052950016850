// CRC32C (Castagnoli), computed with ISA-L's hardware-accelerated routine.
//
// Every chunk stores one CRC32C per 64 KiB block (kChecksumBlockBytes);
// readers verify each block they touch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace medfs {

inline constexpr size_t kChecksumBlockBytes = 64 * 1024;

// CRC32C of `data`, continuing from `crc` (0 to start). Extend(Extend(0,a),b)
// equals Extend(0, a+b).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t length);

inline uint32_t Crc32c(const void* data, size_t length) {
  return Crc32cExtend(0, data, length);
}

inline uint32_t Crc32c(std::span<const std::byte> data) {
  return Crc32cExtend(0, data.data(), data.size());
}

}  // namespace medfs
