#include "common/dataplane/protocol.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace medfs::dataplane {
namespace {

// ---------------------------------------------------------------- encoding

void PutU8(std::string* dst, uint8_t v) { dst->push_back(static_cast<char>(v)); }

void PutU16(std::string* dst, uint16_t v) {
  for (int i = 0; i < 2; ++i) dst->push_back(static_cast<char>(v >> (8 * i)));
}

void PutU32(std::string* dst, uint32_t v) {
  for (int i = 0; i < 4; ++i) dst->push_back(static_cast<char>(v >> (8 * i)));
}

void PutU64(std::string* dst, uint64_t v) {
  for (int i = 0; i < 8; ++i) dst->push_back(static_cast<char>(v >> (8 * i)));
}

void PutRemote(std::string* dst, const fabric::RemoteBuffer& b) {
  PutU64(dst, b.address);
  PutU64(dst, b.key);
  PutU64(dst, b.length);
}

void PutHeader(std::string* dst, uint8_t kind) {
  PutU8(dst, kProtocolVersion);
  PutU8(dst, kind);
}

// ---------------------------------------------------------------- decoding

// A cursor over a message. Each Get* fails with kInvalidArgument naming the
// field when fewer bytes remain than it needs.
class Decoder {
 public:
  Decoder(absl::string_view input, std::string what)
      : input_(input), what_(std::move(what)) {}

  absl::Status GetU8(const char* field, uint8_t* v) {
    return GetLittleEndian(field, 1, v);
  }
  absl::Status GetU16(const char* field, uint16_t* v) {
    return GetLittleEndian(field, 2, v);
  }
  absl::Status GetU32(const char* field, uint32_t* v) {
    return GetLittleEndian(field, 4, v);
  }
  absl::Status GetU64(const char* field, uint64_t* v) {
    return GetLittleEndian(field, 8, v);
  }
  absl::Status GetRemote(const char* field, fabric::RemoteBuffer* b) {
    RETURN_IF_ERROR(GetU64(field, &b->address));
    RETURN_IF_ERROR(GetU64(field, &b->key));
    return GetU64(field, &b->length);
  }
  absl::Status GetBytes(const char* field, size_t n, std::string* out) {
    RETURN_IF_ERROR(Need(field, n));
    out->assign(input_.data(), n);
    input_.remove_prefix(n);
    return absl::OkStatus();
  }
  // Checks version and kind of the two-byte header.
  absl::Status GetHeader(uint8_t expected_kind) {
    uint8_t version = 0, kind = 0;
    RETURN_IF_ERROR(GetU8("version", &version));
    if (version != kProtocolVersion) {
      return Error(absl::StrCat("unsupported protocol version ", version));
    }
    RETURN_IF_ERROR(GetU8("kind", &kind));
    if (kind != expected_kind) {
      return Error(absl::StrCat("kind ", kind, " where ", expected_kind,
                                " was expected"));
    }
    return absl::OkStatus();
  }
  // Fails when bytes remain after the last field.
  absl::Status Finish() {
    if (input_.empty()) return absl::OkStatus();
    return Error(absl::StrCat(input_.size(), " trailing bytes"));
  }
  absl::Status Error(absl::string_view cause) const {
    return absl::InvalidArgumentError(
        absl::StrCat("decoding ", what_, ": ", cause));
  }

 private:
  absl::Status Need(const char* field, size_t n) const {
    if (input_.size() >= n) return absl::OkStatus();
    return Error(absl::StrCat("truncated at ", field, " (", input_.size(),
                              " of ", n, " bytes)"));
  }
  template <typename T>
  absl::Status GetLittleEndian(const char* field, int n, T* v) {
    RETURN_IF_ERROR(Need(field, n));
    uint64_t value = 0;
    for (int i = 0; i < n; ++i) {
      value |= uint64_t{static_cast<uint8_t>(input_[i])} << (8 * i);
    }
    *v = static_cast<T>(value);
    input_.remove_prefix(n);
    return absl::OkStatus();
  }

  absl::string_view input_;
  std::string what_;
};

std::string RequestWhat(Op op) { return absl::StrCat(OpName(op), " request"); }

// Shared checks of a READ/WRITE piece's length against its remote buffer.
absl::Status CheckPiece(const Decoder& d, uint64_t offset, uint32_t length,
                        const fabric::RemoteBuffer& buffer,
                        const char* buffer_name) {
  if (length > kMaxPieceBytes) {
    return d.Error(absl::StrCat("length ", length, " exceeds the ",
                                kMaxPieceBytes, "-byte piece limit"));
  }
  if (offset + length < offset) {
    return d.Error(absl::StrCat("offset ", offset, " + length ", length,
                                " overflows"));
  }
  if (buffer.length < length) {
    return d.Error(absl::StrCat(buffer_name, " buffer of ", buffer.length,
                                " bytes is smaller than length ", length));
  }
  return absl::OkStatus();
}

absl::Status DecodeChunkIdOnly(Op op, absl::string_view input,
                               uint64_t* chunk_id) {
  Decoder d(input, RequestWhat(op));
  RETURN_IF_ERROR(d.GetHeader(static_cast<uint8_t>(op)));
  RETURN_IF_ERROR(d.GetU64("chunk_id", chunk_id));
  return d.Finish();
}

absl::Status DecodeChain(Decoder& d, std::vector<ChainLink>* chain) {
  uint8_t count = 0;
  RETURN_IF_ERROR(d.GetU8("chain_count", &count));
  if (count > kMaxChainLength) {
    return d.Error(absl::StrCat("chain of ", count, " replicas exceeds ",
                                kMaxChainLength));
  }
  chain->clear();
  for (int i = 0; i < count; ++i) {
    ChainLink link;
    uint16_t length = 0;
    RETURN_IF_ERROR(d.GetU64("chain server_id", &link.server_id));
    RETURN_IF_ERROR(d.GetU16("chain address_length", &length));
    if (length == 0 || length > kMaxFabricAddressBytes) {
      return d.Error(absl::StrCat("chain link ", i, " address of ", length,
                                  " bytes (1..", kMaxFabricAddressBytes,
                                  " allowed)"));
    }
    RETURN_IF_ERROR(d.GetBytes("chain address", length, &link.fabric_address));
    chain->push_back(std::move(link));
  }
  return absl::OkStatus();
}

}  // namespace

std::string OpName(Op op) {
  switch (op) {
    case Op::kPing: return "PING";
    case Op::kRead: return "READ";
    case Op::kWrite: return "WRITE";
    case Op::kDelete: return "DELETE";
    case Op::kStat: return "STAT";
  }
  return absl::StrCat("OP(", static_cast<int>(op), ")");
}

// ------------------------------------------------------------------ PING

void PingRequest::EncodeTo(std::string* dst) const {
  PutHeader(dst, static_cast<uint8_t>(kOp));
}

absl::Status PingRequest::DecodeFrom(absl::string_view input) {
  Decoder d(input, RequestWhat(kOp));
  RETURN_IF_ERROR(d.GetHeader(static_cast<uint8_t>(kOp)));
  return d.Finish();
}

// ------------------------------------------------------------------ READ

void ReadRequest::EncodeTo(std::string* dst) const {
  PutHeader(dst, static_cast<uint8_t>(kOp));
  PutU64(dst, chunk_id);
  PutU64(dst, offset);
  PutU32(dst, length);
  PutU32(dst, flags);
  PutRemote(dst, destination);
}

absl::Status ReadRequest::DecodeFrom(absl::string_view input) {
  Decoder d(input, RequestWhat(kOp));
  RETURN_IF_ERROR(d.GetHeader(static_cast<uint8_t>(kOp)));
  RETURN_IF_ERROR(d.GetU64("chunk_id", &chunk_id));
  RETURN_IF_ERROR(d.GetU64("offset", &offset));
  RETURN_IF_ERROR(d.GetU32("length", &length));
  RETURN_IF_ERROR(d.GetU32("flags", &flags));
  RETURN_IF_ERROR(d.GetRemote("destination", &destination));
  RETURN_IF_ERROR(d.Finish());
  if (length == 0) return d.Error("length 0");
  if ((flags & ~kReadKnownFlags) != 0) {
    return d.Error(absl::StrCat("unknown flags 0x", absl::Hex(flags)));
  }
  return CheckPiece(d, offset, length, destination, "destination");
}

// ------------------------------------------------------------------ WRITE

void WriteRequest::EncodeTo(std::string* dst) const {
  PutHeader(dst, static_cast<uint8_t>(kOp));
  PutU64(dst, chunk_id);
  PutU64(dst, offset);
  PutU32(dst, length);
  PutU32(dst, flags);
  PutU64(dst, total_length);
  PutRemote(dst, source);
  PutU8(dst, static_cast<uint8_t>(chain.size()));
  for (const ChainLink& link : chain) {
    PutU64(dst, link.server_id);
    PutU16(dst, static_cast<uint16_t>(link.fabric_address.size()));
    dst->append(link.fabric_address);
  }
}

absl::Status WriteRequest::DecodeFrom(absl::string_view input) {
  Decoder d(input, RequestWhat(kOp));
  RETURN_IF_ERROR(d.GetHeader(static_cast<uint8_t>(kOp)));
  RETURN_IF_ERROR(d.GetU64("chunk_id", &chunk_id));
  RETURN_IF_ERROR(d.GetU64("offset", &offset));
  RETURN_IF_ERROR(d.GetU32("length", &length));
  RETURN_IF_ERROR(d.GetU32("flags", &flags));
  RETURN_IF_ERROR(d.GetU64("total_length", &total_length));
  RETURN_IF_ERROR(d.GetRemote("source", &source));
  RETURN_IF_ERROR(DecodeChain(d, &chain));
  RETURN_IF_ERROR(d.Finish());
  if ((flags & ~kWriteKnownFlags) != 0) {
    return d.Error(absl::StrCat("unknown flags 0x", absl::Hex(flags)));
  }
  RETURN_IF_ERROR(CheckPiece(d, offset, length, source, "source"));
  if (offset % kBlockBytes != 0) {
    return d.Error(absl::StrCat("offset ", offset, " is not a multiple of ",
                                kBlockBytes));
  }
  if (!seal() && length % kBlockBytes != 0) {
    return d.Error(absl::StrCat("length ", length, " of a non-final piece is ",
                                "not a multiple of ", kBlockBytes));
  }
  if (seal() && offset + length != total_length) {
    return d.Error(absl::StrCat("sealing piece ends at ", offset + length,
                                ", not at total_length ", total_length));
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------ DELETE, STAT

void DeleteRequest::EncodeTo(std::string* dst) const {
  PutHeader(dst, static_cast<uint8_t>(kOp));
  PutU64(dst, chunk_id);
}

absl::Status DeleteRequest::DecodeFrom(absl::string_view input) {
  return DecodeChunkIdOnly(kOp, input, &chunk_id);
}

void StatRequest::EncodeTo(std::string* dst) const {
  PutHeader(dst, static_cast<uint8_t>(kOp));
  PutU64(dst, chunk_id);
}

absl::Status StatRequest::DecodeFrom(absl::string_view input) {
  return DecodeChunkIdOnly(kOp, input, &chunk_id);
}

// --------------------------------------------------------------- Request

namespace {
template <typename T>
absl::StatusOr<Request> DecodeAs(absl::string_view input) {
  T request;
  RETURN_IF_ERROR(request.DecodeFrom(input));
  return Request(std::move(request));
}
}  // namespace

absl::StatusOr<Request> DecodeRequest(absl::string_view input) {
  if (input.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "decoding request: truncated header (", input.size(), " of 2 bytes)"));
  }
  if (static_cast<uint8_t>(input[0]) != kProtocolVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("decoding request: unsupported protocol version ",
                     static_cast<uint8_t>(input[0])));
  }
  switch (static_cast<uint8_t>(input[1])) {
    case static_cast<uint8_t>(Op::kPing): return DecodeAs<PingRequest>(input);
    case static_cast<uint8_t>(Op::kRead): return DecodeAs<ReadRequest>(input);
    case static_cast<uint8_t>(Op::kWrite): return DecodeAs<WriteRequest>(input);
    case static_cast<uint8_t>(Op::kDelete):
      return DecodeAs<DeleteRequest>(input);
    case static_cast<uint8_t>(Op::kStat): return DecodeAs<StatRequest>(input);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "decoding request: unknown op ", static_cast<uint8_t>(input[1])));
}

Op RequestOp(const Request& request) {
  return std::visit([](const auto& r) { return r.kOp; }, request);
}

std::string EncodeRequest(const Request& request) {
  std::string out;
  std::visit([&out](const auto& r) { r.EncodeTo(&out); }, request);
  return out;
}

// ----------------------------------------------------------------- Reply

Reply Reply::FromStatus(Op op, const absl::Status& status, uint64_t server_id) {
  Reply reply;
  reply.op = op;
  reply.code = status.code();
  reply.message = std::string(status.message());
  reply.server_id = server_id;
  return reply;
}

absl::Status Reply::status() const {
  if (code == absl::StatusCode::kOk) return absl::OkStatus();
  return absl::Status(code, message);
}

void Reply::EncodeTo(std::string* dst) const {
  PutHeader(dst, kReplyBit | static_cast<uint8_t>(op));
  PutU32(dst, static_cast<uint32_t>(code));
  PutU64(dst, server_id);
  PutU8(dst, (chunk.exists ? 1 : 0) | (chunk.sealed ? 2 : 0));
  PutU64(dst, chunk.length);
  PutU32(dst, chunk.crc32c);
  size_t n = std::min(message.size(), kMaxReplyMessageBytes);
  PutU16(dst, static_cast<uint16_t>(n));
  dst->append(message.data(), n);
}

absl::Status Reply::DecodeFrom(absl::string_view input) {
  Decoder d(input, "reply");
  if (input.size() < 2) return d.Error("truncated header");
  uint8_t kind = static_cast<uint8_t>(input[1]);
  op = static_cast<Op>(kind & ~kReplyBit);
  if ((kind & kReplyBit) == 0 || OpName(op).starts_with("OP(")) {
    return d.Error(absl::StrCat("kind ", kind, " is not a reply"));
  }
  RETURN_IF_ERROR(d.GetHeader(kind));
  uint32_t raw_code = 0;
  uint8_t chunk_flags = 0;
  uint16_t message_length = 0;
  RETURN_IF_ERROR(d.GetU32("code", &raw_code));
  RETURN_IF_ERROR(d.GetU64("server_id", &server_id));
  RETURN_IF_ERROR(d.GetU8("chunk_flags", &chunk_flags));
  RETURN_IF_ERROR(d.GetU64("chunk_length", &chunk.length));
  RETURN_IF_ERROR(d.GetU32("chunk_crc32c", &chunk.crc32c));
  RETURN_IF_ERROR(d.GetU16("message_length", &message_length));
  RETURN_IF_ERROR(d.GetBytes("message", message_length, &message));
  RETURN_IF_ERROR(d.Finish());
  if (raw_code > static_cast<uint32_t>(absl::StatusCode::kUnauthenticated)) {
    return d.Error(absl::StrCat("unknown status code ", raw_code));
  }
  if (chunk_flags > 3) {
    return d.Error(absl::StrCat("unknown chunk flags ", chunk_flags));
  }
  code = static_cast<absl::StatusCode>(raw_code);
  chunk.exists = (chunk_flags & 1) != 0;
  chunk.sealed = (chunk_flags & 2) != 0;
  return absl::OkStatus();
}

absl::StatusOr<Reply> DecodeReply(Op expected, absl::string_view input) {
  Reply reply;
  RETURN_IF_ERROR(reply.DecodeFrom(input));
  if (reply.op != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("decoding reply: a ", OpName(reply.op), " reply where ",
                     OpName(expected), " was expected"));
  }
  return reply;
}

}  // namespace medfs::dataplane
