// EndpointCore operations: calls, message sends, RMA, and the
// IncomingRequest handed to request handlers.
#include <rdma/fi_rma.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/fabric/endpoint_core.h"
#include "common/logging.h"
#include "common/status.h"

namespace medfs::fabric::internal {
namespace {

const char* RmaName(RmaKind kind) {
  switch (kind) {
    case RmaKind::kWrite:
      return "RMA write";
    case RmaKind::kWriteData:
      return "RMA write with completion data";
    case RmaKind::kRead:
      return "RMA read";
  }
  return "RMA";
}

class IncomingRequestImpl final : public IncomingRequest {
 public:
  IncomingRequestImpl(std::shared_ptr<EndpointCore> core, PeerId peer,
                      uint32_t call_id, std::string payload)
      : core_(std::move(core)),
        peer_(peer),
        call_id_(call_id),
        payload_(std::move(payload)) {}

  ~IncomingRequestImpl() override {
    if (!replied_) {
      core_->SendReply(peer_, call_id_, wire::MessageKind::kErrorReply,
                       "request dropped by the server without a reply")
          .IgnoreError();
    }
  }

  absl::string_view payload() const override { return payload_; }
  PeerId peer() const override { return peer_; }

  absl::Status Reply(absl::string_view reply) override {
    RETURN_IF_ERROR(CheckNotReplied());
    RETURN_IF_ERROR(core_->SendReply(peer_, call_id_,
                                     wire::MessageKind::kReply, reply));
    replied_ = true;
    return absl::OkStatus();
  }

  absl::Status ReplyWithWrite(const MemoryRegion& local, const void* data,
                              size_t length,
                              const RemoteBuffer& remote) override {
    RETURN_IF_ERROR(CheckNotReplied());
    RETURN_IF_ERROR(core_->Rma(RmaKind::kWriteData, peer_, local,
                               const_cast<void*>(data), length, remote,
                               call_id_));
    replied_ = true;
    return absl::OkStatus();
  }

  void ReplyWithWriteAsync(const MemoryRegion& local, const void* data,
                           size_t length, const RemoteBuffer& remote,
                           absl::AnyInvocable<void(absl::Status)> done) override {
    if (absl::Status s = CheckNotReplied(); !s.ok()) return done(std::move(s));
    // Answered once the write succeeded; marked before `done` runs, since
    // `done` may destroy this request.
    core_->RmaAsync(RmaKind::kWriteData, peer_, local, const_cast<void*>(data),
                    length, remote, call_id_,
                    [this, done = std::move(done)](absl::Status status) mutable {
                      if (status.ok()) replied_ = true;
                      done(std::move(status));
                    });
  }

  absl::Status PullFromCaller(const MemoryRegion& local, void* data,
                              size_t length,
                              const RemoteBuffer& remote) override {
    RETURN_IF_ERROR(CheckNotReplied());
    return core_->Rma(RmaKind::kRead, peer_, local, data, length, remote, 0);
  }

 private:
  absl::Status CheckNotReplied() const {
    if (!replied_) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat("request ", call_id_, " from ", core_->PeerName(peer_),
                     ": already replied"));
  }

  std::shared_ptr<EndpointCore> core_;
  PeerId peer_;
  uint32_t call_id_;
  std::string payload_;
  bool replied_ = false;
};

}  // namespace

std::unique_ptr<IncomingRequest> MakeIncomingRequest(
    std::shared_ptr<EndpointCore> core, PeerId peer, uint32_t call_id,
    std::string payload) {
  return std::make_unique<IncomingRequestImpl>(std::move(core), peer, call_id,
                                               std::move(payload));
}

uint32_t EndpointCore::NextCallId() {
  // 32-bit ids (EFA carries 4 bytes of CQ data); skip 0 and ids in use.
  while (true) {
    const uint32_t id = next_call_id_++;
    if (id != 0 && !pending_calls_.contains(id)) return id;
  }
}

void EndpointCore::Call(PeerId peer, absl::string_view request,
                        absl::Duration timeout,
                        Endpoint::ReplyCallback done) {
  wire::Message message{wire::MessageKind::kRequest, 0, address_, request};
  if (wire::EncodedSize(message) > options_.max_message_bytes) {
    done(absl::InvalidArgumentError(absl::StrCat(
        "call to ", PeerName(peer), ": request of ", request.size(),
        " bytes exceeds max_message_bytes ", options_.max_message_bytes)));
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    if (!OnProgressThread()) {
      // Backpressure; callbacks on the progress thread never wait here.
      const size_t limit = options_.max_outstanding_calls;
      auto has_room = [this, limit]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return shut_down_ || pending_calls_.size() < limit;
      };
      mu_.Await(absl::Condition(&has_room));
    }
    if (!shut_down_) {
      message.call_id = NextCallId();
      pending_calls_[message.call_id] =
          PendingCall{peer, absl::Now() + timeout, timeout, std::move(done)};
    }
  }
  if (message.call_id == 0) {
    done(absl::CancelledError(absl::StrCat(
        "call to ", PeerName(peer), ": endpoint shutting down")));
    return;
  }
  absl::Status sent = SendMessage(peer, message);
  if (!sent.ok()) CompleteCall(message.call_id, sent);
}

absl::Status EndpointCore::SendReply(PeerId peer, uint32_t call_id,
                                     wire::MessageKind kind,
                                     absl::string_view payload) {
  wire::Message message{kind, call_id, absl::string_view(), payload};
  return Annotate(SendMessage(peer, message),
                  absl::StrCat("replying to call ", call_id, " from ",
                               PeerName(peer)));
}

absl::Status EndpointCore::SendMessage(PeerId peer,
                                       const wire::Message& message) {
  const size_t size = wire::EncodedSize(message);
  if (size > options_.max_message_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("message of ", size, " bytes exceeds max_message_bytes ",
                     options_.max_message_bytes));
  }
  const uint32_t call_id =
      message.kind == wire::MessageKind::kRequest ? message.call_id : 0;
  SendOp* op = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::CancelledError("endpoint shutting down");
    if (free_sends_.empty()) {
      // Every send buffer is in flight: queue a copy; FinishSend posts it.
      queued_sends_.push_back(QueuedSend{peer, call_id, wire::Encode(message)});
      return absl::OkStatus();
    }
    op = free_sends_.back();
    free_sends_.pop_back();
  }
  wire::EncodeTo(message, op->buffer);
  op->length = size;
  op->peer = peer;
  op->call_id = call_id;
  PostSend(op);
  return absl::OkStatus();
}

void EndpointCore::PostSend(SendOp* op) {
  ssize_t rc = fi_send(ep_.get(), op->buffer, op->length,
                       send_region_->descriptor(), op->peer, &op->context);
  if (rc == 0) return;
  if (rc == -FI_EAGAIN) {
    {
      absl::MutexLock lock(&mu_);
      ++stats_.posts_retried;
      retry_sends_.push_back(op);
      retries_pending_.store(true, std::memory_order_release);
    }
    WakeProgressThread();
    return;
  }
  FinishSend(op, FiError(absl::StrCat("sending ", op->length, " bytes to ",
                                      PeerName(op->peer)),
                         rc));
}

void EndpointCore::FinishSend(SendOp* op, const absl::Status& status) {
  if (!status.ok()) {
    if (op->call_id != 0) {
      CompleteCall(op->call_id, status);
    } else {
      MEDFS_LOG(WARNING) << "fabric reply lost: " << status.message();
    }
  }
  QueuedSend next;
  bool have_next = false;
  {
    absl::MutexLock lock(&mu_);
    if (!shut_down_ && !queued_sends_.empty()) {
      next = std::move(queued_sends_.front());
      queued_sends_.pop_front();
      have_next = true;
    } else {
      free_sends_.push_back(op);
    }
  }
  if (!have_next) return;
  std::memcpy(op->buffer, next.bytes.data(), next.bytes.size());
  op->length = next.bytes.size();
  op->peer = next.peer;
  op->call_id = next.call_id;
  PostSend(op);
}

void EndpointCore::CompleteCall(uint32_t call_id,
                                absl::StatusOr<std::string> result) {
  PendingCall call;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_calls_.find(call_id);
    if (it == pending_calls_.end()) {
      ++stats_.unmatched_replies;  // timed out already, or never ours
      return;
    }
    call = std::move(it->second);
    pending_calls_.erase(it);
  }
  if (!result.ok()) {
    result = Annotate(result.status(), absl::StrCat("call ", call_id, " to ",
                                                    PeerName(call.peer)));
  }
  call.done(std::move(result));
}

namespace {

std::shared_ptr<RmaOp> NewRmaOp(RmaKind kind, PeerId peer,
                                const MemoryRegion& local, void* buffer,
                                size_t length, const RemoteBuffer& remote,
                                uint32_t data) {
  auto op = std::make_shared<RmaOp>();
  op->kind = kind;
  op->peer = peer;
  op->buffer = buffer;
  op->length = length;
  op->descriptor = local.descriptor();
  op->remote = remote;
  op->data = data;
  return op;
}

}  // namespace

absl::Status EndpointCore::StartRma(const std::shared_ptr<RmaOp>& op,
                                    const MemoryRegion& local) {
  const auto* start = static_cast<const char*>(local.data());
  const auto* p = static_cast<const char*>(op->buffer);
  if (op->length == 0 || op->length > op->remote.length || p < start ||
      p + op->length > start + local.size() || op->length > max_rma_bytes_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "outside the local region (", local.size(),
        " bytes) or the remote buffer (", op->remote.length,
        " bytes), or over ", max_rma_bytes_, " bytes"));
  }
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::CancelledError("endpoint shutting down");
    rma_in_flight_[op.get()] = op;
  }
  PostRma(op.get());
  return absl::OkStatus();
}

std::string EndpointCore::RmaWhat(RmaKind kind, size_t length,
                                  PeerId peer) const {
  return absl::StrCat(RmaName(kind), " of ", length, " bytes with ",
                      PeerName(peer));
}

absl::Status EndpointCore::Rma(RmaKind kind, PeerId peer,
                               const MemoryRegion& local, void* buffer,
                               size_t length, const RemoteBuffer& remote,
                               uint32_t data) {
  if (OnProgressThread()) {
    return absl::FailedPreconditionError(
        absl::StrCat(RmaWhat(kind, length, peer),
                     ": would block the progress thread; hand the request to a pool"));
  }
  auto op = NewRmaOp(kind, peer, local, buffer, length, remote, data);
  if (absl::Status started = StartRma(op, local); !started.ok()) {
    return Annotate(started, RmaWhat(kind, length, peer));
  }
  if (!op->done.WaitForNotificationWithTimeout(options_.rma_timeout)) {
    return absl::UnavailableError(
        absl::StrCat(RmaWhat(kind, length, peer), ": timed out after ",
                     absl::FormatDuration(options_.rma_timeout)));
  }
  if (op->status.ok()) return absl::OkStatus();
  return Annotate(op->status, RmaWhat(kind, length, peer));
}

void EndpointCore::RmaAsync(RmaKind kind, PeerId peer,
                            const MemoryRegion& local, void* buffer,
                            size_t length, const RemoteBuffer& remote,
                            uint32_t data,
                            absl::AnyInvocable<void(absl::Status)> on_done) {
  auto op = NewRmaOp(kind, peer, local, buffer, length, remote, data);
  // The description is built only for an error (no allocation per RMA).
  op->on_done = [this, kind, length, peer,
                 done = std::move(on_done)](absl::Status status) mutable {
    if (!status.ok()) status = Annotate(status, RmaWhat(kind, length, peer));
    done(std::move(status));
  };
  absl::Status started = StartRma(op, local);
  if (!started.ok()) op->on_done(std::move(started));
}

void EndpointCore::PostRma(RmaOp* op) {
  ssize_t rc = 0;
  switch (op->kind) {
    case RmaKind::kWrite: {
      // Write() promises the bytes are in the peer's memory when it
      // returns (the peer learns of them by a message, which is not ordered
      // after the RMA): ask for delivery, not just transmit, completion.
      iovec iov{op->buffer, op->length};
      fi_rma_iov rma{op->remote.address, op->length, op->remote.key};
      fi_msg_rma msg{};
      msg.msg_iov = &iov;
      msg.desc = &op->descriptor;
      msg.iov_count = 1;
      msg.addr = op->peer;
      msg.rma_iov = &rma;
      msg.rma_iov_count = 1;
      msg.context = &op->context;
      rc = fi_writemsg(ep_.get(), &msg, FI_DELIVERY_COMPLETE);
      break;
    }
    case RmaKind::kWriteData:
      rc = fi_writedata(ep_.get(), op->buffer, op->length, op->descriptor,
                        op->data, op->peer, op->remote.address,
                        op->remote.key, &op->context);
      break;
    case RmaKind::kRead:
      rc = fi_read(ep_.get(), op->buffer, op->length, op->descriptor,
                   op->peer, op->remote.address, op->remote.key,
                   &op->context);
      break;
  }
  if (rc == 0) return;
  if (rc == -FI_EAGAIN) {
    {
      absl::MutexLock lock(&mu_);
      ++stats_.posts_retried;
      retry_rmas_.push_back(op);
      retries_pending_.store(true, std::memory_order_release);
    }
    WakeProgressThread();
    return;
  }
  FinishRma(op, FiError("posting", rc));
}

void EndpointCore::FinishRma(RmaOp* op, const absl::Status& status) {
  std::shared_ptr<RmaOp> owned;
  {
    absl::MutexLock lock(&mu_);
    auto it = rma_in_flight_.find(op);
    if (it == rma_in_flight_.end() || shut_down_) return;
    owned = std::move(it->second);
    rma_in_flight_.erase(it);
  }
  if (owned->on_done) {
    owned->on_done(status);
    return;
  }
  owned->status = status;
  owned->done.Notify();
}

}  // namespace medfs::fabric::internal
