// Cluster membership: RegisterServer, Heartbeat, ClusterStatus.
#include "common/logging.h"
#include "common/status.h"
#include "meta/store/commit_pipeline.h"
#include "meta/store/keys.h"
#include "meta/store/kv_store.h"
#include "meta/store/meta_store.h"
#include "meta/store/mutate.h"
#include "meta/store/server_table.h"

namespace medfs::meta {

absl::StatusOr<v1::RegisterServerReply> MetaStore::RegisterServer(
    const v1::ServerRecord& server) {
  v1::RegisterServerReply out;
  RETURN_IF_ERROR(pipeline_->Run(
      [&](Txn& txn) { return RegisterServerLogic(txn, server, &out); }));
  return out;
}

void MetaStore::RegisterServerAsync(const v1::ServerRecord& server,
                                    Callback<v1::RegisterServerReply> done) {
  Mutate<v1::RegisterServerReply>(
      [&](Txn& txn, v1::RegisterServerReply* out) {
        return RegisterServerLogic(txn, server, out);
      },
      std::move(done));
}

absl::Status MetaStore::RegisterServerLogic(Txn& txn,
                                            const v1::ServerRecord& server,
                                            v1::RegisterServerReply* out) {
  if (server.uuid().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "registering server at ", server.data_endpoint(), ": empty uuid"));
  }
  v1::ServerRecord record = server;
  std::optional<uint64_t> known = servers_->FindByUuid(server.uuid());
  if (known) {
    record.set_id(*known);
    std::optional<v1::ServerRecord> old = servers_->Find(*known);
    record.set_registered_ns(old ? old->registered_ns() : txn.now_ns());
  } else {
    record.set_id(servers_->UnusedId());
    record.set_registered_ns(txn.now_ns());
  }
  record.set_state(v1::SERVER_STATE_UP);
  record.set_last_heartbeat_ns(txn.now_ns());
  txn.PutServer(record);
  // The table learns the server now (under the mutation mutex, so the next
  // registration sees the id taken); nobody knows the id before the reply.
  txn.OnSuccess([this, record] {
    servers_->Upsert(record);
    MEDFS_LOG(INFO) << "server " << record.id() << " (" << record.uuid()
                    << ", " << record.data_endpoint() << ", domain \""
                    << record.failure_domain() << "\") registered";
  });
  out->set_server_id(record.id());
  out->set_heartbeat_interval_ms(
      absl::ToInt64Milliseconds(options_.heartbeat_interval));
  return absl::OkStatus();
}

absl::StatusOr<v1::HeartbeatReply> MetaStore::Heartbeat(
    const v1::HeartbeatRequest& request) {
  v1::HeartbeatReply reply;
  std::vector<uint64_t> deletes;
  bool known = servers_->Heartbeat(request, NowNs(),
                                   options_.max_deletes_per_heartbeat, &deletes);
  if (!known) {
    reply.set_reregister(true);
    return reply;
  }
  reply.mutable_delete_chunks()->Add(deletes.begin(), deletes.end());
  return reply;
}

absl::StatusOr<v1::ClusterStatusReply> MetaStore::ClusterStatus() {
  v1::ClusterStatusReply reply;
  for (v1::ServerRecord& server : servers_->AllServers()) {
    *reply.add_servers() = std::move(server);
  }
  ServerTable::Totals totals = servers_->UpTotals();
  reply.set_capacity_bytes(totals.capacity_bytes);
  reply.set_free_bytes(totals.free_bytes);
  ASSIGN_OR_RETURN(auto chunks, kv_->Get(Cf::kSystem, kSystemChunkCount));
  ASSIGN_OR_RETURN(auto inodes, kv_->Get(Cf::kSystem, kSystemInodeCount));
  reply.set_chunk_count(chunks ? DecodeU64(*chunks) : 0);
  reply.set_inode_count(inodes ? DecodeU64(*inodes) : 0);
  reply.set_default_replication(options_.default_replication);
  reply.set_max_chunk_bytes(options_.max_chunk_bytes);
  return reply;
}

}  // namespace medfs::meta
