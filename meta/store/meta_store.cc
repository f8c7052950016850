// MetaStore: opening, start-up state, maintenance, stats. The operations
// live in ops/, one file per group.
#include "meta/store/meta_store.h"

#include "common/logging.h"
#include "common/status.h"
#include "meta/store/commit_pipeline.h"
#include "meta/store/id_allocator.h"
#include "meta/store/keys.h"
#include "meta/store/kv_store.h"
#include "meta/store/server_table.h"

namespace medfs::meta {

MetaStore::MetaStore(const MetaStoreOptions& options) : options_(options) {
  if (options_.clock == nullptr) {
    owned_clock_ = std::make_unique<RealClock>();
    clock_ = owned_clock_.get();
  } else {
    clock_ = options_.clock;
  }
  rng_.seed(options_.placement_seed != 0 ? options_.placement_seed
                                         : std::random_device()());
}

absl::StatusOr<std::unique_ptr<MetaStore>> MetaStore::Open(
    const MetaStoreOptions& options) {
  if (options.db_path.empty()) {
    return absl::InvalidArgumentError("opening metadata store: no db_path");
  }
  if (options.default_replication == 0 || options.default_replication > 16) {
    return absl::InvalidArgumentError(absl::StrCat(
        "opening metadata store: default_replication ",
        options.default_replication, " is not in 1..16"));
  }
  if (options.max_chunk_bytes == 0) {
    return absl::InvalidArgumentError(
        "opening metadata store: max_chunk_bytes is 0");
  }
  std::unique_ptr<MetaStore> store(new MetaStore(options));
  RETURN_IF_ERROR(store->Init());
  return store;
}

absl::Status MetaStore::Init() {
  KvStoreOptions kv_options;
  kv_options.path = options_.db_path;
  kv_options.block_cache_bytes = options_.block_cache_bytes;
  ASSIGN_OR_RETURN(kv_, KvStore::Open(kv_options));
  inode_ids_ = std::make_unique<IdAllocator>(
      kv_.get(), std::string(kSystemInodeHighWater), kRootInode + 1,
      options_.id_reservation);
  chunk_ids_ = std::make_unique<IdAllocator>(
      kv_.get(), std::string(kSystemChunkHighWater), 1, options_.id_reservation);
  RETURN_IF_ERROR(inode_ids_->Load());
  RETURN_IF_ERROR(chunk_ids_->Load());
  servers_ = std::make_unique<ServerTable>();
  RETURN_IF_ERROR(CreateRootIfMissing());
  RETURN_IF_ERROR(LoadServersAndChunks());
  pipeline_ = std::make_unique<CommitPipeline>(kv_.get(),
                                               [this] { return NowNs(); });
  if (options_.maintenance_interval > absl::ZeroDuration()) {
    maintenance_ = std::thread([this] { MaintenanceLoop(); });
  }
  return absl::OkStatus();
}

MetaStore::~MetaStore() {
  stop_maintenance_.Notify();
  if (maintenance_.joinable()) maintenance_.join();
  pipeline_.reset();  // commits what is queued
  servers_.reset();
  kv_.reset();
}

// The root directory and the persisted settings, in one synced batch.
absl::Status MetaStore::CreateRootIfMissing() {
  rocksdb::WriteBatch batch;
  ASSIGN_OR_RETURN(auto root, kv_->Get(Cf::kInodes, EncodeId(kRootInode)));
  if (!root) {
    int64_t now = NowNs();
    v1::Inode inode;
    inode.set_id(kRootInode);
    inode.set_type(v1::FILE_TYPE_DIRECTORY);
    inode.set_mode(0755);
    inode.set_nlink(2);
    inode.set_parent(kRootInode);
    inode.set_atime_ns(now);
    inode.set_mtime_ns(now);
    inode.set_ctime_ns(now);
    inode.set_crtime_ns(now);
    batch.Put(kv_->handle(Cf::kInodes), EncodeId(kRootInode),
              inode.SerializeAsString());
    batch.Put(kv_->handle(Cf::kSystem), ToSlice(kSystemInodeCount), EncodeU64(1));
    MEDFS_LOG(INFO) << "new metadata database " << options_.db_path
                    << ": created the root directory";
  }
  // The settings are the options of this run; stored for tools.
  batch.Put(kv_->handle(Cf::kSystem), ToSlice(kSystemDefaultReplication),
            EncodeU64(options_.default_replication));
  batch.Put(kv_->handle(Cf::kSystem), ToSlice(kSystemMaxChunkBytes),
            EncodeU64(options_.max_chunk_bytes));
  return Annotate(kv_->WriteSynced(&batch), "creating the root directory");
}

// Servers into the table; ALLOCATED chunks to the orphan watch list and
// GARBAGE chunks to the deletion queues.
absl::Status MetaStore::LoadServersAndChunks() {
  int64_t now = NowNs();
  rocksdb::ReadOptions read_options;
  auto it = kv_->NewIterator(Cf::kServers, read_options);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    v1::ServerRecord record;
    if (!record.ParseFromArray(it->value().data(), it->value().size())) {
      return absl::DataLossError(absl::StrCat(
          "loading servers: record of server ", DecodeId(it->key().ToString()),
          " does not decode"));
    }
    servers_->Load(std::move(record), now);
  }
  RETURN_IF_ERROR(FromRocksStatus(it->status(), "loading servers"));
  it = kv_->NewIterator(Cf::kChunks, read_options);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    v1::ChunkRecord chunk;
    if (!chunk.ParseFromArray(it->value().data(), it->value().size())) {
      return absl::DataLossError(absl::StrCat(
          "loading chunks: record of chunk ", DecodeId(it->key().ToString()),
          " does not decode"));
    }
    if (chunk.state() == v1::CHUNK_STATE_ALLOCATED) {
      allocated_chunks_[chunk.id()] = chunk.allocated_ns();
    } else if (chunk.state() == v1::CHUNK_STATE_GARBAGE) {
      // When it became garbage is not recorded: a full grace from now.
      servers_->AddGarbage(chunk.id(), {chunk.replicas().begin(), chunk.replicas().end()},
                           GarbageDeletableAtNs());
    }
  }
  return FromRocksStatus(it->status(), "loading chunks");
}

void MetaStore::MaintenanceLoop() {
  while (!stop_maintenance_.WaitForNotificationWithTimeout(
      options_.maintenance_interval)) {
    absl::Status status = RunMaintenance();
    if (!status.ok()) MEDFS_LOG(WARNING) << "metadata maintenance: " << status;
  }
}

absl::Status MetaStore::RunMaintenance() {
  int64_t now = NowNs();
  for (uint64_t id : servers_->MarkSilentServersDead(
           now, absl::ToInt64Nanoseconds(options_.dead_server_after))) {
    MEDFS_LOG(WARNING) << "server " << id << " is DEAD: no heartbeat for "
                       << options_.dead_server_after;
  }
  RETURN_IF_ERROR(pipeline_->Run(
      [&](Txn& txn) { return CollectOrphansLogic(txn); }));
  std::vector<uint64_t> handed_out = servers_->TakeFullyHandedOut();
  if (handed_out.empty()) return absl::OkStatus();
  return pipeline_->Run(
      [&](Txn& txn) { return DropGarbageLogic(txn, handed_out); });
}

MetaStoreStats MetaStore::stats() const {
  MetaStoreStats stats;
  stats.write_groups = pipeline_->write_groups();
  stats.committed_mutations = pipeline_->committed_mutations();
  stats.synced_writes = kv_->synced_writes();
  auto inodes = kv_->Get(Cf::kSystem, kSystemInodeCount);
  if (inodes.ok() && *inodes) stats.inode_count = DecodeU64(**inodes);
  auto chunks = kv_->Get(Cf::kSystem, kSystemChunkCount);
  if (chunks.ok() && *chunks) stats.chunk_count = DecodeU64(**chunks);
  stats.pending_garbage = servers_->PendingGarbage();
  return stats;
}

}  // namespace medfs::meta
