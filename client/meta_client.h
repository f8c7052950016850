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
// Thread safety: every method may be called from any thread.
#pragma once

#include <memory>
#include <string>

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
};

// The gRPC channel arguments medfs uses towards meta: fast reconnects (at
// most max_backoff apart) so a restarted meta is found again quickly.
std::shared_ptr<grpc::Channel> NewMetaChannel(const MetaClientOptions& options);

// grpc::Status -> absl::Status with the same code and message.
absl::Status FromGrpcStatus(const grpc::Status& status);

class MetaClient {
 public:
  MetaClient(std::shared_ptr<grpc::Channel> channel, MetaClientOptions options);

  const std::string& address() const { return options_.address; }

  absl::StatusOr<v1::Inode> Lookup(const v1::LookupRequest& request);
  absl::StatusOr<v1::Inode> ResolvePath(const v1::ResolvePathRequest& request);
  absl::StatusOr<v1::Inode> GetAttr(const v1::GetAttrRequest& request);
  // GetAttr returning the whole reply (with_locations adds chunk replicas).
  absl::StatusOr<v1::InodeReply> GetAttrReply(const v1::GetAttrRequest& request);
  absl::StatusOr<v1::ReadDirReply> ReadDir(const v1::ReadDirRequest& request);
  absl::StatusOr<v1::Inode> MkDir(const v1::MkDirRequest& request);
  absl::Status RmDir(const v1::RemoveRequest& request);
  absl::StatusOr<v1::Inode> CreateFile(const v1::CreateFileRequest& request);
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

  // Constant after construction.
  const MetaClientOptions options_;
  const std::unique_ptr<v1::MetaService::Stub> stub_;
};

}  // namespace medfs::client
