// EndpointCore lifetime and its progress thread: reading the completion
// queue, dispatching received messages, retrying posts, expiring calls.
#include "common/fabric/endpoint_core.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace medfs::fabric::internal {
namespace {

// How long the progress thread sleeps in fi_cq_sread; also bounds how late
// a timeout fires and how long Shutdown waits without fi_cq_signal.
constexpr int kWaitMs = 50;
constexpr absl::Duration kTimeoutScanPeriod = absl::Milliseconds(50);
constexpr size_t kBatch = 32;
constexpr absl::Duration kMaxPollSleep = absl::Milliseconds(1);

}  // namespace

EndpointCore::EndpointCore(const EndpointOptions& options)
    : options_(options) {}

EndpointCore::~EndpointCore() {
  Shutdown();
  // Reverse order of opening; registrations before the domain, memory last.
  ep_.reset();
  registrations_.reset();
  av_.reset();
  cq_.reset();
  domain_.reset();
  fabric_.reset();
}

bool EndpointCore::OnProgressThread() const {
  return std::this_thread::get_id() == progress_thread_.get_id();
}

void EndpointCore::WakeProgressThread() {
  if (use_sread_ && cq_ != nullptr && !OnProgressThread()) {
    fi_cq_signal(cq_.get());
  }
}

void EndpointCore::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  stopping_.store(true, std::memory_order_release);
  WakeProgressThread();
  if (progress_thread_.joinable()) progress_thread_.join();
  absl::flat_hash_map<uint32_t, PendingCall> calls;
  std::vector<std::shared_ptr<RmaOp>> rmas;
  {
    absl::MutexLock lock(&mu_);
    calls.swap(pending_calls_);
    queued_sends_.clear();
    for (auto& [raw, op] : rma_in_flight_) rmas.push_back(op);
    // The provider may still hold these contexts until ep_ closes: keep
    // them owned by the map, but fail their waiters now.
  }
  for (auto& [id, call] : calls) {
    call.done(absl::CancelledError(absl::StrCat(
        "call ", id, " to ", PeerName(call.peer), ": endpoint shutting down")));
  }
  for (auto& op : rmas) {
    if (op->on_done) {
      auto on_done = std::move(op->on_done);
      on_done(absl::CancelledError("RMA: endpoint shutting down"));
      continue;
    }
    op->status = absl::CancelledError("RMA: endpoint shutting down");
    op->done.Notify();
  }
}

EndpointStats EndpointCore::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void EndpointCore::SetRequestHandler(RequestHandler handler) {
  auto shared = std::make_shared<RequestHandler>(std::move(handler));
  absl::MutexLock lock(&mu_);
  handler_ = std::move(shared);
}

void EndpointCore::ProgressLoop() {
  fi_cq_data_entry entries[kBatch];
  absl::Time next_scan = absl::Now() + kTimeoutScanPeriod;
  while (!stopping_.load(std::memory_order_acquire)) {
    ssize_t n = ReadCompletions(entries, kBatch);
    for (ssize_t i = 0; i < n; ++i) HandleCompletion(entries[i]);
    if (n == -FI_EAVAIL) HandleErrorEntry();
    if (retries_pending_.load(std::memory_order_acquire)) RetryPosts();
    const absl::Time now = absl::Now();
    if (now >= next_scan) {
      ExpireCalls(now);
      next_scan = now + kTimeoutScanPeriod;
    }
  }
}

ssize_t EndpointCore::ReadCompletions(fi_cq_data_entry* entries,
                                      size_t count) {
  const bool retries = retries_pending_.load(std::memory_order_acquire);
  if (use_sread_ && !retries) {
    ssize_t n = fi_cq_sread(cq_.get(), entries, count, nullptr, kWaitMs);
    if (n != -FI_ENOSYS && n != -FI_EOPNOTSUPP) {
      if (n < 0 && n != -FI_EAGAIN && n != -FI_EAVAIL && n != -FI_EINTR &&
          n != -FI_ECANCELED) {
        MEDFS_LOG(WARNING) << "fi_cq_sread on " << provider_name_ << ": "
                           << FiErrorText(n);
        absl::SleepFor(absl::Milliseconds(1));
      }
      return n;
    }
    MEDFS_LOG(WARNING) << "fi_cq_sread unsupported by " << provider_name_
                       << ": polling the completion queue";
    use_sread_ = false;
  }
  ssize_t n = fi_cq_read(cq_.get(), entries, count);
  if (n == -FI_EAGAIN) {
    // Nothing ready: sleep instead of spinning (few, shared cores), longer
    // the longer we stay idle, from kMinPollSleep up to kMaxPollSleep.
    absl::SleepFor(poll_sleep_);
    poll_sleep_ = retries ? kMinPollSleep
                          : std::min(poll_sleep_ * 2, kMaxPollSleep);
  } else {
    poll_sleep_ = kMinPollSleep;
  }
  return n;
}

RecvOp* EndpointCore::AsRecvOp(void* context) {
  if (recv_ops_.empty()) return nullptr;
  auto* p = static_cast<RecvOp*>(context);
  if (p < recv_ops_.data() || p >= recv_ops_.data() + recv_ops_.size()) {
    return nullptr;
  }
  return p;
}

SendOp* EndpointCore::AsSendOp(void* context) {
  if (send_ops_.empty()) return nullptr;
  auto* p = static_cast<SendOp*>(context);
  if (p < send_ops_.data() || p >= send_ops_.data() + send_ops_.size()) {
    return nullptr;
  }
  return p;
}

void EndpointCore::HandleCompletion(const fi_cq_data_entry& entry) {
  RecvOp* recv = AsRecvOp(entry.op_context);
  if (entry.flags & FI_REMOTE_CQ_DATA) {
    // A ReplyWithWrite landed; with FI_RX_CQ_DATA it consumed a receive.
    CompleteCall(static_cast<uint32_t>(entry.data), std::string());
    if (recv != nullptr) PostRecv(recv);
    return;
  }
  if (recv != nullptr) {
    HandleMessage(recv, entry.len);  // reposts the buffer
    return;
  }
  if (SendOp* send = AsSendOp(entry.op_context)) {
    FinishSend(send, absl::OkStatus());
    return;
  }
  if (entry.op_context != nullptr) {
    FinishRma(static_cast<RmaOp*>(entry.op_context), absl::OkStatus());
  }
}

void EndpointCore::HandleErrorEntry() {
  fi_cq_err_entry err{};
  ssize_t rc = fi_cq_readerr(cq_.get(), &err, 0);
  if (rc < 0) return;
  char detail[256] = "";
  fi_cq_strerror(cq_.get(), err.prov_errno, err.err_data, detail,
                 sizeof(detail));
  const std::string cause = absl::StrCat(fi_strerror(err.err), " (", detail, ")");
  if (RecvOp* recv = AsRecvOp(err.op_context)) {
    if (err.err == FI_ECANCELED) return;  // endpoint closing
    DropMalformed(absl::string_view(),
                  absl::InvalidArgumentError(absl::StrCat(
                      "receive failed (", err.len, " bytes): ", cause)));
    PostRecv(recv);
    return;
  }
  if (SendOp* send = AsSendOp(err.op_context)) {
    FinishSend(send, absl::UnavailableError(absl::StrCat(
                         "sending ", send->length, " bytes to ",
                         PeerName(send->peer), ": ", cause)));
    return;
  }
  if (err.op_context != nullptr) {
    FinishRma(static_cast<RmaOp*>(err.op_context),
              absl::UnavailableError(cause));
    return;
  }
  MEDFS_LOG(WARNING) << "fabric completion error without context on "
                     << provider_name_ << ": " << cause;
}

void EndpointCore::HandleMessage(RecvOp* op, size_t length) {
  absl::string_view bytes(op->buffer,
                          std::min(length, options_.max_message_bytes));
  absl::StatusOr<wire::Message> decoded =
      wire::Decode(bytes, options_.max_message_bytes);
  if (!decoded.ok()) {
    DropMalformed(bytes, decoded.status());
    PostRecv(op);
    return;
  }
  // Copy what we keep, then give the buffer back before dispatching.
  const wire::MessageKind kind = decoded->kind;
  const uint32_t call_id = decoded->call_id;
  std::string address(decoded->sender_address);
  std::string payload(decoded->payload);
  PostRecv(op);
  switch (kind) {
    case wire::MessageKind::kRequest:
      HandleRequest(call_id, address, std::move(payload));
      return;
    case wire::MessageKind::kReply:
      CompleteCall(call_id, std::move(payload));
      return;
    case wire::MessageKind::kErrorReply:
      CompleteCall(call_id, absl::UnavailableError(
                                absl::StrCat("server answered: ", payload)));
      return;
  }
}

void EndpointCore::HandleRequest(uint32_t call_id, const std::string& address,
                                 std::string payload) {
  absl::StatusOr<PeerId> peer = Connect(address);
  if (!peer.ok()) {
    DropMalformed(address, peer.status());
    return;
  }
  std::shared_ptr<RequestHandler> handler;
  {
    absl::MutexLock lock(&mu_);
    handler = handler_;
    if (handler == nullptr) ++stats_.unhandled_requests;
  }
  if (handler == nullptr) {
    SendReply(*peer, call_id, wire::MessageKind::kErrorReply,
              "no request handler installed")
        .IgnoreError();
    return;
  }
  (*handler)(MakeIncomingRequest(shared_from_this(), *peer, call_id,
                                 std::move(payload)));
}

void EndpointCore::DropMalformed(absl::string_view bytes,
                                 const absl::Status& why) {
  // The sender is known only when the header got as far as its address.
  absl::string_view sender = wire::SenderAddressIfPresent(bytes);
  std::string key = sender.empty() ? std::string("<unknown sender>")
                                   : std::string(sender);
  bool first;
  {
    absl::MutexLock lock(&mu_);
    ++stats_.malformed_messages;
    first = warned_senders_.insert(key).second;
  }
  if (first) {
    MEDFS_LOG(WARNING) << "fabric endpoint " << DescribeAddress()
                       << ": dropping malformed message from "
                       << (sender.empty() ? key : DescribeRaw(sender)) << ": " << why.message()
                       << " (further drops from this sender are only counted)";
  }
}

void EndpointCore::PostRecv(RecvOp* op) {
  ssize_t rc = fi_recv(ep_.get(), op->buffer, options_.max_message_bytes,
                       recv_region_->descriptor(), FI_ADDR_UNSPEC,
                       &op->context);
  if (rc == 0) return;
  if (rc == -FI_EAGAIN) {
    absl::MutexLock lock(&mu_);
    ++stats_.posts_retried;
    retry_recvs_.push_back(op);
    retries_pending_.store(true, std::memory_order_release);
    return;
  }
  MEDFS_LOG(ERROR) << "posting a receive on " << provider_name_ << ": "
                   << FiErrorText(rc) << " (one receive buffer lost)";
}

void EndpointCore::RetryPosts() {
  std::vector<SendOp*> sends;
  std::vector<RecvOp*> recvs;
  std::vector<RmaOp*> rmas;
  {
    absl::MutexLock lock(&mu_);
    sends.swap(retry_sends_);
    recvs.swap(retry_recvs_);
    rmas.swap(retry_rmas_);
    retries_pending_.store(false, std::memory_order_release);
  }
  for (RecvOp* op : recvs) PostRecv(op);
  for (SendOp* op : sends) PostSend(op);
  for (RmaOp* op : rmas) PostRma(op);
}

void EndpointCore::ExpireCalls(absl::Time now) {
  std::vector<std::pair<uint32_t, PendingCall>> expired;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = pending_calls_.begin(); it != pending_calls_.end();) {
      if (it->second.deadline <= now) {
        expired.emplace_back(it->first, std::move(it->second));
        pending_calls_.erase(it++);
        ++stats_.calls_timed_out;
      } else {
        ++it;
      }
    }
  }
  for (auto& [id, call] : expired) {
    call.done(absl::UnavailableError(
        absl::StrCat("call ", id, " to ", PeerName(call.peer),
                     ": timed out after ", absl::FormatDuration(call.timeout))));
  }
}

}  // namespace medfs::fabric::internal
