#include "client/chunk_reader.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <limits>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/completion_mailbox.h"
#include "common/dataplane/protocol.h"
#include "common/status.h"

namespace medfs::client {
namespace {

constexpr size_t kNoBuffer = std::numeric_limits<size_t>::max();

// Progress of one piece through its replicas.
struct PieceAttempts {
  std::vector<v1::ReplicaLocation> order;  // replicas still to try: [next..)
  size_t next = 0;
  absl::flat_hash_set<uint64_t> tried;     // server ids
  std::vector<std::string> failures;       // "server 3 (addr): cause"
  size_t data_loss = 0;                    // failures that were kDataLoss
  bool refreshed = false;                  // asked meta again already
  size_t buffer = kNoBuffer;               // bounce buffer held
  v1::ReplicaLocation current;             // replica of the call in flight
};

struct Completion {
  size_t piece;
  absl::StatusOr<std::string> result;
};

enum class LaunchResult { kLaunched, kNoBuffer, kFailed };

class ReadOperation {
 public:
  ReadOperation(const DataPlane& dp, const ReadPlan& plan, std::byte* dst,
                const fabric::MemoryRegion* region)
      : dp_(dp), plan_(plan), dst_(dst), region_(region),
        attempts_(plan.pieces.size()) {}

  absl::Status Run();

 private:
  absl::Status Start();
  LaunchResult Launch(size_t i);
  bool TakeBuffer(PieceAttempts& a);
  absl::Status Refresh(size_t i);
  void Handle(Completion c);
  absl::Status PieceError(size_t i) const;
  fabric::RemoteBuffer Destination(size_t i) const;

  const DataPlane& dp_;
  const ReadPlan& plan_;
  std::byte* const dst_;
  const fabric::MemoryRegion* const region_;
  std::vector<PieceAttempts> attempts_;
  std::deque<size_t> ready_;  // pieces to (re)launch
  size_t in_flight_ = 0;
  absl::Status error_;

  CompletionMailbox<Completion> done_;
};

absl::Status ReadOperation::Run() {
  RETURN_IF_ERROR(Start());
  for (size_t i = 0; i < plan_.pieces.size(); ++i) ready_.push_back(i);
  while (true) {
    while (error_.ok() && !ready_.empty() &&
           in_flight_ < dp_.max_parallel_pieces) {
      const LaunchResult r = Launch(ready_.front());
      if (r == LaunchResult::kNoBuffer) break;
      ready_.pop_front();
    }
    if (in_flight_ == 0) break;
    Completion c = done_.Take();
    --in_flight_;
    Handle(std::move(c));
  }
  for (PieceAttempts& a : attempts_) {
    if (a.buffer != kNoBuffer) dp_.pool->Release(a.buffer);
  }
  return error_;
}

absl::Status ReadOperation::Start() {
  for (const ZeroRange& z : plan_.zeros) {
    std::memset(dst_ + z.dst_offset, 0, z.length);
  }
  if (plan_.pieces.empty()) return absl::OkStatus();
  std::vector<uint64_t> ids;
  ids.reserve(plan_.pieces.size());
  for (const ReadPiece& p : plan_.pieces) ids.push_back(p.chunk_id);
  ASSIGN_OR_RETURN(auto locations, dp_.locations->Get(ids));
  for (size_t i = 0; i < plan_.pieces.size(); ++i) {
    attempts_[i].order =
        dp_.selector->Order(locations[plan_.pieces[i].chunk_id]);
  }
  return absl::OkStatus();
}

bool ReadOperation::TakeBuffer(PieceAttempts& a) {
  if (region_ != nullptr || a.buffer != kNoBuffer) return true;
  if (in_flight_ == 0) {
    a.buffer = dp_.pool->Acquire(1)[0];
    return true;
  }
  auto taken = dp_.pool->TryAcquire(1);
  if (!taken.has_value()) return false;
  a.buffer = (*taken)[0];
  return true;
}

fabric::RemoteBuffer ReadOperation::Destination(size_t i) const {
  const ReadPiece& p = plan_.pieces[i];
  if (region_ == nullptr) {
    return dp_.pool->Remote(attempts_[i].buffer, 0, p.length);
  }
  const size_t offset = static_cast<size_t>(
      (dst_ + p.dst_offset) - static_cast<std::byte*>(region_->data()));
  return region_->Remote(offset, p.length);
}

// Asks meta again where the chunk of piece i lives; keeps untried replicas.
absl::Status ReadOperation::Refresh(size_t i) {
  PieceAttempts& a = attempts_[i];
  a.refreshed = true;
  const uint64_t chunk_id = plan_.pieces[i].chunk_id;
  dp_.locations->Invalidate(chunk_id);
  absl::StatusOr<v1::ChunkLocation> location =
      dp_.locations->Refresh(chunk_id);
  if (!location.ok()) return location.status();
  a.order.clear();
  a.next = 0;
  for (v1::ReplicaLocation& r : dp_.selector->Order(*location)) {
    if (!a.tried.contains(r.server_id())) a.order.push_back(std::move(r));
  }
  return absl::OkStatus();
}

LaunchResult ReadOperation::Launch(size_t i) {
  PieceAttempts& a = attempts_[i];
  if (!TakeBuffer(a)) return LaunchResult::kNoBuffer;
  const ReadPiece& piece = plan_.pieces[i];
  while (true) {
    if (a.next == a.order.size()) {
      if (!a.refreshed) {
        absl::Status s = Refresh(i);
        if (s.ok()) continue;
        a.failures.push_back(std::string(s.message()));
      }
      error_ = PieceError(i);
      return LaunchResult::kFailed;
    }
    const v1::ReplicaLocation& replica = a.order[a.next++];
    a.tried.insert(replica.server_id());
    absl::StatusOr<fabric::PeerId> peer =
        dp_.endpoint->Connect(replica.fabric_address());
    if (!peer.ok()) {
      a.failures.push_back(absl::StrCat("server ", replica.server_id(), " (",
                                        replica.data_endpoint(), "): ",
                                        peer.status().ToString()));
      dp_.selector->MarkFailed(replica.server_id());
      continue;
    }
    a.current = replica;
    dataplane::ReadRequest request;
    request.chunk_id = piece.chunk_id;
    request.offset = piece.chunk_offset;
    request.length = piece.length;
    if (dp_.reads_cached_by_caller) request.flags |= dataplane::kReadCachedByReader;
    request.destination = Destination(i);
    std::string encoded;
    request.EncodeTo(&encoded);
    ++in_flight_;
    dp_.endpoint->Call(*peer, encoded, dp_.call_timeout,
                       [this, i](absl::StatusOr<std::string> result) {
                         done_.Post(Completion{i, std::move(result)});
                       });
    return LaunchResult::kLaunched;
  }
}

void ReadOperation::Handle(Completion c) {
  PieceAttempts& a = attempts_[c.piece];
  const ReadPiece& piece = plan_.pieces[c.piece];
  const bool transport_error = !c.result.ok();
  absl::Status status = c.result.status();
  if (c.result.ok() && !c.result->empty()) {
    absl::StatusOr<dataplane::Reply> reply =
        dataplane::DecodeReply(dataplane::Op::kRead, *c.result);
    status = reply.ok() ? reply->status() : reply.status();
    if (status.ok()) status = absl::InternalError("READ answered OK by message");
  }
  const uint64_t server = a.current.server_id();
  if (status.ok()) {
    dp_.selector->MarkSucceeded(server);
    if (a.buffer != kNoBuffer) {
      std::memcpy(dst_ + piece.dst_offset, dp_.pool->data(a.buffer),
                  piece.length);
      dp_.pool->Release(a.buffer);
      a.buffer = kNoBuffer;
    }
    return;
  }
  a.failures.push_back(absl::StrCat("server ", server, " (",
                                    a.current.data_endpoint(),
                                    "): ", status.ToString()));
  if (status.code() == absl::StatusCode::kDataLoss) ++a.data_loss;
  if (transport_error || status.code() == absl::StatusCode::kUnavailable ||
      status.code() == absl::StatusCode::kResourceExhausted) {
    dp_.selector->MarkFailed(server);
  }
  if (transport_error && a.buffer != kNoBuffer) {
    // A late RMA from the slow server may still land in the buffer.
    dp_.pool->Quarantine(a.buffer,
                         absl::Now() + std::max(absl::Seconds(30),
                                                4 * dp_.call_timeout));
    a.buffer = kNoBuffer;
  }
  ready_.push_front(c.piece);
}

absl::Status ReadOperation::PieceError(size_t i) const {
  const PieceAttempts& a = attempts_[i];
  const ReadPiece& p = plan_.pieces[i];
  const std::string what = absl::StrCat("read chunk ", p.chunk_id, " [",
                                        p.chunk_offset, ", +", p.length, ")");
  if (a.failures.empty()) {
    return absl::UnavailableError(absl::StrCat(what, ": no replicas known"));
  }
  const std::string tried = absl::StrJoin(a.failures, "; ");
  if (a.data_loss > 0 && a.data_loss == a.tried.size()) {
    return absl::DataLossError(
        absl::StrCat(what, ": checksum mismatch on every replica: ", tried));
  }
  return absl::UnavailableError(
      absl::StrCat(what, ": no replica could serve it: ", tried));
}

}  // namespace

absl::Status ExecuteRead(const DataPlane& data_plane, const ReadPlan& plan,
                         std::byte* dst,
                         const fabric::MemoryRegion* dst_region) {
  ReadOperation operation(data_plane, plan, dst, dst_region);
  return operation.Run();
}

}  // namespace medfs::client
