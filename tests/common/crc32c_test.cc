#include "common/crc32c.h"

#include <string>

#include "gtest/gtest.h"

namespace medfs {
namespace {

TEST(Crc32cTest, MatchesKnownVectors) {
  struct Case {
    std::string input;
    uint32_t expected;
  };
  const Case cases[] = {
      {"", 0x00000000u},
      {"123456789", 0xE3069283u},  // the CRC-32C check value
      {std::string(32, '\0'), 0x8A9136AAu},
      {std::string(32, '\xff'), 0x62A8AB43u},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Crc32c(c.input.data(), c.input.size()), c.expected)
        << "input of " << c.input.size() << " bytes";
  }
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  std::string data(200000, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  const uint32_t whole = Crc32c(data.data(), data.size());
  for (size_t split : {size_t{0}, size_t{1}, size_t{65536}, data.size()}) {
    uint32_t crc = Crc32cExtend(0, data.data(), split);
    crc = Crc32cExtend(crc, data.data() + split, data.size() - split);
    EXPECT_EQ(crc, whole) << "split at " << split;
  }
}

}  // namespace
}  // namespace medfs
