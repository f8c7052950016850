// MetaServiceImpl: the gRPC adaptor of the metadata server. It unpacks each
// request, calls MetaStore, and maps the absl::Status to a grpc::Status
// (grpc_status.h); no logic of its own.
//
// Thread safety: gRPC calls the handlers from many threads at once; the
// store serializes what needs it. Handlers of mutations block until their
// group commit is durable without holding any lock, so many mutations are
// in flight at once.
#pragma once

#include "common/proto/medfs.grpc.pb.h"
#include "meta/store/meta_store.h"

namespace medfs::meta {

class MetaServiceImpl final : public v1::MetaService::Service {
 public:
  // `store` must outlive the service.
  explicit MetaServiceImpl(MetaStore* store) : store_(store) {}

  using Ctx = grpc::ServerContext;
  grpc::Status Lookup(Ctx*, const v1::LookupRequest*, v1::InodeReply*) override;
  grpc::Status ResolvePath(Ctx*, const v1::ResolvePathRequest*,
                           v1::InodeReply*) override;
  grpc::Status GetAttr(Ctx*, const v1::GetAttrRequest*, v1::InodeReply*) override;
  grpc::Status ReadDir(Ctx*, const v1::ReadDirRequest*,
                       v1::ReadDirReply*) override;
  grpc::Status MkDir(Ctx*, const v1::MkDirRequest*, v1::InodeReply*) override;
  grpc::Status RmDir(Ctx*, const v1::RemoveRequest*, v1::Empty*) override;
  grpc::Status CreateFile(Ctx*, const v1::CreateFileRequest*,
                          v1::InodeReply*) override;
  grpc::Status CommitFile(Ctx*, const v1::CommitFileRequest*,
                          v1::InodeReply*) override;
  grpc::Status Unlink(Ctx*, const v1::RemoveRequest*, v1::Empty*) override;
  grpc::Status Rename(Ctx*, const v1::RenameRequest*, v1::Empty*) override;
  grpc::Status SetAttr(Ctx*, const v1::SetAttrRequest*, v1::InodeReply*) override;
  grpc::Status Symlink(Ctx*, const v1::SymlinkRequest*, v1::InodeReply*) override;
  grpc::Status ReadLink(Ctx*, const v1::ReadLinkRequest*,
                        v1::ReadLinkReply*) override;
  grpc::Status StatFs(Ctx*, const v1::Empty*, v1::StatFsReply*) override;
  grpc::Status AllocateChunks(Ctx*, const v1::AllocateChunksRequest*,
                              v1::AllocateChunksReply*) override;
  grpc::Status GetChunkLocations(Ctx*, const v1::GetChunkLocationsRequest*,
                                 v1::GetChunkLocationsReply*) override;
  grpc::Status RegisterServer(Ctx*, const v1::RegisterServerRequest*,
                              v1::RegisterServerReply*) override;
  grpc::Status Heartbeat(Ctx*, const v1::HeartbeatRequest*,
                         v1::HeartbeatReply*) override;
  grpc::Status ClusterStatus(Ctx*, const v1::Empty*,
                             v1::ClusterStatusReply*) override;

 private:
  MetaStore* const store_;
};

}  // namespace medfs::meta
