#include "common/fabric/wire.h"

#include <string>

#include "gtest/gtest.h"

namespace medfs::fabric::wire {
namespace {

constexpr size_t kLimit = 16 * 1024;

std::string Request(absl::string_view address, absl::string_view payload,
                    uint32_t id = 7) {
  return Encode(Message{MessageKind::kRequest, id, address, payload});
}

TEST(WireTest, RoundTripsRequestsAndReplies) {
  const std::string address(16, 'a');
  struct Case {
    Message message;
  } cases[] = {
      {{MessageKind::kRequest, 1, address, "payload"}},
      {{MessageKind::kRequest, 0xffffffffu, address, ""}},
      {{MessageKind::kReply, 42, "", "reply bytes"}},
      {{MessageKind::kReply, 42, "", ""}},
      {{MessageKind::kErrorReply, 9, "", "why"}},
  };
  for (const Case& c : cases) {
    const std::string bytes = Encode(c.message);
    ASSERT_EQ(bytes.size(), EncodedSize(c.message));
    absl::StatusOr<Message> decoded = Decode(bytes, kLimit);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(decoded->kind, c.message.kind);
    EXPECT_EQ(decoded->call_id, c.message.call_id);
    EXPECT_EQ(decoded->sender_address, c.message.sender_address);
    EXPECT_EQ(decoded->payload, c.message.payload);
  }
}

TEST(WireTest, HeaderLayoutIsLittleEndian) {
  const std::string bytes = Request("ab", "xyz", 0x01020304);
  ASSERT_EQ(bytes.size(), kHeaderBytes + 2 + 3);
  EXPECT_EQ(bytes.substr(0, 4), "MDFB");
  EXPECT_EQ(bytes[4], 1);  // version
  EXPECT_EQ(bytes[5], 1);  // request
  EXPECT_EQ(bytes[6], 2);  // address length, low byte
  EXPECT_EQ(bytes[7], 0);
  EXPECT_EQ(bytes.substr(8, 4), std::string("\x04\x03\x02\x01", 4));
  EXPECT_EQ(bytes[12], 3);  // payload length
  EXPECT_EQ(bytes.substr(16), "abxyz");
}

std::string Patched(std::string bytes, size_t offset, char value) {
  bytes[offset] = value;
  return bytes;
}

TEST(WireTest, RejectsMalformedMessages) {
  const std::string good = Request("addr", "payload");
  const std::string reply =
      Encode(Message{MessageKind::kReply, 3, "", "payload"});
  struct Case {
    const char* name;
    std::string bytes;
    const char* expected_text;
  } cases[] = {
      {"empty", "", "truncated header"},
      {"short header", good.substr(0, kHeaderBytes - 1), "truncated header"},
      {"truncated payload", good.substr(0, good.size() - 1),
       "truncated message"},
      {"header only", good.substr(0, kHeaderBytes), "truncated message"},
      {"trailing bytes", good + "x", "trailing bytes"},
      {"bad magic", Patched(good, 0, 'X'), "bad magic"},
      {"bad version", Patched(good, 4, 2), "unsupported version"},
      {"unknown kind", Patched(good, 5, 9), "unknown kind"},
      {"kind zero", Patched(good, 5, 0), "unknown kind"},
      {"request without address", Patched(good, 6, 0), "sender address"},
      {"reply with address", Patched(reply, 6, 1), "sender address"},
      {"call id zero", Request("addr", "payload", 0), "call id 0"},
      {"address too long", Patched(good, 7, 2), "sender address"},
      {"announced length over limit", Patched(good, 15, 1), "limit"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Message> decoded = Decode(c.bytes, kLimit);
    ASSERT_FALSE(decoded.ok()) << c.name;
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument)
        << c.name;
    EXPECT_NE(decoded.status().message().find(c.expected_text),
              absl::string_view::npos)
        << c.name << ": " << decoded.status();
  }
}

TEST(WireTest, RejectsOversizedMessages) {
  const std::string big = Request("addr", std::string(kLimit, 'p'));
  absl::StatusOr<Message> decoded = Decode(big, kLimit);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(decoded.status().message().find("oversized"),
            absl::string_view::npos);
  // Exactly at the limit is fine.
  const std::string fits =
      Request("addr", std::string(kLimit - kHeaderBytes - 4, 'p'));
  EXPECT_TRUE(Decode(fits, kLimit).ok());
}

TEST(WireTest, SenderAddressOfDamagedRequests) {
  const std::string good = Request("addr", "payload");
  EXPECT_EQ(SenderAddressIfPresent(good), "addr");
  EXPECT_EQ(SenderAddressIfPresent(good.substr(0, kHeaderBytes + 4)), "addr");
  EXPECT_EQ(SenderAddressIfPresent(good.substr(0, kHeaderBytes + 3)), "");
  EXPECT_EQ(SenderAddressIfPresent(Patched(good, 0, 'X')), "");
  EXPECT_EQ(SenderAddressIfPresent(
                Encode(Message{MessageKind::kReply, 1, "", "p"})),
            "");
  EXPECT_EQ(SenderAddressIfPresent(""), "");
}

}  // namespace
}  // namespace medfs::fabric::wire
