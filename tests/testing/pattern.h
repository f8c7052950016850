// Deterministic test data shared by tests: `Pattern(n, seed)` is n bytes of
// xorshift output, different for every seed and cheap to regenerate, so a
// test can write bytes and later check what it reads back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace medfs::testing {

inline std::string Pattern(size_t n, uint64_t seed) {
  std::string s(n, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s[i] = static_cast<char>(x);
  }
  return s;
}

}  // namespace medfs::testing
