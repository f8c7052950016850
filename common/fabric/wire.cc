#include "common/fabric/wire.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace medfs::fabric::wire {
namespace {

void PutU16(char* out, uint16_t v) {
  out[0] = static_cast<char>(v & 0xff);
  out[1] = static_cast<char>(v >> 8);
}

void PutU32(char* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint16_t GetU16(const char* in) {
  const auto* p = reinterpret_cast<const unsigned char*>(in);
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}

uint32_t GetU32(const char* in) {
  const auto* p = reinterpret_cast<const unsigned char*>(in);
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("decoding fabric message: ", what));
}

absl::Status CheckKindAndAddress(MessageKind kind, size_t address_length) {
  switch (kind) {
    case MessageKind::kRequest:
      if (address_length == 0 || address_length > kMaxAddressBytes) {
        return Malformed(absl::StrCat("request with sender address of ",
                                      address_length, " bytes"));
      }
      return absl::OkStatus();
    case MessageKind::kReply:
    case MessageKind::kErrorReply:
      if (address_length != 0) {
        return Malformed(absl::StrCat("reply with sender address of ",
                                      address_length, " bytes"));
      }
      return absl::OkStatus();
  }
  return Malformed(absl::StrCat("unknown kind ", static_cast<int>(kind)));
}

}  // namespace

size_t EncodedSize(const Message& message) {
  return kHeaderBytes + message.sender_address.size() + message.payload.size();
}

void EncodeTo(const Message& message, char* out) {
  PutU32(out, kMagic);
  out[4] = static_cast<char>(kVersion);
  out[5] = static_cast<char>(message.kind);
  PutU16(out + 6, static_cast<uint16_t>(message.sender_address.size()));
  PutU32(out + 8, message.call_id);
  PutU32(out + 12, static_cast<uint32_t>(message.payload.size()));
  char* cursor = out + kHeaderBytes;
  if (!message.sender_address.empty()) {
    std::memcpy(cursor, message.sender_address.data(),
                message.sender_address.size());
    cursor += message.sender_address.size();
  }
  if (!message.payload.empty()) {
    std::memcpy(cursor, message.payload.data(), message.payload.size());
  }
}

std::string Encode(const Message& message) {
  std::string out(EncodedSize(message), '\0');
  EncodeTo(message, out.data());
  return out;
}

absl::StatusOr<Message> Decode(absl::string_view bytes,
                               size_t max_message_bytes) {
  if (bytes.size() < kHeaderBytes) {
    return Malformed(absl::StrCat("truncated header (", bytes.size(), " of ",
                                  kHeaderBytes, " bytes)"));
  }
  if (bytes.size() > max_message_bytes) {
    return Malformed(absl::StrCat("oversized message (", bytes.size(),
                                  " bytes, limit ", max_message_bytes, ")"));
  }
  const char* p = bytes.data();
  if (GetU32(p) != kMagic) return Malformed("bad magic");
  const auto version = static_cast<uint8_t>(p[4]);
  if (version != kVersion) {
    return Malformed(absl::StrCat("unsupported version ", version));
  }
  Message message;
  message.kind = static_cast<MessageKind>(static_cast<uint8_t>(p[5]));
  const size_t address_length = GetU16(p + 6);
  if (absl::Status s = CheckKindAndAddress(message.kind, address_length);
      !s.ok()) {
    return s;
  }
  message.call_id = GetU32(p + 8);
  if (message.call_id == 0) return Malformed("call id 0");
  const uint64_t payload_length = GetU32(p + 12);
  const uint64_t expected = kHeaderBytes + address_length + payload_length;
  if (expected > max_message_bytes) {
    return Malformed(absl::StrCat("header announces ", expected,
                                  " bytes, limit ", max_message_bytes));
  }
  if (bytes.size() != expected) {
    return Malformed(absl::StrCat(
        bytes.size() < expected ? "truncated message (" : "trailing bytes (",
        bytes.size(), " bytes received, header announces ", expected, ")"));
  }
  message.sender_address = bytes.substr(kHeaderBytes, address_length);
  message.payload = bytes.substr(kHeaderBytes + address_length);
  return message;
}

absl::string_view SenderAddressIfPresent(absl::string_view bytes) {
  if (bytes.size() < kHeaderBytes || GetU32(bytes.data()) != kMagic ||
      static_cast<uint8_t>(bytes[5]) !=
          static_cast<uint8_t>(MessageKind::kRequest)) {
    return absl::string_view();
  }
  const size_t address_length = GetU16(bytes.data() + 6);
  if (address_length == 0 || address_length > kMaxAddressBytes ||
      bytes.size() < kHeaderBytes + address_length) {
    return absl::string_view();
  }
  return bytes.substr(kHeaderBytes, address_length);
}

}  // namespace medfs::fabric::wire
