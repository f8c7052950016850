// Wire framing of medfs fabric messages (requests and replies).
//
// Every message the data plane sends with fi_send starts with a fixed
// 16-byte header, little-endian:
//
//   offset size field
//        0    4 magic           0x4246444d ("MDFB" in memory order)
//        4    1 version         kVersion (1)
//        5    1 kind            1 request, 2 reply, 3 error reply
//        6    2 address_length  requests: bytes of the sender's raw
//                               fi_getname() address (1..kMaxAddressBytes);
//                               replies: 0
//        8    4 call_id         the caller's 32-bit call id (never 0)
//       12    4 payload_length  bytes of payload after the address
//       16    . sender address (address_length bytes), then payload
//
// A message is exactly 16 + address_length + payload_length bytes; anything
// else is malformed. An error reply's payload is a human-readable reason
// (the server dropped the request without answering it).
//
// These functions are pure and thread compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace medfs::fabric::wire {

inline constexpr uint32_t kMagic = 0x4246444d;
inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kHeaderBytes = 16;
inline constexpr size_t kMaxAddressBytes = 256;

enum class MessageKind : uint8_t {
  kRequest = 1,
  kReply = 2,
  kErrorReply = 3,
};

// One message, decoded or to encode. The views point into the bytes the
// message was decoded from (or the caller's strings when encoding).
struct Message {
  MessageKind kind = MessageKind::kRequest;
  uint32_t call_id = 0;
  absl::string_view sender_address;  // requests only
  absl::string_view payload;
};

// Bytes `message` takes on the wire.
size_t EncodedSize(const Message& message);

// Writes `message` to `out`. REQUIRES: `out` has EncodedSize(message)
// bytes; sender_address is empty for replies and 1..kMaxAddressBytes long
// for requests; payload is shorter than 4 GiB.
void EncodeTo(const Message& message, char* out);

// Convenience form of EncodeTo.
std::string Encode(const Message& message);

// Decodes `bytes` (one received message). Returns kInvalidArgument, naming
// the problem, when the message is truncated, longer than its header says,
// longer than `max_message_bytes`, or has a bad magic, version, kind, call
// id or address length. The result's views point into `bytes`.
absl::StatusOr<Message> Decode(absl::string_view bytes,
                               size_t max_message_bytes);

// The sender address of a (possibly malformed) request when its header is
// intact enough to locate it; empty otherwise. For logging who sent junk.
absl::string_view SenderAddressIfPresent(absl::string_view bytes);

}  // namespace medfs::fabric::wire
