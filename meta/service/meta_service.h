// MetaServiceImpl: the gRPC adaptor of the metadata server (gRPC callback
// API). It unpacks each request, calls MetaStore, and maps absl::Status to
// grpc::Status (grpc_status.h); no logic of its own.
//
// Reads run inline on gRPC's callback threads. Mutations use the store's
// ...Async forms: the handler returns at once and the reply is finished by
// the store's committer once the mutation is durable, so no thread is
// parked per in-flight mutation and any number of them share one fsync.
//
// Thread safety: gRPC calls the handlers from many threads at once; the
// store serializes what needs it.
#pragma once

#include "common/proto/medfs.grpc.pb.h"
#include "meta/store/meta_store.h"

namespace medfs::meta {

class MetaServiceImpl final : public v1::MetaService::CallbackService {
 public:
  // `store` must outlive the service.
  explicit MetaServiceImpl(MetaStore* store) : store_(store) {}

  using Ctx = grpc::CallbackServerContext;
  using Reactor = grpc::ServerUnaryReactor;
  Reactor* Lookup(Ctx*, const v1::LookupRequest*, v1::InodeReply*) override;
  Reactor* ResolvePath(Ctx*, const v1::ResolvePathRequest*,
                       v1::InodeReply*) override;
  Reactor* GetAttr(Ctx*, const v1::GetAttrRequest*, v1::InodeReply*) override;
  Reactor* ReadDir(Ctx*, const v1::ReadDirRequest*, v1::ReadDirReply*) override;
  Reactor* MkDir(Ctx*, const v1::MkDirRequest*, v1::InodeReply*) override;
  Reactor* RmDir(Ctx*, const v1::RemoveRequest*, v1::Empty*) override;
  Reactor* CreateFile(Ctx*, const v1::CreateFileRequest*,
                      v1::InodeReply*) override;
  Reactor* CommitFile(Ctx*, const v1::CommitFileRequest*,
                      v1::InodeReply*) override;
  Reactor* Unlink(Ctx*, const v1::RemoveRequest*, v1::Empty*) override;
  Reactor* Rename(Ctx*, const v1::RenameRequest*, v1::Empty*) override;
  Reactor* SetAttr(Ctx*, const v1::SetAttrRequest*, v1::InodeReply*) override;
  Reactor* Symlink(Ctx*, const v1::SymlinkRequest*, v1::InodeReply*) override;
  Reactor* ReadLink(Ctx*, const v1::ReadLinkRequest*,
                    v1::ReadLinkReply*) override;
  Reactor* StatFs(Ctx*, const v1::Empty*, v1::StatFsReply*) override;
  Reactor* AllocateChunks(Ctx*, const v1::AllocateChunksRequest*,
                          v1::AllocateChunksReply*) override;
  Reactor* GetChunkLocations(Ctx*, const v1::GetChunkLocationsRequest*,
                             v1::GetChunkLocationsReply*) override;
  Reactor* RegisterServer(Ctx*, const v1::RegisterServerRequest*,
                          v1::RegisterServerReply*) override;
  Reactor* Heartbeat(Ctx*, const v1::HeartbeatRequest*,
                     v1::HeartbeatReply*) override;
  Reactor* ClusterStatus(Ctx*, const v1::Empty*,
                         v1::ClusterStatusReply*) override;
  // Batches (medfs.proto, GetAttrBatchRequest): items run in order, each
  // as its single call; a mutation batch is answered once all its items
  // are durable (they share group commits). INVALID_ARGUMENT for more than
  // kMaxBatchItems items.
  Reactor* GetAttrBatch(Ctx*, const v1::GetAttrBatchRequest*,
                        v1::InodeBatchReply*) override;
  Reactor* CreateFileBatch(Ctx*, const v1::CreateFileBatchRequest*,
                           v1::InodeBatchReply*) override;
  Reactor* CommitFileBatch(Ctx*, const v1::CommitFileBatchRequest*,
                           v1::InodeBatchReply*) override;

  static constexpr int kMaxBatchItems = 1024;

 private:
  // Appends the replicas of the chunks `inode`'s extents name (GetAttr
  // with_locations). A hint only: on a lookup error (a chunk collected in
  // between) the reply carries none and the reader asks again.
  void AddChunkLocations(const v1::Inode& inode, v1::InodeReply* reply);
  // The same for the chunks `request` names (ReadDir extents_up_to).
  void AddChunkLocations(const v1::GetChunkLocationsRequest& request,
                         google::protobuf::RepeatedPtrField<v1::ChunkLocation>* locations);
  // One GetAttr into `reply` (single call and batch item).
  absl::Status GetAttrInto(const v1::GetAttrRequest& request,
                           v1::InodeReply* reply);

  MetaStore* const store_;
};

}  // namespace medfs::meta
