// The medfs data-plane protocol: the request and reply payloads carried
// inside fabric Calls (common/fabric/endpoint.h) between clients and
// chunkservers, and between chunkservers in a replication chain.
//
// Every message is a little-endian, fixed-layout byte string that starts
// with a two-byte header:
//
//   offset 0  u8  version   kProtocolVersion (2); anything else is rejected
//   offset 1  u8  kind      a request: the Op (1..5); a reply: 0x80 | Op
//
// Requests (body follows the header, integers little-endian, no padding):
//
//   PING    (op 1)  —
//   READ    (op 2)  u64 chunk_id, u64 offset, u32 length, u32 flags,
//                   RemoteBuffer destination                     (50 bytes)
//   WRITE   (op 3)  u64 chunk_id, u64 offset, u32 length, u32 flags,
//                   u64 total_length, RemoteBuffer source,
//                   u8 chain_count, chain_count × ChainLink      (59+ bytes)
//   DELETE  (op 4)  u64 chunk_id                                 (10 bytes)
//   STAT    (op 5)  u64 chunk_id                                 (10 bytes)
//
//   RemoteBuffer = u64 address, u64 key, u64 length               (24 bytes)
//   ChainLink    = u64 server_id, u16 address_length,
//                  address_length raw fabric address bytes (fi_getname)
//
// Reply (every op, one layout):
//
//   u8 version, u8 0x80|op, u32 status code (absl::StatusCode number),
//   u64 server_id, u8 chunk_flags (bit 0 exists, bit 1 sealed),
//   u64 chunk_length, u32 chunk_crc32c, u16 message_length,
//   message_length bytes of UTF-8 message                 (29 + message)
//
// Semantics:
//  - READ: on success the server writes the bytes straight into
//    `destination` with Endpoint ReplyWithWrite, so the caller's Call
//    completes with an EMPTY payload and no Reply message. Any non-empty
//    payload is a Reply carrying the error (kNotFound, kOutOfRange past the
//    sealed length, kDataLoss on a checksum mismatch, kResourceExhausted
//    "busy", ...). Reads of unsealed chunks are refused (kFailedPrecondition).
//    Flag kReadCachedByReader: the reader keeps these bytes in a cache of
//    its own (a mount's page cache), so the server need not keep a second
//    copy: it may read blocks it does not have cached around its page cache.
//  - WRITE: pieces of one chunk arrive in order from one writer. Offsets
//    are multiples of kBlockBytes; every piece but the SEAL piece is a whole
//    number of blocks; at most kMaxPieceBytes each. FIRST creates the chunk
//    (kAlreadyExists if it exists); SEAL marks the last piece, which must
//    end at total_length, and the server makes the chunk durable before it
//    replies. The server pulls the bytes from `source` and forwards the
//    piece to chain[0] with chain[1..] as that server's chain. The reply is
//    OK only when every replica downstream holds the piece; on a downstream
//    failure the code is kUnavailable and `server_id` names the server that
//    failed. The OK reply's chunk fields give the length stored so far and,
//    on SEAL, the whole-chunk CRC32C.
//  - DELETE: removes the chunk (kNotFound when absent).
//  - STAT: chunk fields describe the chunk; exists=false (status OK) when
//    the chunk is not on the server.
//  - PING: OK with server_id set.
//  - server_id in an OK reply is the replying server's id (0 while it has
//    not registered with meta).
//
// Decoding rejects unknown versions and kinds, truncated bodies, trailing
// bytes, lengths over kMaxPieceBytes, misaligned offsets and malformed
// chains with kInvalidArgument naming what was wrong.
//
// Thread safety: plain value types; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crc32c.h"
#include "common/fabric/endpoint.h"

namespace medfs::dataplane {

// 2: READ carries flags.
inline constexpr uint8_t kProtocolVersion = 2;
// The largest READ or WRITE piece (bytes). Shared with the client, which
// sizes its bounce buffers by it.
inline constexpr uint32_t kMaxPieceBytes = 4u << 20;
// Write offsets are multiples of this (bytes): the checksum block.
inline constexpr uint64_t kBlockBytes = kChecksumBlockBytes;
// Most downstream replicas a WRITE may carry.
inline constexpr size_t kMaxChainLength = 8;
// Largest raw fabric address in a chain link (bytes).
inline constexpr size_t kMaxFabricAddressBytes = 128;
// Reply messages longer than this are truncated on encoding (bytes).
inline constexpr size_t kMaxReplyMessageBytes = 1024;
// Kind byte of a reply: kReplyBit | op.
inline constexpr uint8_t kReplyBit = 0x80;

enum class Op : uint8_t {
  kPing = 1,
  kRead = 2,
  kWrite = 3,
  kDelete = 4,
  kStat = 5,
};

// "PING", "READ", ...; "OP(<n>)" for values outside the enum.
std::string OpName(Op op);

// WRITE flag bits.
inline constexpr uint32_t kWriteFirst = 1u << 0;  // create the chunk
inline constexpr uint32_t kWriteSeal = 1u << 1;   // last piece: seal it
inline constexpr uint32_t kWriteKnownFlags = kWriteFirst | kWriteSeal;

// READ flag bits.
inline constexpr uint32_t kReadCachedByReader = 1u << 0;  // see the semantics above
inline constexpr uint32_t kReadKnownFlags = kReadCachedByReader;

struct PingRequest {
  static constexpr Op kOp = Op::kPing;
  void EncodeTo(std::string* dst) const;
  // Decodes a whole message. kInvalidArgument on any malformation.
  absl::Status DecodeFrom(absl::string_view input);
};

struct ReadRequest {
  static constexpr Op kOp = Op::kRead;
  uint64_t chunk_id = 0;
  uint64_t offset = 0;  // bytes into the chunk
  uint32_t length = 0;  // 1..kMaxPieceBytes
  uint32_t flags = 0;   // kReadCachedByReader
  fabric::RemoteBuffer destination;  // at least `length` bytes

  bool cached_by_reader() const { return (flags & kReadCachedByReader) != 0; }

  void EncodeTo(std::string* dst) const;
  absl::Status DecodeFrom(absl::string_view input);
};

// One downstream replica of a WRITE.
struct ChainLink {
  uint64_t server_id = 0;
  std::string fabric_address;  // raw fi_getname() bytes, 1..128 bytes
  bool operator==(const ChainLink&) const = default;
};

struct WriteRequest {
  static constexpr Op kOp = Op::kWrite;
  uint64_t chunk_id = 0;
  uint64_t offset = 0;  // multiple of kBlockBytes
  uint32_t length = 0;  // 0..kMaxPieceBytes; whole blocks unless SEAL
  uint32_t flags = 0;   // kWriteFirst | kWriteSeal
  uint64_t total_length = 0;  // SEAL: the chunk's final length
  fabric::RemoteBuffer source;  // at least `length` bytes
  std::vector<ChainLink> chain;  // remaining replicas, next first

  bool first() const { return (flags & kWriteFirst) != 0; }
  bool seal() const { return (flags & kWriteSeal) != 0; }
  void EncodeTo(std::string* dst) const;
  absl::Status DecodeFrom(absl::string_view input);
};

struct DeleteRequest {
  static constexpr Op kOp = Op::kDelete;
  uint64_t chunk_id = 0;
  void EncodeTo(std::string* dst) const;
  absl::Status DecodeFrom(absl::string_view input);
};

struct StatRequest {
  static constexpr Op kOp = Op::kStat;
  uint64_t chunk_id = 0;
  void EncodeTo(std::string* dst) const;
  absl::Status DecodeFrom(absl::string_view input);
};

using Request = std::variant<PingRequest, ReadRequest, WriteRequest,
                             DeleteRequest, StatRequest>;

// Decodes any request; kInvalidArgument naming the fault otherwise.
absl::StatusOr<Request> DecodeRequest(absl::string_view input);
// The op of a decoded request.
Op RequestOp(const Request& request);
// The encoded message of any request.
std::string EncodeRequest(const Request& request);

// What a reply says about a chunk (WRITE and STAT).
struct ChunkInfo {
  bool exists = false;
  bool sealed = false;
  uint64_t length = 0;   // bytes stored so far / final length when sealed
  uint32_t crc32c = 0;   // whole-chunk CRC32C, valid when sealed
  bool operator==(const ChunkInfo&) const = default;
};

struct Reply {
  Op op = Op::kPing;
  absl::StatusCode code = absl::StatusCode::kOk;
  std::string message;  // empty when OK; at most kMaxReplyMessageBytes
  // OK: the replying server. Error: the server the error is about (the
  // failed downstream replica for a chain failure), 0 when unknown.
  uint64_t server_id = 0;
  ChunkInfo chunk;

  // An error (or OK) reply to `op` carrying `status`.
  static Reply FromStatus(Op op, const absl::Status& status,
                          uint64_t server_id = 0);
  // The reply's status: OK, or code + message.
  absl::Status status() const;

  void EncodeTo(std::string* dst) const;
  // kInvalidArgument on any malformation, including an unknown code.
  absl::Status DecodeFrom(absl::string_view input);
};

// Decodes a reply to `expected` (a READ's empty payload is not a Reply:
// check for it first). kInvalidArgument when malformed or for another op.
absl::StatusOr<Reply> DecodeReply(Op expected, absl::string_view input);

}  // namespace medfs::dataplane
