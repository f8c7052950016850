#include "meta/service/meta_service.h"

#include <atomic>
#include <string>
#include <type_traits>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "meta/service/grpc_status.h"

namespace medfs::meta {
namespace {

using Reactor = grpc::ServerUnaryReactor;

// Finishes `reactor` with `result`, moved into `*reply` when OK.
template <typename T, typename Reply>
void Finish(Reactor* reactor, Reply* reply, absl::StatusOr<T> result) {
  if (result.ok()) *reply = std::move(*result);
  reactor->Finish(ToGrpcStatus(result.status()));
}

void FinishInode(Reactor* reactor, v1::InodeReply* reply,
                 absl::StatusOr<v1::Inode> result) {
  if (result.ok()) *reply->mutable_inode() = std::move(*result);
  reactor->Finish(ToGrpcStatus(result.status()));
}

// Callbacks for the store's asynchronous mutations.
MetaStore::Callback<v1::Inode> InodeDone(Reactor* reactor,
                                         v1::InodeReply* reply) {
  return [reactor, reply](absl::StatusOr<v1::Inode> result) {
    FinishInode(reactor, reply, std::move(result));
  };
}

template <typename Reply>
MetaStore::Callback<Reply> ReplyDone(Reactor* reactor, Reply* reply) {
  return [reactor, reply](absl::StatusOr<Reply> result) {
    Finish(reactor, reply, std::move(result));
  };
}

MetaStore::StatusCallback StatusDone(Reactor* reactor) {
  return [reactor](absl::Status status) {
    reactor->Finish(ToGrpcStatus(status));
  };
}

// ---------------------------------------------------------------- batches

void SetItemStatus(v1::InodeBatchItem* item, const absl::Status& status) {
  item->set_code(static_cast<int32_t>(status.code()));
  item->set_message(std::string(status.message()));
}

// The error of a batch too large to take, or OK.
absl::Status CheckBatchSize(const char* method, int items) {
  if (items <= MetaServiceImpl::kMaxBatchItems) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(method, ": ", items, " items, at most ",
                   MetaServiceImpl::kMaxBatchItems, " per batch"));
}

// One mutation batch in flight: its items' replies are preallocated, each
// item's store callback fills its own, and the last one to become final
// finishes the RPC and deletes this.
class MutationBatch {
 public:
  MutationBatch(Reactor* reactor, v1::InodeBatchReply* reply, int items)
      : reactor_(reactor), reply_(reply), remaining_(items) {
    reply_->mutable_items()->Reserve(items);
    for (int i = 0; i < items; ++i) reply_->add_items();
  }

  // The callback of item `i`; call exactly once per item. T: the item's
  // whole reply, or just its inode.
  template <typename T>
  MetaStore::Callback<T> ItemDone(int i) {
    return [this, i](absl::StatusOr<T> result) {
      v1::InodeBatchItem* item = reply_->mutable_items(i);
      if (result.ok()) {
        if constexpr (std::is_same_v<T, v1::InodeReply>) {
          *item->mutable_reply() = std::move(*result);
        } else {
          *item->mutable_reply()->mutable_inode() = std::move(*result);
        }
      } else {
        SetItemStatus(item, result.status());
      }
      if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        reactor_->Finish(grpc::Status::OK);
        delete this;
      }
    };
  }

 private:
  Reactor* const reactor_;
  v1::InodeBatchReply* const reply_;
  std::atomic<int> remaining_;
};

// Runs `items` through `start(items, done_of)` (a store ...FilesAsync
// call whose items answer an Out: an InodeReply or an Inode) as one batch RPC.
template <typename Out, typename Item, typename Start>
Reactor* RunMutationBatch(grpc::CallbackServerContext* ctx, const char* method,
                          const google::protobuf::RepeatedPtrField<Item>& items,
                          v1::InodeBatchReply* reply, Start start) {
  Reactor* reactor = ctx->DefaultReactor();
  absl::Status size = CheckBatchSize(method, items.size());
  if (!size.ok() || items.empty()) {
    reactor->Finish(ToGrpcStatus(size));
    return reactor;
  }
  // The last item's callback may finish the RPC (and free the request)
  // inside start(), so nothing of the request is read after it.
  auto* batch = new MutationBatch(reactor, reply, items.size());
  start(items, [batch](int i) { return batch->template ItemDone<Out>(i); });
  return reactor;
}

}  // namespace

// ------------------------------------------------------------------ reads

Reactor* MetaServiceImpl::Lookup(Ctx* ctx, const v1::LookupRequest* request,
                                 v1::InodeReply* reply) {
  Reactor* reactor = ctx->DefaultReactor();
  const uint32_t up_to = request->extents_up_to();
  absl::StatusOr<v1::Inode> inode =
      store_->Lookup(request->parent(), request->name(), /*with_extents=*/up_to > 0);
  if (inode.ok() && KeepsExtents(*inode, up_to)) {
    reply->set_has_extents(true);
    AddChunkLocations(*inode, reply);
  } else if (inode.ok()) {
    inode->clear_extents();
  }
  FinishInode(reactor, reply, std::move(inode));
  return reactor;
}

Reactor* MetaServiceImpl::ResolvePath(Ctx* ctx,
                                      const v1::ResolvePathRequest* request,
                                      v1::InodeReply* reply) {
  Reactor* reactor = ctx->DefaultReactor();
  FinishInode(reactor, reply,
              store_->ResolvePath(request->path(), request->follow_last_symlink()));
  return reactor;
}

Reactor* MetaServiceImpl::GetAttr(Ctx* ctx, const v1::GetAttrRequest* request,
                                  v1::InodeReply* reply) {
  Reactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(GetAttrInto(*request, reply)));
  return reactor;
}

absl::Status MetaServiceImpl::GetAttrInto(const v1::GetAttrRequest& request,
                                          v1::InodeReply* reply) {
  const bool with_locations = request.with_locations();
  absl::StatusOr<v1::Inode> inode =
      store_->GetAttr(request.inode(), request.with_extents() || with_locations);
  if (!inode.ok()) return inode.status();
  if (with_locations) AddChunkLocations(*inode, reply);
  *reply->mutable_inode() = std::move(*inode);
  return absl::OkStatus();
}

void MetaServiceImpl::AddChunkLocations(const v1::Inode& inode,
                                        v1::InodeReply* reply) {
  v1::GetChunkLocationsRequest request;
  absl::flat_hash_set<uint64_t> seen;
  for (const v1::Extent& extent : inode.extents()) {
    if (seen.insert(extent.chunk_id()).second) request.add_chunk_ids(extent.chunk_id());
  }
  AddChunkLocations(request, reply->mutable_locations());
}

void MetaServiceImpl::AddChunkLocations(
    const v1::GetChunkLocationsRequest& request,
    google::protobuf::RepeatedPtrField<v1::ChunkLocation>* locations) {
  if (request.chunk_ids_size() == 0) return;
  // Best effort: a reader without replicas asks GetChunkLocations itself.
  absl::StatusOr<v1::GetChunkLocationsReply> located = store_->GetChunkLocations(request);
  if (located.ok()) locations->Swap(located->mutable_chunks());
}

Reactor* MetaServiceImpl::ReadDir(Ctx* ctx, const v1::ReadDirRequest* request,
                                  v1::ReadDirReply* reply) {
  Reactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<v1::ReadDirReply> listed = store_->ReadDir(*request);
  if (listed.ok() && request->extents_up_to() > 0) {
    v1::GetChunkLocationsRequest locate;
    absl::flat_hash_set<uint64_t> seen;
    for (const v1::ReadDirEntry& entry : listed->entries()) {
      if (!entry.has_extents()) continue;
      for (const v1::Extent& extent : entry.attributes().extents()) {
        if (seen.insert(extent.chunk_id()).second) locate.add_chunk_ids(extent.chunk_id());
      }
    }
    AddChunkLocations(locate, listed->mutable_locations());
  }
  Finish(reactor, reply, std::move(listed));
  return reactor;
}

Reactor* MetaServiceImpl::ReadLink(Ctx* ctx, const v1::ReadLinkRequest* request,
                                   v1::ReadLinkReply* reply) {
  Reactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<std::string> target = store_->ReadLink(request->inode());
  if (target.ok()) reply->set_target(std::move(*target));
  reactor->Finish(ToGrpcStatus(target.status()));
  return reactor;
}

Reactor* MetaServiceImpl::StatFs(Ctx* ctx, const v1::Empty*,
                                 v1::StatFsReply* reply) {
  Reactor* reactor = ctx->DefaultReactor();
  Finish(reactor, reply, store_->StatFs());
  return reactor;
}

Reactor* MetaServiceImpl::GetChunkLocations(
    Ctx* ctx, const v1::GetChunkLocationsRequest* request,
    v1::GetChunkLocationsReply* reply) {
  Reactor* reactor = ctx->DefaultReactor();
  Finish(reactor, reply, store_->GetChunkLocations(*request));
  return reactor;
}

Reactor* MetaServiceImpl::Heartbeat(Ctx* ctx, const v1::HeartbeatRequest* request,
                                    v1::HeartbeatReply* reply) {
  Reactor* reactor = ctx->DefaultReactor();
  Finish(reactor, reply, store_->Heartbeat(*request));
  return reactor;
}

Reactor* MetaServiceImpl::ClusterStatus(Ctx* ctx, const v1::Empty*,
                                        v1::ClusterStatusReply* reply) {
  Reactor* reactor = ctx->DefaultReactor();
  Finish(reactor, reply, store_->ClusterStatus());
  return reactor;
}

// -------------------------------------------------------------- mutations

Reactor* MetaServiceImpl::MkDir(Ctx* ctx, const v1::MkDirRequest* request,
                                v1::InodeReply* reply) {
  Reactor* reactor = ctx->DefaultReactor();
  store_->MkDirAsync(*request, InodeDone(reactor, reply));
  return reactor;
}

Reactor* MetaServiceImpl::RmDir(Ctx* ctx, const v1::RemoveRequest* request,
                                v1::Empty*) {
  Reactor* reactor = ctx->DefaultReactor();
  store_->RmDirAsync(request->parent(), request->name(), StatusDone(reactor));
  return reactor;
}

Reactor* MetaServiceImpl::CreateFile(Ctx* ctx,
                                     const v1::CreateFileRequest* request,
                                     v1::InodeReply* reply) {
  Reactor* reactor = ctx->DefaultReactor();
  store_->CreateFileAsync(*request, ReplyDone(reactor, reply));
  return reactor;
}

Reactor* MetaServiceImpl::CommitFile(Ctx* ctx,
                                     const v1::CommitFileRequest* request,
                                     v1::InodeReply* reply) {
  Reactor* reactor = ctx->DefaultReactor();
  store_->CommitFileAsync(*request, InodeDone(reactor, reply));
  return reactor;
}

Reactor* MetaServiceImpl::Unlink(Ctx* ctx, const v1::RemoveRequest* request,
                                 v1::Empty*) {
  Reactor* reactor = ctx->DefaultReactor();
  store_->UnlinkAsync(request->parent(), request->name(), StatusDone(reactor));
  return reactor;
}

Reactor* MetaServiceImpl::Rename(Ctx* ctx, const v1::RenameRequest* request,
                                 v1::Empty*) {
  Reactor* reactor = ctx->DefaultReactor();
  store_->RenameAsync(*request, StatusDone(reactor));
  return reactor;
}

Reactor* MetaServiceImpl::SetAttr(Ctx* ctx, const v1::SetAttrRequest* request,
                                  v1::InodeReply* reply) {
  Reactor* reactor = ctx->DefaultReactor();
  store_->SetAttrAsync(*request, InodeDone(reactor, reply));
  return reactor;
}

Reactor* MetaServiceImpl::Symlink(Ctx* ctx, const v1::SymlinkRequest* request,
                                  v1::InodeReply* reply) {
  Reactor* reactor = ctx->DefaultReactor();
  store_->SymlinkAsync(*request, InodeDone(reactor, reply));
  return reactor;
}

Reactor* MetaServiceImpl::AllocateChunks(Ctx* ctx,
                                         const v1::AllocateChunksRequest* request,
                                         v1::AllocateChunksReply* reply) {
  Reactor* reactor = ctx->DefaultReactor();
  store_->AllocateChunksAsync(*request, ReplyDone(reactor, reply));
  return reactor;
}

Reactor* MetaServiceImpl::RegisterServer(Ctx* ctx,
                                         const v1::RegisterServerRequest* request,
                                         v1::RegisterServerReply* reply) {
  Reactor* reactor = ctx->DefaultReactor();
  store_->RegisterServerAsync(request->server(), ReplyDone(reactor, reply));
  return reactor;
}

// ---------------------------------------------------------------- batches

Reactor* MetaServiceImpl::GetAttrBatch(Ctx* ctx,
                                       const v1::GetAttrBatchRequest* request,
                                       v1::InodeBatchReply* reply) {
  Reactor* reactor = ctx->DefaultReactor();
  absl::Status size = CheckBatchSize("GetAttrBatch", request->items_size());
  if (!size.ok()) {
    reactor->Finish(ToGrpcStatus(size));
    return reactor;
  }
  reply->mutable_items()->Reserve(request->items_size());
  for (const v1::GetAttrRequest& item : request->items()) {
    v1::InodeBatchItem* out = reply->add_items();
    absl::Status status = GetAttrInto(item, out->mutable_reply());
    if (!status.ok()) {
      out->clear_reply();
      SetItemStatus(out, status);
    }
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

Reactor* MetaServiceImpl::CreateFileBatch(
    Ctx* ctx, const v1::CreateFileBatchRequest* request,
    v1::InodeBatchReply* reply) {
  return RunMutationBatch<v1::InodeReply>(
      ctx, "CreateFileBatch", request->items(), reply,
      [this](const auto& items, auto done_of) {
        store_->CreateFilesAsync(items, done_of);
      });
}

Reactor* MetaServiceImpl::CommitFileBatch(
    Ctx* ctx, const v1::CommitFileBatchRequest* request,
    v1::InodeBatchReply* reply) {
  return RunMutationBatch<v1::Inode>(
      ctx, "CommitFileBatch", request->items(), reply,
      [this](const auto& items, auto done_of) {
        store_->CommitFilesAsync(items, done_of);
      });
}

}  // namespace medfs::meta
