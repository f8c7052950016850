#include "meta/service/meta_service.h"

#include "absl/container/flat_hash_set.h"
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

}  // namespace

// ------------------------------------------------------------------ reads

Reactor* MetaServiceImpl::Lookup(Ctx* ctx, const v1::LookupRequest* request,
                                 v1::InodeReply* reply) {
  Reactor* reactor = ctx->DefaultReactor();
  FinishInode(reactor, reply, store_->Lookup(request->parent(), request->name()));
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
  const bool with_locations = request->with_locations();
  absl::StatusOr<v1::Inode> inode =
      store_->GetAttr(request->inode(), request->with_extents() || with_locations);
  if (inode.ok() && with_locations) AddChunkLocations(*inode, reply);
  FinishInode(reactor, reply, std::move(inode));
  return reactor;
}

void MetaServiceImpl::AddChunkLocations(const v1::Inode& inode,
                                        v1::InodeReply* reply) {
  v1::GetChunkLocationsRequest request;
  absl::flat_hash_set<uint64_t> seen;
  for (const v1::Extent& extent : inode.extents()) {
    if (seen.insert(extent.chunk_id()).second) request.add_chunk_ids(extent.chunk_id());
  }
  if (request.chunk_ids_size() == 0) return;
  absl::StatusOr<v1::GetChunkLocationsReply> located = store_->GetChunkLocations(request);
  if (located.ok()) reply->mutable_locations()->Swap(located->mutable_chunks());
}

Reactor* MetaServiceImpl::ReadDir(Ctx* ctx, const v1::ReadDirRequest* request,
                                  v1::ReadDirReply* reply) {
  Reactor* reactor = ctx->DefaultReactor();
  Finish(reactor, reply, store_->ReadDir(*request));
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
  store_->CreateFileAsync(*request, InodeDone(reactor, reply));
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

}  // namespace medfs::meta
