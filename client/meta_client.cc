#include "client/meta_client.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
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

MetaClient::MetaClient(std::shared_ptr<grpc::Channel> channel,
                       MetaClientOptions options)
    : options_(std::move(options)),
      stub_(v1::MetaService::NewStub(std::move(channel))) {}

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
}  // namespace

absl::StatusOr<v1::Inode> MetaClient::Lookup(const v1::LookupRequest& request) {
  return InodeOf(Invoke("Lookup", &v1::MetaService::Stub::Lookup, request));
}

absl::StatusOr<v1::Inode> MetaClient::ResolvePath(const v1::ResolvePathRequest& request) {
  return InodeOf(Invoke("ResolvePath", &v1::MetaService::Stub::ResolvePath, request));
}

absl::StatusOr<v1::Inode> MetaClient::GetAttr(const v1::GetAttrRequest& request) {
  return InodeOf(Invoke("GetAttr", &v1::MetaService::Stub::GetAttr, request));
}

absl::StatusOr<v1::InodeReply> MetaClient::GetAttrReply(const v1::GetAttrRequest& request) {
  return Invoke("GetAttr", &v1::MetaService::Stub::GetAttr, request);
}

absl::StatusOr<v1::Inode> MetaClient::MkDir(const v1::MkDirRequest& request) {
  return InodeOf(Invoke("MkDir", &v1::MetaService::Stub::MkDir, request));
}

absl::StatusOr<v1::Inode> MetaClient::CreateFile(const v1::CreateFileRequest& request) {
  return InodeOf(Invoke("CreateFile", &v1::MetaService::Stub::CreateFile, request));
}

absl::StatusOr<v1::Inode> MetaClient::CommitFile(const v1::CommitFileRequest& request) {
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
