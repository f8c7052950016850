#include "common/dataplane/protocol.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace medfs::dataplane {
namespace {

fabric::RemoteBuffer Remote(uint64_t length) {
  return fabric::RemoteBuffer{0x7f00deadbeef0000ull, 0x1122334455667788ull,
                              length};
}

ReadRequest SampleRead() {
  ReadRequest r;
  r.chunk_id = 0x0102030405060708ull;
  r.offset = 3 * kBlockBytes + 17;
  r.length = 100000;
  r.flags = kReadCachedByReader;
  r.destination = Remote(1 << 20);
  return r;
}

WriteRequest SampleWrite() {
  WriteRequest w;
  w.chunk_id = 42;
  w.offset = 2 * kBlockBytes;
  w.length = 1000;
  w.flags = kWriteFirst | kWriteSeal;
  w.total_length = 2 * kBlockBytes + 1000;
  w.source = Remote(kMaxPieceBytes);
  w.chain = {{7, std::string(16, '\x01')}, {9, std::string("\0abc", 4)}};
  return w;
}

std::vector<Request> AllSampleRequests() {
  WriteRequest middle = SampleWrite();
  middle.flags = 0;
  middle.length = kMaxPieceBytes;
  middle.total_length = 0;
  middle.chain.clear();
  return {PingRequest{},          SampleRead(),
          SampleWrite(),          middle,
          DeleteRequest{.chunk_id = 5}, StatRequest{.chunk_id = ~0ull}};
}

bool SameRequest(const Request& a, const Request& b) {
  return EncodeRequest(a) == EncodeRequest(b);
}

TEST(ProtocolTest, EveryRequestRoundTrips) {
  for (const Request& request : AllSampleRequests()) {
    std::string encoded = EncodeRequest(request);
    auto decoded = DecodeRequest(encoded);
    ASSERT_TRUE(decoded.ok()) << OpName(RequestOp(request)) << ": "
                              << decoded.status();
    EXPECT_EQ(RequestOp(*decoded), RequestOp(request));
    EXPECT_TRUE(SameRequest(*decoded, request));
  }
}

TEST(ProtocolTest, FieldsSurviveRoundTrip) {
  WriteRequest w = SampleWrite();
  std::string encoded;
  w.EncodeTo(&encoded);
  WriteRequest back;
  ASSERT_TRUE(back.DecodeFrom(encoded).ok());
  EXPECT_EQ(back.chunk_id, w.chunk_id);
  EXPECT_EQ(back.offset, w.offset);
  EXPECT_EQ(back.length, w.length);
  EXPECT_EQ(back.flags, w.flags);
  EXPECT_TRUE(back.first());
  EXPECT_TRUE(back.seal());
  EXPECT_EQ(back.total_length, w.total_length);
  EXPECT_EQ(back.source.address, w.source.address);
  EXPECT_EQ(back.source.key, w.source.key);
  EXPECT_EQ(back.source.length, w.source.length);
  EXPECT_EQ(back.chain, w.chain);
}

TEST(ProtocolTest, LayoutIsLittleEndianFixed) {
  std::string encoded;
  SampleRead().EncodeTo(&encoded);
  ASSERT_EQ(encoded.size(), 50u);
  EXPECT_EQ(encoded[0], 2);  // version
  EXPECT_EQ(encoded[1], 2);  // READ
  EXPECT_EQ(encoded[2], 0x08);  // chunk id, least significant byte first
  EXPECT_EQ(encoded[9], 0x01);
  encoded.clear();
  DeleteRequest{.chunk_id = 1}.EncodeTo(&encoded);
  EXPECT_EQ(encoded.size(), 10u);
  encoded.clear();
  Reply{}.EncodeTo(&encoded);
  EXPECT_EQ(encoded.size(), 29u);
  EXPECT_EQ(static_cast<uint8_t>(encoded[1]), 0x81);
}

TEST(ProtocolTest, EveryTruncationOfEveryRequestFails) {
  for (const Request& request : AllSampleRequests()) {
    std::string encoded = EncodeRequest(request);
    for (size_t n = 0; n < encoded.size(); ++n) {
      auto decoded = DecodeRequest(absl::string_view(encoded.data(), n));
      EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument)
          << OpName(RequestOp(request)) << " cut at " << n;
    }
  }
}

TEST(ProtocolTest, TrailingBytesAreRejected) {
  for (const Request& request : AllSampleRequests()) {
    std::string encoded = EncodeRequest(request) + "x";
    auto decoded = DecodeRequest(encoded);
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(decoded.status().message().find("trailing"), std::string::npos)
        << decoded.status();
  }
}

std::vector<Reply> SampleReplies() {
  Reply ok;
  ok.op = Op::kStat;
  ok.server_id = 3;
  ok.chunk = {.exists = true, .sealed = true, .length = 77, .crc32c = 0xabcd};
  Reply error = Reply::FromStatus(
      Op::kWrite, absl::UnavailableError("forwarding to server 9: timeout"), 9);
  Reply read_error =
      Reply::FromStatus(Op::kRead, absl::DataLossError("block 3: checksum"));
  return {ok, error, read_error, Reply{}};
}

TEST(ProtocolTest, RepliesRoundTrip) {
  for (const Reply& reply : SampleReplies()) {
    std::string encoded;
    reply.EncodeTo(&encoded);
    auto back = DecodeReply(reply.op, encoded);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->op, reply.op);
    EXPECT_EQ(back->code, reply.code);
    EXPECT_EQ(back->message, reply.message);
    EXPECT_EQ(back->server_id, reply.server_id);
    EXPECT_EQ(back->chunk, reply.chunk);
    EXPECT_EQ(back->status(), reply.status());
    for (size_t n = 0; n < encoded.size(); ++n) {
      EXPECT_EQ(DecodeReply(reply.op, encoded.substr(0, n)).status().code(),
                absl::StatusCode::kInvalidArgument)
          << "cut at " << n;
    }
  }
}

TEST(ProtocolTest, ReplyForAnotherOpIsRejected) {
  std::string encoded;
  Reply::FromStatus(Op::kStat, absl::OkStatus()).EncodeTo(&encoded);
  EXPECT_EQ(DecodeReply(Op::kWrite, encoded).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A request is not a reply, and a reply is not a request.
  EXPECT_FALSE(DecodeReply(Op::kPing, EncodeRequest(PingRequest{})).ok());
  EXPECT_FALSE(DecodeRequest(encoded).ok());
}

TEST(ProtocolTest, LongReplyMessagesAreTruncated) {
  Reply reply = Reply::FromStatus(
      Op::kRead, absl::InternalError(std::string(5000, 'm')));
  std::string encoded;
  reply.EncodeTo(&encoded);
  auto back = DecodeReply(Op::kRead, encoded);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->message.size(), kMaxReplyMessageBytes);
}

TEST(ProtocolTest, UnknownStatusCodeIsRejected) {
  std::string encoded;
  Reply{}.EncodeTo(&encoded);
  encoded[2] = 17;  // code: one past kUnauthenticated
  EXPECT_EQ(DecodeReply(Op::kPing, encoded).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Each case mutates a valid request into an invalid one; decoding must fail
// with kInvalidArgument and a message naming `expect`.
TEST(ProtocolTest, InvalidRequestsNameTheFault) {
  struct Case {
    const char* name;
    std::string encoded;
    const char* expect;
  };
  auto write = [](auto mutate) {
    WriteRequest w = SampleWrite();
    mutate(w);
    std::string s;
    w.EncodeTo(&s);
    return s;
  };
  auto read = [](auto mutate) {
    ReadRequest r = SampleRead();
    mutate(r);
    std::string s;
    r.EncodeTo(&s);
    return s;
  };
  std::string bad_version = EncodeRequest(PingRequest{});
  bad_version[0] = 1;  // the version before READ had flags
  std::string bad_op = EncodeRequest(PingRequest{});
  bad_op[1] = 9;
  std::string many_links = write([](WriteRequest& w) {
    w.chain.assign(kMaxChainLength + 1, ChainLink{1, "a"});
  });
  const Case cases[] = {
      {"version", bad_version, "version 1"},
      {"op", bad_op, "unknown op 9"},
      {"empty", "", "truncated"},
      {"read too long",
       read([](ReadRequest& r) { r.length = kMaxPieceBytes + 1; }),
       "piece limit"},
      {"read zero", read([](ReadRequest& r) { r.length = 0; }), "length 0"},
      {"read small buffer",
       read([](ReadRequest& r) { r.destination.length = r.length - 1; }),
       "smaller than length"},
      {"read overflow",
       read([](ReadRequest& r) { r.offset = ~0ull - 10; }), "overflows"},
      {"write too long", write([](WriteRequest& w) {
         w.length = kMaxPieceBytes + 1;
         w.total_length = w.offset + w.length;
       }),
       "piece limit"},
      {"write misaligned", write([](WriteRequest& w) {
         w.offset = 100;
         w.total_length = 1100;
       }),
       "not a multiple"},
      {"write partial block", write([](WriteRequest& w) { w.flags = 0; }),
       "non-final piece"},
      {"seal short", write([](WriteRequest& w) { w.total_length += 1; }),
       "total_length"},
      {"flags", write([](WriteRequest& w) { w.flags |= 0x10; }),
       "unknown flags"},
      {"read flags", read([](ReadRequest& r) { r.flags |= 0x4; }), "unknown flags"},
      {"chain too long", many_links, "exceeds"},
      {"empty address",
       write([](WriteRequest& w) { w.chain[0].fabric_address.clear(); }),
       "address of 0 bytes"},
      {"huge address", write([](WriteRequest& w) {
         w.chain[0].fabric_address.assign(kMaxFabricAddressBytes + 1, 'x');
       }),
       "address of 129 bytes"},
  };
  for (const Case& c : cases) {
    auto decoded = DecodeRequest(c.encoded);
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument)
        << c.name;
    EXPECT_NE(decoded.status().message().find(c.expect), std::string::npos)
        << c.name << ": " << decoded.status();
  }
}

TEST(ProtocolTest, GarbageNeverCrashesAndRarelyDecodes) {
  std::mt19937_64 random(1234);
  int decoded_ok = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string garbage(random() % 80, '\0');
    for (char& c : garbage) c = static_cast<char>(random());
    // Half the inputs get a valid header so the body decoders are exercised.
    if (i % 2 == 0 && garbage.size() >= 2) {
      garbage[0] = kProtocolVersion;
      garbage[1] = static_cast<char>(1 + random() % 5);
    }
    auto request = DecodeRequest(garbage);
    if (request.ok()) {
      ++decoded_ok;
      // Whatever decodes must re-encode to the same bytes.
      EXPECT_EQ(EncodeRequest(*request), garbage);
    } else {
      EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument);
    }
    Reply reply;
    absl::Status s = reply.DecodeFrom(garbage);
    if (!s.ok()) {
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    }
  }
  EXPECT_LT(decoded_ok, 20000 / 10);
}

}  // namespace
}  // namespace medfs::dataplane
