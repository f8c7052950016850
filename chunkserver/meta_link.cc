#include "chunkserver/meta_link.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status.h"
#include "grpcpp/grpcpp.h"

namespace medfs::chunkserver {
namespace {

absl::Status FromGrpc(const grpc::Status& status, absl::string_view what) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

}  // namespace

MetaLink::MetaLink(MetaLinkOptions options, ChunkStore* store,
                   std::function<void(uint64_t)> on_server_id)
    : options_(std::move(options)),
      store_(store),
      on_server_id_(std::move(on_server_id)),
      stub_(v1::MetaService::NewStub(grpc::CreateChannel(
          options_.meta_address, grpc::InsecureChannelCredentials()))) {}

MetaLink::~MetaLink() { Stop(); }

void MetaLink::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
}

bool MetaLink::WaitForCancel(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&cancelled_), timeout);
}

void MetaLink::Stop() {
  Cancel();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
}

uint64_t MetaLink::server_id() {
  absl::MutexLock lock(&mu_);
  return server_id_;
}

absl::StatusOr<uint64_t> MetaLink::RegisterOnce() {
  v1::RegisterServerRequest request;
  *request.mutable_server() = options_.record;
  absl::StatusOr<StoreUsage> usage = store_->Usage();
  if (usage.ok()) {
    request.mutable_server()->set_capacity_bytes(usage->capacity_bytes);
    request.mutable_server()->set_free_bytes(usage->free_bytes);
    request.mutable_server()->set_chunk_count(usage->chunk_count);
  }
  v1::RegisterServerReply reply;
  grpc::ClientContext context;
  // Wait for the channel to connect (up to the deadline) rather than fail
  // fast while gRPC backs off reconnecting.
  context.set_wait_for_ready(true);
  context.set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
  RETURN_IF_ERROR(FromGrpc(stub_->RegisterServer(&context, request, &reply),
                           absl::StrCat("registering with meta at ",
                                        options_.meta_address)));
  {
    absl::MutexLock lock(&mu_);
    server_id_ = reply.server_id();
    if (reply.heartbeat_interval_ms() > 0) {
      interval_ = absl::Milliseconds(reply.heartbeat_interval_ms());
    }
  }
  if (on_server_id_) on_server_id_(reply.server_id());
  return reply.server_id();
}

absl::StatusOr<uint64_t> MetaLink::Register() {
  absl::Duration backoff = std::min(absl::Milliseconds(100), options_.max_backoff);
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<uint64_t> id = RegisterOnce();
    if (id.ok()) return id;
    if (id.status().code() == absl::StatusCode::kInvalidArgument) return id;
    MEDFS_LOG(WARNING) << id.status().message() << " (attempt " << attempt
                       << ", retrying in " << absl::FormatDuration(backoff)
                       << ")";
    if (WaitForCancel(backoff)) {
      return absl::CancelledError("registering with meta: stopped");
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

void MetaLink::StartHeartbeats() {
  heartbeat_thread_ = std::thread([this] { HeartbeatLoop(); });
}

void MetaLink::HeartbeatLoop() {
  bool failing = false;
  while (true) {
    absl::Duration interval;
    {
      absl::MutexLock lock(&mu_);
      interval = interval_;
    }
    if (WaitForCancel(interval)) return;
    absl::Status status = HeartbeatOnce();
    if (!status.ok() && !failing) {
      MEDFS_LOG(WARNING) << status.message() << " (will keep trying)";
    } else if (status.ok() && failing) {
      MEDFS_LOG(INFO) << "heartbeats to meta at " << options_.meta_address
                      << " succeed again";
    }
    failing = !status.ok();
    store_->AbortIdleWrites(options_.abandon_idle_writes);
  }
}

absl::Status MetaLink::HeartbeatOnce() {
  ASSIGN_OR_RETURN(StoreUsage usage, store_->Usage());
  v1::HeartbeatRequest request;
  request.set_server_id(server_id());
  request.set_capacity_bytes(usage.capacity_bytes);
  request.set_free_bytes(usage.free_bytes);
  request.set_chunk_count(usage.chunk_count);
  v1::HeartbeatReply reply;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
  RETURN_IF_ERROR(FromGrpc(
      stub_->Heartbeat(&context, request, &reply),
      absl::StrCat("heartbeat to meta at ", options_.meta_address)));
  for (uint64_t chunk_id : reply.delete_chunks()) {
    absl::Status deleted = store_->Delete(chunk_id);
    if (!deleted.ok() && deleted.code() != absl::StatusCode::kNotFound) {
      MEDFS_LOG(WARNING) << "deleting chunk " << chunk_id
                         << " as meta asked: " << deleted.message();
    }
  }
  if (reply.reregister()) {
    MEDFS_LOG(WARNING) << "meta does not know server " << server_id()
                       << "; registering again";
    ASSIGN_OR_RETURN(uint64_t id, RegisterOnce());
    MEDFS_LOG(INFO) << "registered again as server " << id;
  }
  return absl::OkStatus();
}

}  // namespace medfs::chunkserver
