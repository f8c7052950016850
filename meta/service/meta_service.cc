#include "meta/service/meta_service.h"

#include "meta/service/grpc_status.h"

namespace medfs::meta {
namespace {

// Moves the value of `result` into `*reply` (or returns its error).
template <typename T, typename Reply>
grpc::Status Answer(absl::StatusOr<T> result, Reply* reply) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *reply = std::move(*result);
  return grpc::Status::OK;
}

grpc::Status AnswerInode(absl::StatusOr<v1::Inode> result, v1::InodeReply* reply) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *reply->mutable_inode() = std::move(*result);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status MetaServiceImpl::Lookup(Ctx*, const v1::LookupRequest* request,
                                     v1::InodeReply* reply) {
  return AnswerInode(store_->Lookup(request->parent(), request->name()), reply);
}

grpc::Status MetaServiceImpl::ResolvePath(Ctx*,
                                          const v1::ResolvePathRequest* request,
                                          v1::InodeReply* reply) {
  return AnswerInode(
      store_->ResolvePath(request->path(), request->follow_last_symlink()), reply);
}

grpc::Status MetaServiceImpl::GetAttr(Ctx*, const v1::GetAttrRequest* request,
                                      v1::InodeReply* reply) {
  return AnswerInode(store_->GetAttr(request->inode(), request->with_extents()),
                     reply);
}

grpc::Status MetaServiceImpl::ReadDir(Ctx*, const v1::ReadDirRequest* request,
                                      v1::ReadDirReply* reply) {
  return Answer(store_->ReadDir(*request), reply);
}

grpc::Status MetaServiceImpl::MkDir(Ctx*, const v1::MkDirRequest* request,
                                    v1::InodeReply* reply) {
  return AnswerInode(store_->MkDir(*request), reply);
}

grpc::Status MetaServiceImpl::RmDir(Ctx*, const v1::RemoveRequest* request,
                                    v1::Empty*) {
  return ToGrpcStatus(store_->RmDir(request->parent(), request->name()));
}

grpc::Status MetaServiceImpl::CreateFile(Ctx*,
                                         const v1::CreateFileRequest* request,
                                         v1::InodeReply* reply) {
  return AnswerInode(store_->CreateFile(*request), reply);
}

grpc::Status MetaServiceImpl::CommitFile(Ctx*,
                                         const v1::CommitFileRequest* request,
                                         v1::InodeReply* reply) {
  return AnswerInode(store_->CommitFile(*request), reply);
}

grpc::Status MetaServiceImpl::Unlink(Ctx*, const v1::RemoveRequest* request,
                                     v1::Empty*) {
  return ToGrpcStatus(store_->Unlink(request->parent(), request->name()));
}

grpc::Status MetaServiceImpl::Rename(Ctx*, const v1::RenameRequest* request,
                                     v1::Empty*) {
  return ToGrpcStatus(store_->Rename(*request));
}

grpc::Status MetaServiceImpl::SetAttr(Ctx*, const v1::SetAttrRequest* request,
                                      v1::InodeReply* reply) {
  return AnswerInode(store_->SetAttr(*request), reply);
}

grpc::Status MetaServiceImpl::Symlink(Ctx*, const v1::SymlinkRequest* request,
                                      v1::InodeReply* reply) {
  return AnswerInode(store_->Symlink(*request), reply);
}

grpc::Status MetaServiceImpl::ReadLink(Ctx*, const v1::ReadLinkRequest* request,
                                       v1::ReadLinkReply* reply) {
  absl::StatusOr<std::string> target = store_->ReadLink(request->inode());
  if (!target.ok()) return ToGrpcStatus(target.status());
  reply->set_target(std::move(*target));
  return grpc::Status::OK;
}

grpc::Status MetaServiceImpl::StatFs(Ctx*, const v1::Empty*,
                                     v1::StatFsReply* reply) {
  return Answer(store_->StatFs(), reply);
}

grpc::Status MetaServiceImpl::AllocateChunks(
    Ctx*, const v1::AllocateChunksRequest* request,
    v1::AllocateChunksReply* reply) {
  return Answer(store_->AllocateChunks(*request), reply);
}

grpc::Status MetaServiceImpl::GetChunkLocations(
    Ctx*, const v1::GetChunkLocationsRequest* request,
    v1::GetChunkLocationsReply* reply) {
  return Answer(store_->GetChunkLocations(*request), reply);
}

grpc::Status MetaServiceImpl::RegisterServer(
    Ctx*, const v1::RegisterServerRequest* request,
    v1::RegisterServerReply* reply) {
  return Answer(store_->RegisterServer(request->server()), reply);
}

grpc::Status MetaServiceImpl::Heartbeat(Ctx*, const v1::HeartbeatRequest* request,
                                        v1::HeartbeatReply* reply) {
  return Answer(store_->Heartbeat(*request), reply);
}

grpc::Status MetaServiceImpl::ClusterStatus(Ctx*, const v1::Empty*,
                                            v1::ClusterStatusReply* reply) {
  return Answer(store_->ClusterStatus(), reply);
}

}  // namespace medfs::meta
