// MetaLink: the chunkserver's control-plane conversation with medfs-meta
// (gRPC MetaService, common/proto/medfs.proto).
//
//  - Register(): RegisterServer with this server's record, retried with
//    exponential backoff (logging each failure) until meta answers or
//    Stop() is called. Meta keeps the id stable across restarts by uuid.
//  - A heartbeat thread (StartHeartbeats) every interval (the reply's
//    heartbeat_interval_ms, default 1 s) reports capacity, free bytes and
//    chunk count; deletes the chunks the reply lists; registers again when
//    the reply says reregister; and abandons chunks whose writer went silent.
//
// Thread safety: thread safe. The store must outlive the link.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "chunkserver/chunk_store.h"
#include "common/proto/medfs.grpc.pb.h"

namespace medfs::chunkserver {

struct MetaLinkOptions {
  // host:port of medfs-meta. Required.
  std::string meta_address;
  // This server's record (uuid, host, fabric address and provider,
  // data_endpoint, failure_domain, metrics_endpoint); id is ignored.
  v1::ServerRecord record;
  // Deadline of each RPC (default 5 s).
  absl::Duration rpc_timeout = absl::Seconds(5);
  // Backoff between registration attempts: starts at 100 ms, doubles, at
  // most this (default 5 s).
  absl::Duration max_backoff = absl::Seconds(5);
  // Unsealed chunks with no piece for this long are abandoned (default 10 min).
  absl::Duration abandon_idle_writes = absl::Minutes(10);
};

class MetaLink {
 public:
  // `on_server_id` is called with the id after every successful
  // registration (from the calling or the heartbeat thread).
  MetaLink(MetaLinkOptions options, ChunkStore* store,
           std::function<void(uint64_t)> on_server_id);
  ~MetaLink();  // Stop()

  // Registers, retrying until meta answers. Returns the server id;
  // kCancelled when Stop() was called first; kInvalidArgument (not retried)
  // when meta rejects the record.
  absl::StatusOr<uint64_t> Register();
  // Starts the heartbeat thread. REQUIRES: Register() succeeded.
  void StartHeartbeats();
  // Makes Register() give up and the heartbeat thread end soon; does not
  // wait. Safe from any thread (e.g. a signal-waiting one). Idempotent.
  void Cancel();
  // Cancel(), then joins the heartbeat thread. Idempotent.
  void Stop();

  uint64_t server_id();

 private:
  absl::StatusOr<uint64_t> RegisterOnce();
  void HeartbeatLoop();
  absl::Status HeartbeatOnce();

  // Constant after construction.
  const MetaLinkOptions options_;
  ChunkStore* const store_;
  const std::function<void(uint64_t)> on_server_id_;
  std::unique_ptr<v1::MetaService::Stub> stub_;

  // Waits up to `timeout` for Cancel(); true when cancelled.
  bool WaitForCancel(absl::Duration timeout);

  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t server_id_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration interval_ ABSL_GUARDED_BY(mu_) = absl::Seconds(1);
  std::thread heartbeat_thread_;
};

}  // namespace medfs::chunkserver
