// MetaClient: the client side of medfs-meta's gRPC MetaService.
//
// Each call gets a deadline of `call_timeout`. A call that fails with
// UNAVAILABLE (meta restarting, connection refused) is retried with
// exponential backoff (from `initial_backoff`, doubling, at most
// `max_backoff`, with jitter) until `retry_budget` has passed since the
// first attempt; then the last UNAVAILABLE is returned, annotated with the
// method and the meta address. Every other outcome is returned at once as
// an absl::Status with gRPC's code and message unchanged.
//
// Retried mutations: when meta applied a mutation but its reply was lost
// (meta died after committing), the retry can answer kAlreadyExists (MkDir,
// CreateFile with exclusive, Symlink) or kNotFound (Unlink, RmDir, Rename)
// although the mutation took effect. Callers for which that matters (the
// CLI's mkdir -p, rm) treat those codes accordingly.
//
// Coalescing. GetAttr (and GetAttrReply), CreateFile and CommitFile calls
// made while `max_batches_in_flight` RPCs of their kind are already
// outstanding wait, and go together as ONE batched RPC (GetAttrBatch,
// CreateFileBatch, CommitFileBatch in medfs.proto) as soon as one of those
// returns: up to `max_batch_items` per RPC, in arrival order. A lone call
// is sent at once as its single RPC. When the last RPC answered several
// callers, the next sender waits briefly (at most `max_linger`) for them to
// come back, so a closed loop of callers keeps sharing one RPC; callers
// with many requests outstanding (FUSE threads, ingest workers) share the
// per-RPC cost. Each caller gets exactly the outcome its single call would
// have had: meta answers every item with its own code and message, and a
// mutation item is durable before it is acknowledged. An error of the batch
// RPC itself (UNAVAILABLE after the retry budget, DEADLINE_EXCEEDED) is the
// outcome of each of its items. Against a meta without the batch RPCs
// (UNIMPLEMENTED) the client sends single calls from then on.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/proto/medfs.grpc.pb.h"
#include "common/proto/medfs.pb.h"
#include "grpcpp/channel.h"

namespace medfs::client {

struct MetaClientOptions {
  // host:port of medfs-meta (used for the channel and in error messages).
  std::string address = "127.0.0.1:9400";
  // Deadline of one attempt.
  absl::Duration call_timeout = absl::Seconds(10);
  // Total time spent retrying UNAVAILABLE before giving up; 0: no retries.
  absl::Duration retry_budget = absl::Seconds(30);
  // Backoff between retries: first wait and cap.
  absl::Duration initial_backoff = absl::Milliseconds(20);
  absl::Duration max_backoff = absl::Seconds(1);
  // Coalescing (see above): batched RPCs of one kind outstanding at once
  // before further calls of that kind wait to be batched; 0: no
  // coalescing, every call is its own RPC. Default 1.
  int max_batches_in_flight = 1;
  // Most calls in one batched RPC (meta takes at most 1024). Default 128.
  int max_batch_items = 128;
  // Longest a sender waits for the callers its last RPC answered to come
  // back with their next call (only while it expects them; at most the
  // last RPC's duration); 0: never waits. Default 1 ms.
  absl::Duration max_linger = absl::Milliseconds(1);
};

// Counters of one MetaClient, for tests and benchmarks.
struct MetaClientStats {
  uint64_t batch_rpcs = 0;     // batched RPCs sent (2 or more items)
  uint64_t batched_calls = 0;  // calls answered through them
  uint64_t waiting_calls = 0;  // calls waiting for a batch right now
};

namespace internal {
template <typename Request>
struct PendingCall;
template <typename Request>
class CallCoalescer;
}  // namespace internal

// The gRPC channel arguments medfs uses towards meta: fast reconnects (at
// most max_backoff apart) so a restarted meta is found again quickly.
std::shared_ptr<grpc::Channel> NewMetaChannel(const MetaClientOptions& options);

// grpc::Status -> absl::Status with the same code and message.
absl::Status FromGrpcStatus(const grpc::Status& status);

class MetaClient {
 public:
  MetaClient(std::shared_ptr<grpc::Channel> channel, MetaClientOptions options);
  ~MetaClient();

  MetaClientStats stats() const;

  const std::string& address() const { return options_.address; }

  absl::StatusOr<v1::Inode> Lookup(const v1::LookupRequest& request);
  // Lookup returning the whole reply (extents_up_to adds extents and replicas).
  absl::StatusOr<v1::InodeReply> LookupReply(const v1::LookupRequest& request);
  absl::StatusOr<v1::Inode> ResolvePath(const v1::ResolvePathRequest& request);
  absl::StatusOr<v1::Inode> GetAttr(const v1::GetAttrRequest& request);
  // GetAttr returning the whole reply (with_locations adds chunk replicas).
  absl::StatusOr<v1::InodeReply> GetAttrReply(const v1::GetAttrRequest& request);
  absl::StatusOr<v1::ReadDirReply> ReadDir(const v1::ReadDirRequest& request);
  absl::StatusOr<v1::Inode> MkDir(const v1::MkDirRequest& request);
  absl::Status RmDir(const v1::RemoveRequest& request);
  absl::StatusOr<v1::Inode> CreateFile(const v1::CreateFileRequest& request);
  // CreateFile returning the whole reply (with the parent's new attributes).
  absl::StatusOr<v1::InodeReply> CreateFileReply(const v1::CreateFileRequest& request);
  absl::StatusOr<v1::Inode> CommitFile(const v1::CommitFileRequest& request);
  absl::Status Unlink(const v1::RemoveRequest& request);
  absl::Status Rename(const v1::RenameRequest& request);
  absl::StatusOr<v1::Inode> SetAttr(const v1::SetAttrRequest& request);
  absl::StatusOr<v1::Inode> Symlink(const v1::SymlinkRequest& request);
  absl::StatusOr<std::string> ReadLink(const v1::ReadLinkRequest& request);
  absl::StatusOr<v1::StatFsReply> StatFs();
  absl::StatusOr<v1::AllocateChunksReply> AllocateChunks(
      const v1::AllocateChunksRequest& request);
  absl::StatusOr<v1::GetChunkLocationsReply> GetChunkLocations(
      const v1::GetChunkLocationsRequest& request);
  absl::StatusOr<v1::ClusterStatusReply> ClusterStatus();

  // One ClusterStatus attempt that waits up to `timeout` for the channel to
  // connect (used by Client::Connect).
  absl::StatusOr<v1::ClusterStatusReply> Probe(absl::Duration timeout);

 private:
  template <typename Request, typename Reply>
  using Method = grpc::Status (v1::MetaService::Stub::*)(grpc::ClientContext*,
                                                         const Request&,
                                                         Reply*);

  // Runs one RPC with deadline and UNAVAILABLE retries.
  template <typename Request, typename Reply>
  absl::StatusOr<Reply> Invoke(const char* name, Method<Request, Reply> method,
                               const Request& request);

  template <typename Request>
  using Coalescer = internal::CallCoalescer<Request>;
  template <typename Request>
  using PendingCall = internal::PendingCall<Request>;

  // The coalescer of one call kind; null when coalescing is off.
  template <typename Request, typename BatchRequest>
  std::unique_ptr<Coalescer<Request>> NewCoalescer(
      const char* name, Method<Request, v1::InodeReply> single,
      const char* batch_name, Method<BatchRequest, v1::InodeBatchReply> batched);

  // Sends `calls` (taken from a coalescer) as one batch RPC, or as single
  // calls when there is one or meta lacks the batch RPC; fills each result.
  template <typename Request, typename BatchRequest>
  void SendCalls(const char* name, Method<Request, v1::InodeReply> single,
                 const char* batch_name,
                 Method<BatchRequest, v1::InodeBatchReply> batched,
                 const std::vector<PendingCall<Request>*>& calls);

  // Constant after construction.
  const MetaClientOptions options_;
  const std::unique_ptr<v1::MetaService::Stub> stub_;
  const std::unique_ptr<Coalescer<v1::GetAttrRequest>> get_attrs_;
  const std::unique_ptr<Coalescer<v1::CreateFileRequest>> creates_;
  const std::unique_ptr<Coalescer<v1::CommitFileRequest>> commits_;

  // Set once meta answered a batch RPC with UNIMPLEMENTED.
  std::atomic<bool> no_batch_rpcs_{false};
  std::atomic<uint64_t> batch_rpcs_{0};
  std::atomic<uint64_t> batched_calls_{0};
};

}  // namespace medfs::client
