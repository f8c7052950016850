// The libfabric implementation behind Endpoint (internal).
//
// EndpointCore owns every libfabric object of one endpoint and its progress
// thread. It is shared (std::shared_ptr) by the public Endpoint handle and
// by every IncomingRequest still held by a handler, so a request replied to
// from a pool after the Endpoint was destroyed fails cleanly with
// kCancelled instead of touching freed memory. The Endpoint handle's
// destructor calls Shutdown(); the libfabric objects close when the last
// owner lets go, in reverse order of opening.
//
// Operation contexts: every posted operation passes a struct whose first
// member is a `fi_context2` (FI_CONTEXT/FI_CONTEXT2 modes). Receive and
// send contexts live in fixed arrays (recognised by address range); RMA
// contexts are heap objects kept in rma_in_flight_ until completion, so a
// waiter that gives up never leaves the provider a dangling context.
//
// Lock order: mu_ before peers_mu_; neither is held while calling user
// callbacks or libfabric post functions.
#pragma once

#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/fabric/endpoint.h"
#include "common/fabric/fi_util.h"
#include "common/fabric/mapped_memory.h"
#include "common/fabric/registration_cache.h"
#include "common/fabric/wire.h"

namespace medfs::fabric::internal {

enum class OpKind : uint8_t { kRecv, kSend, kRma };

struct RecvOp {
  fi_context2 context;  // first member: libfabric's per-operation scratch
  char* buffer = nullptr;
};

struct SendOp {
  fi_context2 context;
  char* buffer = nullptr;
  size_t length = 0;
  PeerId peer = 0;
  uint32_t call_id = 0;  // the request's call, 0 for replies
};

enum class RmaKind : uint8_t { kWrite, kWriteData, kRead };

struct RmaOp {
  fi_context2 context;
  RmaKind kind = RmaKind::kWrite;
  PeerId peer = 0;
  void* buffer = nullptr;
  size_t length = 0;
  void* descriptor = nullptr;
  RemoteBuffer remote;
  uint32_t data = 0;  // remote CQ data (kWriteData)
  absl::Status status;  // written before done is notified
  absl::Notification done;
  // Set for RmaAsync: runs instead of notifying `done`.
  absl::AnyInvocable<void(absl::Status)> on_done;
};

// A request bytes waiting for a free send buffer.
struct QueuedSend {
  PeerId peer = 0;
  uint32_t call_id = 0;
  std::string bytes;
};

class EndpointCore;

// The IncomingRequest handed to request handlers (endpoint_core_ops.cc).
// Destroying it without a Reply* sends an error reply, so the caller fails
// fast instead of waiting for its timeout.
std::unique_ptr<IncomingRequest> MakeIncomingRequest(
    std::shared_ptr<EndpointCore> core, PeerId peer, uint32_t call_id,
    std::string payload);

class EndpointCore : public std::enable_shared_from_this<EndpointCore> {
 public:
  static absl::StatusOr<std::shared_ptr<EndpointCore>> Open(
      const EndpointOptions& options);
  explicit EndpointCore(const EndpointOptions& options);
  ~EndpointCore();
  EndpointCore(const EndpointCore&) = delete;
  EndpointCore& operator=(const EndpointCore&) = delete;

  // Stops the progress thread, fails pending calls (kCancelled) and blocked
  // RMA waiters. Idempotent.
  void Shutdown();

  const std::string& address() const { return address_; }
  std::string DescribeAddress() const;
  // Human-readable form of a raw fi_getname() address.
  std::string DescribeRaw(absl::string_view raw) const;
  const std::string& provider() const { return provider_name_; }
  bool supports_hmem() const { return hmem_; }
  const std::string& provider_facts() const { return provider_facts_; }
  EndpointStats stats() const;

  absl::StatusOr<PeerId> Connect(absl::string_view raw_address);
  RegistrationCache& registrations() { return *registrations_; }
  void SetRequestHandler(RequestHandler handler);

  void Call(PeerId peer, absl::string_view request, absl::Duration timeout,
            Endpoint::ReplyCallback done);
  // Sends a reply (or error reply) for `call_id`; never blocks.
  absl::Status SendReply(PeerId peer, uint32_t call_id, wire::MessageKind kind,
                         absl::string_view payload);
  // Blocking RMA; `data` is used only for kWriteData.
  absl::Status Rma(RmaKind kind, PeerId peer, const MemoryRegion& local,
                   void* buffer, size_t length, const RemoteBuffer& remote,
                   uint32_t data);
  // Non-blocking RMA, allowed on the progress thread: `on_done` runs once
  // with the outcome, on the progress thread when the completion arrives,
  // or on this thread when the RMA cannot be started. No rma_timeout: the
  // provider completes or fails every posted operation, and shutdown fails
  // the rest with kCancelled.
  void RmaAsync(RmaKind kind, PeerId peer, const MemoryRegion& local,
                void* buffer, size_t length, const RemoteBuffer& remote,
                uint32_t data, absl::AnyInvocable<void(absl::Status)> on_done);
  std::string PeerName(PeerId peer) const;
  bool OnProgressThread() const;

 private:
  // Setup (endpoint_core_open.cc).
  absl::Status OpenFabric();
  absl::Status OpenCompletionQueue();
  absl::Status OpenEndpoint();
  absl::Status SetUpBuffers();
  void RecordProviderFacts();

  // Progress thread (endpoint_core.cc).
  void ProgressLoop();
  ssize_t ReadCompletions(fi_cq_data_entry* entries, size_t count);
  void HandleCompletion(const fi_cq_data_entry& entry);
  void HandleErrorEntry();
  void HandleMessage(RecvOp* op, size_t length);
  void HandleRequest(uint32_t call_id, const std::string& address,
                     std::string payload);
  void DropMalformed(absl::string_view bytes, const absl::Status& why);
  void PostRecv(RecvOp* op);
  void RetryPosts();
  void ExpireCalls(absl::Time now);
  void WakeProgressThread();
  RecvOp* AsRecvOp(void* context);
  SendOp* AsSendOp(void* context);

  // Calls, sends and RMA (endpoint_core_ops.cc).
  absl::Status SendMessage(PeerId peer, const wire::Message& message);
  void PostSend(SendOp* op);
  void FinishSend(SendOp* op, const absl::Status& status);
  void CompleteCall(uint32_t call_id, absl::StatusOr<std::string> result);
  // Validates, records and posts `op` (errors without the RMA's name).
  absl::Status StartRma(const std::shared_ptr<RmaOp>& op,
                        const MemoryRegion& local);
  // "RMA write of N bytes with <peer>", for errors.
  std::string RmaWhat(RmaKind kind, size_t length, PeerId peer) const;
  void PostRma(RmaOp* op);
  void FinishRma(RmaOp* op, const absl::Status& status);
  uint32_t NextCallId() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  struct PendingCall {
    PeerId peer = 0;
    absl::Time deadline;
    absl::Duration timeout;
    Endpoint::ReplyCallback done;
  };

  // Constant after Open.
  const EndpointOptions options_;
  InfoPtr info_;
  std::string provider_name_;
  std::string provider_facts_;
  bool hmem_ = false;
  // Cleared (once, by Open or the progress thread) when sread is unusable.
  std::atomic<bool> use_sread_{true};
  size_t max_rma_bytes_ = 0;
  std::string address_;
  // Declared in opening order; closed in reverse (see ~EndpointCore).
  FidPtr<fid_fabric> fabric_;
  FidPtr<fid_domain> domain_;
  FidPtr<fid_cq> cq_;
  FidPtr<fid_av> av_;
  FidPtr<fid_ep> ep_;
  MappedMemory recv_memory_;
  MappedMemory send_memory_;
  std::unique_ptr<RegistrationCache> registrations_;
  const MemoryRegion* recv_region_ = nullptr;
  const MemoryRegion* send_region_ = nullptr;
  std::vector<RecvOp> recv_ops_;
  std::vector<SendOp> send_ops_;
  std::thread progress_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> retries_pending_{false};
  // Progress thread only: current idle sleep when polling without sread.
  static constexpr absl::Duration kMinPollSleep = absl::Microseconds(20);
  absl::Duration poll_sleep_ = kMinPollSleep;

  mutable absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<RequestHandler> handler_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint32_t, PendingCall> pending_calls_
      ABSL_GUARDED_BY(mu_);
  uint32_t next_call_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<SendOp*> free_sends_ ABSL_GUARDED_BY(mu_);
  std::deque<QueuedSend> queued_sends_ ABSL_GUARDED_BY(mu_);
  std::vector<SendOp*> retry_sends_ ABSL_GUARDED_BY(mu_);
  std::vector<RecvOp*> retry_recvs_ ABSL_GUARDED_BY(mu_);
  std::vector<RmaOp*> retry_rmas_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<RmaOp*, std::shared_ptr<RmaOp>> rma_in_flight_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> warned_senders_ ABSL_GUARDED_BY(mu_);
  EndpointStats stats_ ABSL_GUARDED_BY(mu_);

  mutable absl::Mutex peers_mu_ ABSL_ACQUIRED_AFTER(mu_);
  absl::flat_hash_map<std::string, PeerId> peers_by_address_
      ABSL_GUARDED_BY(peers_mu_);
  absl::flat_hash_map<PeerId, std::string> peer_names_
      ABSL_GUARDED_BY(peers_mu_);
};

}  // namespace medfs::fabric::internal
