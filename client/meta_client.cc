#include "client/meta_client.h"

#include <algorithm>
#include <deque>
#include <functional>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/status.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace medfs::client {

std::shared_ptr<grpc::Channel> NewMetaChannel(
    const MetaClientOptions& options) {
  grpc::ChannelArguments args;
  const int max_ms = static_cast<int>(
      std::max<int64_t>(100, absl::ToInt64Milliseconds(options.max_backoff)));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_ms);
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(
      options.address, grpc::InsecureChannelCredentials(), args);
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

namespace internal {

// One caller's request while it waits in a CallCoalescer.
template <typename Request>
struct PendingCall {
  const Request* request = nullptr;
  absl::StatusOr<v1::InodeReply> result{absl::UnknownError("not answered")};
  // Why `woken` was notified; written before Notify(), read after waking.
  enum class Role { kWaiting, kAnswered, kSend };
  Role role = Role::kWaiting;
  // Notified at most once per call: answered, or chosen to send the queue.
  absl::Notification woken;
};

// The waiting room of one call kind (see "Coalescing" in meta_client.h).
// Callers queue their request. At most one queued caller at a time is the
// chosen sender: it takes the queue (up to max_items, oldest first, its own
// call among them), sends it through `send` on its own thread, then
// answers those calls. No thread of its own, no timer.
//
// Wake-ups. Each call is woken through its own Notification, exactly once:
// with its answer, or to become the sender. A sender answers its batch by
// notifying each caller directly, so the callers of one RPC resume in
// parallel; none waits on the coalescer's mutex for the others (with one
// mutex and per-caller conditions they would resume one after another,
// each behind a context switch, a chain as long as the batch).
//
// Batch sizing, as in the meta committer (meta/store/commit_pipeline.cc):
// in a closed loop of N callers the callers answered by one RPC come
// straight back, and the first of them would otherwise leave alone, split
// the callers into a lone call and a batch of N-1 and, for mutations, into
// two group commits per round. So the sender lingers, up to the last RPC's
// duration and at most max_linger, until as many calls are queued as the
// last RPC answered plus those that were waiting. A lone sequential caller
// never waits: it is all that is expected. Callers that do other work
// between calls (a FUSE thread reading the file it just opened) do not come
// straight back; a linger that times out is not worth repeating, so after
// one the next kSendsWithoutLinger sends go at once.
template <typename Request>
class CallCoalescer {
 public:
  using Call = PendingCall<Request>;
  using Role = typename Call::Role;
  using Send = std::function<void(const std::vector<Call*>&)>;

  CallCoalescer(int max_in_flight, int max_items, absl::Duration max_linger,
                Send send)
      : max_in_flight_(max_in_flight),
        max_items_(std::max(1, max_items)),
        max_linger_(max_linger),
        send_(std::move(send)) {}

  // Blocks until `request` is answered; returns its outcome.
  absl::StatusOr<v1::InodeReply> Run(const Request& request) {
    Call call;
    call.request = &request;
    mu_.Lock();
    queue_.push_back(&call);
    Call* sender = ChooseSender();
    if (sender != &call) {
      mu_.Unlock();
      if (sender != nullptr) sender->woken.Notify();
      call.woken.WaitForNotification();
      if (call.role == Role::kAnswered) return std::move(call.result);
      mu_.Lock();  // chosen to send
    }
    SendAsChosen(&call);  // releases mu_; answers `call` among others
    return std::move(call.result);
  }

  // Calls queued and not yet taken into an RPC.
  size_t queued() const {
    absl::MutexLock lock(&mu_);
    return queue_.size();
  }

 private:
  // When queued calls may go now and no sender is chosen: chooses the
  // oldest queued call (to be woken with kSend unless it is the caller's
  // own) and returns it; else nullptr.
  Call* ChooseSender() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (sender_chosen_ || queue_.empty() || in_flight_ >= max_in_flight_) {
      return nullptr;
    }
    sender_chosen_ = true;
    Call* sender = queue_.front();
    sender->role = Role::kSend;
    return sender;
  }

  bool Gathered() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return queue_.size() >= std::min(expected_, static_cast<size_t>(max_items_));
  }

  // Waits (mu_ released) until the expected calls are queued or the linger
  // time has passed. Arrivals meanwhile only queue: the sender is chosen.
  void Linger() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (linger_ <= absl::ZeroDuration() || Gathered()) return;
    if (sends_without_linger_ > 0) {
      --sends_without_linger_;
      return;
    }
    auto gathered = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return Gathered(); };
    if (!mu_.AwaitWithTimeout(absl::Condition(&gathered), linger_)) {
      sends_without_linger_ = kSendsWithoutLinger;
    }
  }

  // Calls the next send takes: all queued, at most max_items, and with
  // several sends allowed at once, its share of all outstanding calls, so
  // that concurrent sends settle to equal sizes and overlap.
  size_t BatchSize() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const size_t outstanding = queue_.size() + in_flight_calls_;
    const size_t share = (outstanding + max_in_flight_ - 1) / max_in_flight_;
    return std::min({queue_.size(), static_cast<size_t>(max_items_),
                     std::max<size_t>(share, 1)});
  }

  // The chosen sender (`own`, the oldest queued call): lingers, takes the
  // oldest queued calls, sends them with mu_ released, and wakes each of
  // them with its answer. Releases mu_.
  void SendAsChosen(Call* own) ABSL_UNLOCK_FUNCTION(mu_) {
    Linger();
    const size_t n = BatchSize();
    std::vector<Call*> calls(queue_.begin(), queue_.begin() + n);
    queue_.erase(queue_.begin(), queue_.begin() + n);
    ++in_flight_;
    in_flight_calls_ += n;
    sender_chosen_ = false;
    Call* next = ChooseSender();  // another send may overlap this one
    mu_.Unlock();
    if (next != nullptr) next->woken.Notify();

    const absl::Time start = absl::Now();
    send_(calls);
    const absl::Duration took = absl::Now() - start;

    mu_.Lock();
    --in_flight_;
    in_flight_calls_ -= n;
    expected_ = calls.size() + queue_.size();
    linger_ = std::min(took, max_linger_);
    next = ChooseSender();
    mu_.Unlock();
    for (Call* call : calls) {
      if (call == own) continue;
      call->role = Role::kAnswered;
      call->woken.Notify();  // `call` may be gone once this returns
    }
    if (next != nullptr) next->woken.Notify();
  }

  // Constant after construction.
  const int max_in_flight_;
  const int max_items_;
  const absl::Duration max_linger_;
  const Send send_;

  mutable absl::Mutex mu_;
  std::deque<Call*> queue_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // sends outstanding
  size_t in_flight_calls_ ABSL_GUARDED_BY(mu_) = 0;  // calls in them
  // A queued caller was chosen to send next and has not taken the queue.
  bool sender_chosen_ ABSL_GUARDED_BY(mu_) = false;
  size_t expected_ ABSL_GUARDED_BY(mu_) = 1;  // calls the next send expects
  // Sends left that go without lingering, after a linger timed out.
  static constexpr int kSendsWithoutLinger = 8;
  int sends_without_linger_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration linger_ ABSL_GUARDED_BY(mu_);  // most it waits for them
};

}  // namespace internal

template <typename Request, typename Reply>
absl::StatusOr<Reply> MetaClient::Invoke(const char* name,
                                         Method<Request, Reply> method,
                                         const Request& request) {
  const absl::Time give_up = absl::Now() + options_.retry_budget;
  absl::Duration backoff = options_.initial_backoff;
  thread_local std::minstd_rand jitter(std::random_device{}());
  for (int attempt = 1;; ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
    Reply reply;
    grpc::Status status = ((*stub_).*method)(&context, request, &reply);
    if (status.ok()) return reply;
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) {
      return FromGrpcStatus(status);
    }
    const absl::Time now = absl::Now();
    if (now + backoff > give_up) {
      return absl::UnavailableError(absl::StrCat(
          name, " to meta at ", options_.address, " (", attempt,
          " attempts): ", status.error_message()));
    }
    // Sleep between backoff/2 and backoff.
    const double fraction =
        0.5 + 0.5 * (static_cast<double>(jitter() % 1000) / 1000.0);
    absl::SleepFor(backoff * fraction);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

namespace {
absl::StatusOr<v1::Inode> InodeOf(absl::StatusOr<v1::InodeReply> reply) {
  if (!reply.ok()) return reply.status();
  return std::move(*reply->mutable_inode());
}

// Hands item i of a batch reply to calls[i]; an error of the whole RPC (or
// a reply of the wrong length) to every call.
template <typename Call>
void Distribute(const char* batch_name, absl::StatusOr<v1::InodeBatchReply> reply,
                const std::vector<Call*>& calls) {
  if (reply.ok() && reply->items_size() != static_cast<int>(calls.size())) {
    reply = absl::InternalError(absl::StrCat(
        batch_name, " to meta: ", reply->items_size(), " answers for ",
        calls.size(), " items"));
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    if (!reply.ok()) {
      calls[i]->result = reply.status();
      continue;
    }
    v1::InodeBatchItem* item = reply->mutable_items(static_cast<int>(i));
    if (item->code() == 0) {
      calls[i]->result = std::move(*item->mutable_reply());
    } else {
      calls[i]->result = absl::Status(
          static_cast<absl::StatusCode>(item->code()), item->message());
    }
  }
}
}  // namespace

template <typename Request, typename BatchRequest>
void MetaClient::SendCalls(const char* name,
                           Method<Request, v1::InodeReply> single,
                           const char* batch_name,
                           Method<BatchRequest, v1::InodeBatchReply> batched,
                           const std::vector<PendingCall<Request>*>& calls) {
  if (calls.size() > 1 && !no_batch_rpcs_.load(std::memory_order_relaxed)) {
    BatchRequest request;
    request.mutable_items()->Reserve(static_cast<int>(calls.size()));
    for (const PendingCall<Request>* call : calls) {
      *request.add_items() = *call->request;
    }
    absl::StatusOr<v1::InodeBatchReply> reply = Invoke(batch_name, batched, request);
    if (reply.ok() || reply.status().code() != absl::StatusCode::kUnimplemented) {
      batch_rpcs_.fetch_add(1, std::memory_order_relaxed);
      batched_calls_.fetch_add(calls.size(), std::memory_order_relaxed);
      Distribute(batch_name, std::move(reply), calls);
      return;
    }
    MEDFS_LOG(INFO) << "meta at " << options_.address << " has no " << batch_name
                    << ": sending single calls";
    no_batch_rpcs_.store(true, std::memory_order_relaxed);
  }
  for (PendingCall<Request>* call : calls) {
    call->result = Invoke(name, single, *call->request);
  }
}

MetaClient::MetaClient(std::shared_ptr<grpc::Channel> channel,
                       MetaClientOptions options)
    : options_(std::move(options)),
      stub_(v1::MetaService::NewStub(std::move(channel))),
      get_attrs_(NewCoalescer("GetAttr", &v1::MetaService::Stub::GetAttr,
                              "GetAttrBatch",
                              &v1::MetaService::Stub::GetAttrBatch)),
      creates_(NewCoalescer("CreateFile", &v1::MetaService::Stub::CreateFile,
                            "CreateFileBatch",
                            &v1::MetaService::Stub::CreateFileBatch)),
      commits_(NewCoalescer("CommitFile", &v1::MetaService::Stub::CommitFile,
                            "CommitFileBatch",
                            &v1::MetaService::Stub::CommitFileBatch)) {}

MetaClient::~MetaClient() = default;

template <typename Request, typename BatchRequest>
std::unique_ptr<internal::CallCoalescer<Request>> MetaClient::NewCoalescer(
    const char* name, Method<Request, v1::InodeReply> single,
    const char* batch_name, Method<BatchRequest, v1::InodeBatchReply> batched) {
  if (options_.max_batches_in_flight <= 0) return nullptr;
  return std::make_unique<Coalescer<Request>>(
      options_.max_batches_in_flight, options_.max_batch_items,
      options_.max_linger, [this, name, single, batch_name,
       batched](const std::vector<PendingCall<Request>*>& calls) {
        SendCalls(name, single, batch_name, batched, calls);
      });
}

MetaClientStats MetaClient::stats() const {
  MetaClientStats stats;
  stats.batch_rpcs = batch_rpcs_.load(std::memory_order_relaxed);
  stats.batched_calls = batched_calls_.load(std::memory_order_relaxed);
  if (get_attrs_ != nullptr) {
    stats.waiting_calls =
        get_attrs_->queued() + creates_->queued() + commits_->queued();
  }
  return stats;
}

absl::StatusOr<v1::Inode> MetaClient::Lookup(const v1::LookupRequest& request) {
  return InodeOf(LookupReply(request));
}

absl::StatusOr<v1::InodeReply> MetaClient::LookupReply(const v1::LookupRequest& request) {
  return Invoke("Lookup", &v1::MetaService::Stub::Lookup, request);
}

absl::StatusOr<v1::Inode> MetaClient::ResolvePath(const v1::ResolvePathRequest& request) {
  return InodeOf(Invoke("ResolvePath", &v1::MetaService::Stub::ResolvePath, request));
}

absl::StatusOr<v1::Inode> MetaClient::GetAttr(const v1::GetAttrRequest& request) {
  return InodeOf(GetAttrReply(request));
}

absl::StatusOr<v1::InodeReply> MetaClient::GetAttrReply(const v1::GetAttrRequest& request) {
  if (get_attrs_ != nullptr) return get_attrs_->Run(request);
  return Invoke("GetAttr", &v1::MetaService::Stub::GetAttr, request);
}

absl::StatusOr<v1::Inode> MetaClient::MkDir(const v1::MkDirRequest& request) {
  return InodeOf(Invoke("MkDir", &v1::MetaService::Stub::MkDir, request));
}

absl::StatusOr<v1::Inode> MetaClient::CreateFile(const v1::CreateFileRequest& request) {
  return InodeOf(CreateFileReply(request));
}

absl::StatusOr<v1::InodeReply> MetaClient::CreateFileReply(
    const v1::CreateFileRequest& request) {
  if (creates_ != nullptr) return creates_->Run(request);
  return Invoke("CreateFile", &v1::MetaService::Stub::CreateFile, request);
}

absl::StatusOr<v1::Inode> MetaClient::CommitFile(const v1::CommitFileRequest& request) {
  if (commits_ != nullptr) return InodeOf(commits_->Run(request));
  return InodeOf(Invoke("CommitFile", &v1::MetaService::Stub::CommitFile, request));
}

absl::StatusOr<v1::Inode> MetaClient::SetAttr(const v1::SetAttrRequest& request) {
  return InodeOf(Invoke("SetAttr", &v1::MetaService::Stub::SetAttr, request));
}

absl::StatusOr<v1::Inode> MetaClient::Symlink(const v1::SymlinkRequest& request) {
  return InodeOf(Invoke("Symlink", &v1::MetaService::Stub::Symlink, request));
}


absl::StatusOr<v1::ReadDirReply> MetaClient::ReadDir(
    const v1::ReadDirRequest& request) {
  return Invoke("ReadDir", &v1::MetaService::Stub::ReadDir, request);
}

absl::Status MetaClient::RmDir(const v1::RemoveRequest& request) {
  return Invoke("RmDir", &v1::MetaService::Stub::RmDir, request).status();
}

absl::Status MetaClient::Unlink(const v1::RemoveRequest& request) {
  return Invoke("Unlink", &v1::MetaService::Stub::Unlink, request).status();
}

absl::Status MetaClient::Rename(const v1::RenameRequest& request) {
  return Invoke("Rename", &v1::MetaService::Stub::Rename, request).status();
}

absl::StatusOr<std::string> MetaClient::ReadLink(
    const v1::ReadLinkRequest& request) {
  ASSIGN_OR_RETURN(
      v1::ReadLinkReply reply,
      Invoke("ReadLink", &v1::MetaService::Stub::ReadLink, request));
  return std::move(*reply.mutable_target());
}

absl::StatusOr<v1::StatFsReply> MetaClient::StatFs() {
  return Invoke("StatFs", &v1::MetaService::Stub::StatFs, v1::Empty());
}

absl::StatusOr<v1::AllocateChunksReply> MetaClient::AllocateChunks(
    const v1::AllocateChunksRequest& request) {
  return Invoke("AllocateChunks", &v1::MetaService::Stub::AllocateChunks,
                request);
}

absl::StatusOr<v1::GetChunkLocationsReply> MetaClient::GetChunkLocations(
    const v1::GetChunkLocationsRequest& request) {
  return Invoke("GetChunkLocations",
                &v1::MetaService::Stub::GetChunkLocations, request);
}

absl::StatusOr<v1::ClusterStatusReply> MetaClient::ClusterStatus() {
  return Invoke("ClusterStatus", &v1::MetaService::Stub::ClusterStatus,
                v1::Empty());
}

absl::StatusOr<v1::ClusterStatusReply> MetaClient::Probe(
    absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  context.set_wait_for_ready(true);
  v1::ClusterStatusReply reply;
  grpc::Status status = stub_->ClusterStatus(&context, v1::Empty(), &reply);
  if (!status.ok()) return FromGrpcStatus(status);
  return reply;
}

}  // namespace medfs::client
