#include "client/file_writer.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/dataplane/protocol.h"
#include "common/logging.h"
#include "common/status.h"

namespace medfs::client {
namespace {

uint32_t PieceBytes(uint64_t max_chunk_bytes) {
  uint64_t bytes = std::min<uint64_t>(dataplane::kMaxPieceBytes,
                                      max_chunk_bytes);
  bytes -= bytes % dataplane::kBlockBytes;
  return static_cast<uint32_t>(std::max<uint64_t>(bytes,
                                                  dataplane::kBlockBytes));
}

uint64_t ChunkBytes(const DataPlane& dp, uint64_t max_chunk_bytes,
                    uint32_t piece_bytes) {
  uint64_t bytes = max_chunk_bytes;
  if (dp.write_chunk_bytes > 0) bytes = std::min(bytes, dp.write_chunk_bytes);
  bytes = std::min<uint64_t>(bytes, dp.pool->count() * uint64_t{piece_bytes});
  bytes -= bytes % piece_bytes;
  return std::max<uint64_t>(bytes, piece_bytes);
}

}  // namespace

StripedFileWriter::StripedFileWriter(const DataPlane& data_plane,
                                     uint64_t max_chunk_bytes)
    : dp_(data_plane),
      piece_bytes_(PieceBytes(max_chunk_bytes)),
      chunk_bytes_(ChunkBytes(data_plane, max_chunk_bytes, piece_bytes_)),
      pieces_per_chunk_(chunk_bytes_ / piece_bytes_) {
  MEDFS_CHECK(dp_.pool->buffer_bytes() >= piece_bytes_);
}

StripedFileWriter::~StripedFileWriter() {
  while (in_flight_ > 0) WaitOne();
  for (Stripe& stripe : stripes_) {
    for (size_t buffer : stripe.buffers) dp_.pool->Release(buffer);
  }
}

absl::Status StripedFileWriter::Append(std::span<const std::byte> data) {
  if (finished_) return absl::FailedPreconditionError("append: writer finished");
  while (!data.empty()) {
    RETURN_IF_ERROR(error_);
    if (!filling_.has_value()) RETURN_IF_ERROR(BeginPiece());
    Stripe& stripe = stripes_[*filling_];
    std::byte* buffer = dp_.pool->data(stripe.buffers[stripe.pieces.size()]);
    const size_t n = std::min<size_t>(data.size(), piece_bytes_ - fill_length_);
    std::memcpy(buffer + fill_length_, data.data(), n);
    fill_length_ += n;
    size_ += n;
    data = data.subspan(n);
    if (fill_length_ == piece_bytes_) EndPiece();
  }
  return error_;
}

// Chooses the stripe that receives the next piece: the next one in
// round-robin order that has room. A stripe still sealing a full chunk is
// skipped, not waited for; only when every stripe is full does the writer
// wait for a completion.
absl::Status StripedFileWriter::BeginPiece() {
  if (next_stripe_ >= stripes_.size() && !OpenStripe()) next_stripe_ = 0;
  auto pick = [this]() -> bool {
    for (size_t i = 0; i < stripes_.size(); ++i) {
      const size_t s = (next_stripe_ + i) % stripes_.size();
      if (stripes_[s].pieces.size() < pieces_per_chunk_) {
        filling_ = s;
        fill_length_ = 0;
        return true;
      }
    }
    return false;
  };
  while (true) {
    RETURN_IF_ERROR(error_);
    if (pick()) return absl::OkStatus();
    Pump();
    RETURN_IF_ERROR(error_);
    if (pick()) return absl::OkStatus();
    // Nothing in flight: a send failed before it left (the chunk was
    // abandoned, counting towards kMaxChunkRewrites); pump again.
    if (in_flight_ > 0) WaitOne();
  }
}

// Adds a stripe if the pool can spare its buffers (blocking only for the
// first stripe, when this writer holds no buffer).
bool StripedFileWriter::OpenStripe() {
  if (stripes_.size() >= std::max<size_t>(1, dp_.write_stripes)) return false;
  Stripe stripe;
  if (stripes_.empty()) {
    stripe.buffers = dp_.pool->Acquire(pieces_per_chunk_);
  } else {
    auto taken = dp_.pool->TryAcquire(pieces_per_chunk_);
    if (!taken.has_value()) return false;
    stripe.buffers = std::move(*taken);
  }
  stripes_.push_back(std::move(stripe));
  return true;
}

void StripedFileWriter::EndPiece() {
  const size_t s = *filling_;
  Stripe& stripe = stripes_[s];
  const std::byte* data = dp_.pool->data(stripe.buffers[stripe.pieces.size()]);
  stripe.crc = Crc32cExtend(stripe.crc, data, fill_length_);
  stripe.pieces.push_back(Piece{size_ - fill_length_, fill_length_});
  if (stripe.pieces.size() == pieces_per_chunk_) stripe.closing = true;
  filling_.reset();
  fill_length_ = 0;
  next_stripe_ = s + 1;
  Pump();
}

// Sends the next piece of every idle stripe that has one ready. The last
// filled piece of a chunk waits until the chunk is closing, so that it can
// carry SEAL.
void StripedFileWriter::Pump() {
  // Completions that already arrived free stripes without blocking.
  while (true) {
    std::optional<Completion> c = done_.TryTake();
    if (!c) break;
    --in_flight_;
    Handle(std::move(*c));
  }
  if (!error_.ok()) return;
  for (size_t s = 0; s < stripes_.size(); ++s) {
    Stripe& stripe = stripes_[s];
    if (stripe.in_flight || stripe.acked == stripe.pieces.size()) continue;
    const bool last = stripe.acked + 1 == stripe.pieces.size();
    if (last && !stripe.closing) continue;
    Send(s);
    if (!error_.ok()) return;
  }
}

void StripedFileWriter::Send(size_t s) {
  Stripe& stripe = stripes_[s];
  if (!stripe.chunk.has_value()) {
    absl::StatusOr<v1::ChunkAllocation> chunk = NextAllocation();
    if (!chunk.ok()) {
      error_ = Annotate(chunk.status(), "write: allocate chunk");
      return;
    }
    stripe.chunk = *std::move(chunk);
  }
  const v1::ChunkAllocation& chunk = *stripe.chunk;
  const size_t k = stripe.acked;
  const Piece& piece = stripe.pieces[k];
  const bool seal = stripe.closing && k + 1 == stripe.pieces.size();
  dataplane::WriteRequest request;
  request.chunk_id = chunk.chunk_id();
  request.offset = uint64_t{k} * piece_bytes_;
  request.length = piece.length;
  request.flags = (k == 0 ? dataplane::kWriteFirst : 0) |
                  (seal ? dataplane::kWriteSeal : 0);
  if (seal) request.total_length = request.offset + piece.length;
  request.source = dp_.pool->Remote(stripe.buffers[k], 0, piece.length);
  for (int r = 1; r < chunk.replicas_size(); ++r) {
    request.chain.push_back(dataplane::ChainLink{
        chunk.replicas(r).server_id(), chunk.replicas(r).fabric_address()});
  }
  const v1::ReplicaLocation& head = chunk.replicas(0);
  absl::StatusOr<fabric::PeerId> peer =
      dp_.endpoint->Connect(head.fabric_address());
  if (!peer.ok()) {
    Abandon(s, head.server_id(), peer.status());
    return;
  }
  std::string encoded;
  request.EncodeTo(&encoded);
  stripe.in_flight = true;
  ++in_flight_;
  dp_.endpoint->Call(*peer, encoded, dp_.call_timeout,
                     [this, s, k](absl::StatusOr<std::string> result) {
                       done_.Post(Completion{s, k, std::move(result)});
                     });
}

// A chunk to write: a spare from an earlier batch when one avoids every
// failed server (for this writer or, recently, for this client), else a
// new batch from meta (one chunk for the writer's
// first, then one per stripe: unused spares become orphans that meta
// collects).
absl::StatusOr<v1::ChunkAllocation> StripedFileWriter::NextAllocation() {
  // Servers other writers and readers of this client saw fail count too.
  for (uint64_t server : dp_.selector->RecentlyFailedServers()) {
    avoid_.insert(server);
  }
  while (!spare_chunks_.empty()) {
    v1::ChunkAllocation chunk = std::move(spare_chunks_.front());
    spare_chunks_.pop_front();
    bool usable = chunk.replicas_size() > 0;
    for (const v1::ReplicaLocation& r : chunk.replicas()) {
      usable &= !avoid_.contains(r.server_id());
    }
    if (usable) return chunk;
  }
  // A writer's first chunk: a spare another writer of this client left.
  const bool first = allocations_ == 0;
  if (first && dp_.reservoir != nullptr) {
    if (std::optional<v1::ChunkAllocation> spare = dp_.reservoir->Take(dp_.replication, avoid_)) {
      ++allocations_;
      return *std::move(spare);
    }
  }
  const size_t for_others = first && dp_.reservoir != nullptr ? dp_.reservoir->SparesWanted() : 0;
  v1::AllocateChunksRequest request;
  request.set_count(first ? static_cast<uint32_t>(1 + for_others)
                          : static_cast<uint32_t>(stripes_.size()));
  request.set_replication(dp_.replication);
  for (uint64_t server : avoid_) request.add_avoid_servers(server);
  absl::StatusOr<v1::AllocateChunksReply> reply =
      dp_.meta->AllocateChunks(request);
  if (absl::IsResourceExhausted(reply.status()) && !avoid_.empty()) {
    // Avoiding every server that failed leaves too few: the failures may
    // have been a slow downstream replica blamed on the head. Try all.
    MEDFS_LOG(WARNING) << "write: allocate chunk avoiding " << avoid_.size()
                       << " servers: " << reply.status()
                       << "; retrying without avoiding any";
    avoid_.clear();
    request.clear_avoid_servers();
    reply = dp_.meta->AllocateChunks(request);
  }
  if (!reply.ok()) return reply.status();
  for (v1::ChunkAllocation& chunk : *reply->mutable_chunks()) {
    if (chunk.replicas_size() > 0) spare_chunks_.push_back(std::move(chunk));
  }
  if (spare_chunks_.empty()) {
    return absl::ResourceExhaustedError("meta returned no replicas");
  }
  ++allocations_;
  v1::ChunkAllocation chunk = std::move(spare_chunks_.front());
  spare_chunks_.pop_front();
  if (for_others > 0) {  // the spares asked for other writers go back
    std::vector<v1::ChunkAllocation> spares(std::make_move_iterator(spare_chunks_.begin()),
                                            std::make_move_iterator(spare_chunks_.end()));
    spare_chunks_.clear();
    dp_.reservoir->Add(dp_.replication, std::move(spares));
  }
  return chunk;
}

void StripedFileWriter::WaitOne() {
  Completion c = done_.Take();
  --in_flight_;
  Handle(std::move(c));
}

void StripedFileWriter::Handle(Completion c) {
  Stripe& stripe = stripes_[c.stripe];
  stripe.in_flight = false;
  const v1::ChunkAllocation& chunk = *stripe.chunk;
  uint64_t failed_server = chunk.replicas(0).server_id();
  absl::Status status = c.result.status();
  dataplane::Reply reply;
  if (c.result.ok()) {
    absl::StatusOr<dataplane::Reply> decoded =
        dataplane::DecodeReply(dataplane::Op::kWrite, *c.result);
    if (decoded.ok()) {
      reply = *std::move(decoded);
      status = reply.status();
      if (!status.ok() && reply.server_id != 0) failed_server = reply.server_id;
    } else {
      status = decoded.status();
    }
  }
  if (!status.ok()) {
    if (!c.result.ok()) failed_server = BlameForTimeout(chunk);
    Abandon(c.stripe, failed_server, status);
    return;
  }
  stripe.acked = c.piece + 1;
  const bool sealed = stripe.closing && stripe.acked == stripe.pieces.size();
  if (!sealed) return;
  const uint64_t length =
      uint64_t{c.piece} * piece_bytes_ + stripe.pieces.back().length;
  if (!reply.chunk.sealed || reply.chunk.length != length ||
      reply.chunk.crc32c != stripe.crc) {
    Abandon(c.stripe, 0,
            absl::DataLossError(absl::StrCat(
                "sealed as ", reply.chunk.length, " bytes crc ",
                reply.chunk.crc32c, ", wrote ", length, " bytes crc ",
                stripe.crc)));
    return;
  }
  Sealed(stripe, length, stripe.crc);
}

// A WRITE to the chain's head got no reply: the head is dead or stuck, or
// it is waiting on a downstream replica that is. A head that answers a
// PING promptly is alive, so the next replica is the likelier culprit.
uint64_t StripedFileWriter::BlameForTimeout(const v1::ChunkAllocation& chunk) {
  const uint64_t head = chunk.replicas(0).server_id();
  if (chunk.replicas_size() < 2) return head;
  absl::StatusOr<fabric::PeerId> peer =
      dp_.endpoint->Connect(chunk.replicas(0).fabric_address());
  if (!peer.ok()) return head;
  std::string ping;
  dataplane::PingRequest().EncodeTo(&ping);
  absl::StatusOr<std::string> pong = dp_.endpoint->CallAndWait(
      *peer, ping, std::min(dp_.call_timeout, absl::Seconds(1)));
  if (!pong.ok()) return head;
  absl::StatusOr<dataplane::Reply> reply =
      dataplane::DecodeReply(dataplane::Op::kPing, *pong);
  if (!reply.ok() || !reply->status().ok()) return head;
  return chunk.replicas(1).server_id();
}

// Gives up the stripe's current chunk; its pieces go to a new chunk that
// avoids `failed_server` (0: none to avoid).
void StripedFileWriter::Abandon(size_t s, uint64_t failed_server,
                                const absl::Status& cause) {
  Stripe& stripe = stripes_[s];
  const uint64_t chunk_id = stripe.chunk.has_value() ? stripe.chunk->chunk_id() : 0;
  MEDFS_LOG(WARNING) << "write chunk " << chunk_id << ": " << cause
                     << "; rewriting it elsewhere (avoiding server "
                     << failed_server << ")";
  if (failed_server != 0) {
    avoid_.insert(failed_server);
    dp_.selector->MarkFailed(failed_server);
  }
  stripe.chunk.reset();
  stripe.acked = 0;
  if (++stripe.rewrites > kMaxChunkRewrites) {
    error_ = Annotate(cause, absl::StrCat("write chunk ", chunk_id, " (",
                                          kMaxChunkRewrites,
                                          " rewrites failed)"));
  }
}

void StripedFileWriter::Sealed(Stripe& stripe, uint64_t length, uint32_t crc) {
  const v1::ChunkAllocation& chunk = *stripe.chunk;
  v1::SealedChunk sealed;
  sealed.set_chunk_id(chunk.chunk_id());
  sealed.set_length(length);
  sealed.set_crc32c(crc);
  content_.sealed_chunks.push_back(sealed);
  for (size_t k = 0; k < stripe.pieces.size(); ++k) {
    v1::Extent extent;
    extent.set_file_offset(stripe.pieces[k].file_offset);
    extent.set_chunk_id(chunk.chunk_id());
    extent.set_chunk_offset(uint64_t{k} * piece_bytes_);
    extent.set_length(stripe.pieces[k].length);
    content_.extents.push_back(extent);
  }
  stripe.chunk.reset();
  stripe.pieces.clear();
  stripe.acked = 0;
  stripe.closing = false;
  stripe.crc = 0;
  stripe.rewrites = 0;
}

bool StripedFileWriter::AllSealed() const {
  for (const Stripe& stripe : stripes_) {
    if (!stripe.pieces.empty() || stripe.in_flight) return false;
  }
  return true;
}

absl::StatusOr<FileContent> StripedFileWriter::Finish() {
  if (finished_) return absl::FailedPreconditionError("finish: called twice");
  finished_ = true;
  if (filling_.has_value() && error_.ok()) {
    if (fill_length_ > 0) {
      EndPiece();
    } else {
      filling_.reset();
    }
  }
  for (Stripe& stripe : stripes_) {
    if (!stripe.pieces.empty()) stripe.closing = true;
  }
  while (error_.ok()) {
    Pump();
    if (!error_.ok() || AllSealed()) break;
    if (in_flight_ > 0) WaitOne();
  }
  while (in_flight_ > 0) WaitOne();
  RETURN_IF_ERROR(error_);
  std::sort(content_.extents.begin(), content_.extents.end(),
            [](const v1::Extent& a, const v1::Extent& b) {
              return a.file_offset() < b.file_offset();
            });
  std::vector<v1::Extent> merged;
  for (v1::Extent& e : content_.extents) {
    if (!merged.empty()) {
      v1::Extent& last = merged.back();
      if (last.chunk_id() == e.chunk_id() &&
          last.file_offset() + last.length() == e.file_offset() &&
          last.chunk_offset() + last.length() == e.chunk_offset()) {
        last.set_length(last.length() + e.length());
        continue;
      }
    }
    merged.push_back(std::move(e));
  }
  content_.extents = std::move(merged);
  content_.size = size_;
  return std::move(content_);
}

}  // namespace medfs::client
