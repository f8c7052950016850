// StripedFileWriter: the FileWriter of client.h.
//
// Layout: appended bytes are cut into pieces of `piece_bytes` (4 MiB, the
// protocol's kMaxPieceBytes) and dealt round-robin to up to `write_stripes`
// open chunks, so several chunks — on different replica chains — are
// written in parallel while each chunk still receives its pieces in order,
// one at a time, as the data-plane protocol requires. A chunk is sealed
// when it holds `chunk_bytes` (the smaller of meta's max_chunk_bytes and
// DataPlane::write_chunk_bytes) or at Finish. The extents returned map
// each piece of the file to its chunk (adjacent pieces merged).
//
// Pipeline: a WRITE goes to the first replica of the chunk's chain, which
// pulls the piece from our registered buffer by RMA and forwards it down
// the chain; the reply comes when every replica holds it. The last piece
// of a chunk carries SEAL; its reply's whole-chunk CRC32C is checked
// against the CRC computed here while filling.
//
// Failure: when a piece of a chunk fails (a replica down or full, a
// timeout, a CRC mismatch), the chunk is abandoned (left for meta's garbage
// collection) and all its pieces are written again to a newly allocated
// chunk whose replicas avoid every server that failed for this writer or,
// recently, for any reader or writer of this client. The failed server is
// the one an error reply names; on a timeout the head is PINGed and, if it
// answers, the next replica of the chain is blamed instead. To
// make that possible each open chunk keeps its pieces in its own pool
// buffers until sealed: a writer holds at most
//   write_stripes * chunk_bytes / piece_bytes
// pool buffers (4 x 16 MiB = 64 MiB by default). Stripe 0's buffers are
// taken with a blocking Acquire (holding nothing); further stripes only if
// free right now, so writers never deadlock each other. A chunk is
// rewritten at most kMaxChunkRewrites times before the writer fails.
//
// Thread safety: one thread at a time (see FileWriter).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/client.h"
#include "client/completion_mailbox.h"
#include "client/data_plane.h"

namespace medfs::client {

inline constexpr int kMaxChunkRewrites = 6;

class StripedFileWriter : public FileWriter {
 public:
  // `max_chunk_bytes`: the cluster's chunk size limit (from meta).
  StripedFileWriter(const DataPlane& data_plane, uint64_t max_chunk_bytes);
  // Waits for requests in flight, then returns the buffers to the pool.
  ~StripedFileWriter() override;

  absl::Status Append(std::span<const std::byte> data) override;
  absl::StatusOr<FileContent> Finish() override;
  uint64_t size() const override { return size_; }

  uint64_t chunk_bytes() const { return chunk_bytes_; }

 private:
  struct Piece {
    uint64_t file_offset = 0;
    uint32_t length = 0;
  };
  struct Stripe {
    std::vector<size_t> buffers;  // pool buffers; piece k lives in buffers[k]
    std::optional<v1::ChunkAllocation> chunk;  // allocated on first send
    std::vector<Piece> pieces;    // filled pieces of the current chunk
    size_t acked = 0;             // pieces stored on every replica
    bool in_flight = false;
    bool closing = false;         // no more pieces: the last one seals
    uint32_t crc = 0;             // CRC32C of the pieces filled so far
    int rewrites = 0;             // times the current data was rewritten
  };
  struct Completion {
    size_t stripe;
    size_t piece;
    absl::StatusOr<std::string> result;
  };

  absl::Status BeginPiece();
  bool OpenStripe();
  void EndPiece();
  void Pump();
  void Send(size_t s);
  absl::StatusOr<v1::ChunkAllocation> NextAllocation();
  void WaitOne();
  void Handle(Completion c);
  uint64_t BlameForTimeout(const v1::ChunkAllocation& chunk);
  void Abandon(size_t s, uint64_t failed_server, const absl::Status& cause);
  void Sealed(Stripe& stripe, uint64_t length, uint32_t crc);
  bool AllSealed() const;

  // Constant after construction.
  const DataPlane& dp_;
  const uint32_t piece_bytes_;
  const uint64_t chunk_bytes_;
  const size_t pieces_per_chunk_;

  // Writer state (one thread).
  std::vector<Stripe> stripes_;
  size_t next_stripe_ = 0;
  std::optional<size_t> filling_;  // stripe whose next piece is being filled
  uint32_t fill_length_ = 0;
  uint64_t size_ = 0;
  size_t in_flight_ = 0;
  absl::Status error_;
  absl::flat_hash_set<uint64_t> avoid_;  // servers that failed a write
  std::deque<v1::ChunkAllocation> spare_chunks_;  // allocated, not used yet
  int allocations_ = 0;                           // AllocateChunks calls
  FileContent content_;
  bool finished_ = false;

  CompletionMailbox<Completion> done_;
};

}  // namespace medfs::client
