#include "client/client_impl.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "client/chunk_reader.h"
#include "client/file_writer.h"
#include "client/read_plan.h"
#include "common/dataplane/protocol.h"
#include "common/status.h"

namespace medfs::client {

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(
    const ClientOptions& options) {
  MetaClientOptions meta_options;
  meta_options.address = options.meta_address;
  meta_options.call_timeout = options.meta_call_timeout;
  meta_options.retry_budget = options.meta_retry_budget;
  auto meta = std::make_unique<MetaClient>(NewMetaChannel(meta_options),
                                           meta_options);
  absl::StatusOr<v1::ClusterStatusReply> probe =
      meta->Probe(options.connect_timeout);
  if (!probe.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "connect to meta at ", options.meta_address, ": ",
        probe.status().message()));
  }
  auto client = std::make_unique<ClientImpl>(options, std::move(meta));
  if (options.open_fabric_at_connect) {
    absl::MutexLock lock(&client->mu_);
    RETURN_IF_ERROR(client->EndpointLocked().status());
  }
  return client;
}

ClientImpl::ClientImpl(const ClientOptions& options,
                       std::unique_ptr<MetaClient> meta)
    : options_(options),
      meta_(std::move(meta)),
      attributes_(options.attribute_cache_entries, options.attribute_cache_ttl),
      locations_(meta_.get(), options.location_cache_entries),
      selector_(options.failed_server_avoid_for),
      reservoir_(ChunkReservoirOptions{.max_spares = options.chunk_reservoir_spares}) {}

ClientImpl::~ClientImpl() {
  absl::MutexLock lock(&mu_);
  for (const fabric::MemoryRegion* region : user_regions_) {
    endpoint_->Deregister(region);
  }
  pool_.reset();
}

absl::StatusOr<fabric::Endpoint*> ClientImpl::EndpointLocked() {
  if (endpoint_ != nullptr) return endpoint_.get();
  fabric::EndpointOptions endpoint_options;
  endpoint_options.provider = options_.fabric_provider;
  endpoint_options.node = options_.fabric_node;
  endpoint_options.service = "0";
  absl::StatusOr<std::unique_ptr<fabric::Endpoint>> endpoint =
      fabric::Endpoint::Open(endpoint_options);
  if (!endpoint.ok()) {
    return Annotate(endpoint.status(),
                    absl::StrCat("open fabric endpoint (provider ",
                                 options_.fabric_provider, ")"));
  }
  endpoint_ = *std::move(endpoint);
  return endpoint_.get();
}

// ------------------------------------------------------------- namespace

absl::StatusOr<v1::Inode> ClientImpl::Lookup(uint64_t parent,
                                             const std::string& name) {
  v1::LookupRequest request;
  request.set_parent(parent);
  request.set_name(name);
  request.set_extents_up_to(options_.lookup_extents_up_to);
  ASSIGN_OR_RETURN(v1::InodeReply reply, meta_->LookupReply(request));
  if (reply.has_extents()) locations_.Insert(reply.locations());
  attributes_.Put(reply.inode(), reply.has_extents());
  return std::move(*reply.mutable_inode());
}

absl::StatusOr<v1::Inode> ClientImpl::ResolvePath(const std::string& path,
                                                  bool follow_last) {
  v1::ResolvePathRequest request;
  request.set_path(path);
  request.set_follow_last_symlink(follow_last);
  ASSIGN_OR_RETURN(v1::Inode inode, meta_->ResolvePath(request));
  attributes_.Put(inode, /*has_extents=*/false);
  return inode;
}

absl::StatusOr<v1::Inode> ClientImpl::GetAttr(uint64_t inode,
                                              bool with_extents) {
  if (auto cached = attributes_.Get(inode, with_extents)) return *cached;
  v1::GetAttrRequest request;
  request.set_inode(inode);
  request.set_with_extents(with_extents);
  if (!with_extents) {
    ASSIGN_OR_RETURN(v1::Inode attributes, meta_->GetAttr(request));
    attributes_.Put(attributes, with_extents);
    return attributes;
  }
  // Whoever wants extents is about to read: take the replicas along, which
  // saves the reader a GetChunkLocations round trip per new chunk.
  request.set_with_locations(true);
  ASSIGN_OR_RETURN(v1::InodeReply reply, meta_->GetAttrReply(request));
  locations_.Insert(reply.locations());
  attributes_.Put(reply.inode(), with_extents);
  return std::move(*reply.mutable_inode());
}

absl::StatusOr<DirectoryPage> ClientImpl::ReadDir(
    uint64_t dir, const std::string& start_after, uint32_t limit,
    bool with_attributes, uint32_t extents_up_to) {
  v1::ReadDirRequest request;
  request.set_dir(dir);
  request.set_start_after(start_after);
  request.set_limit(limit);
  request.set_with_attributes(with_attributes);
  if (with_attributes) request.set_extents_up_to(extents_up_to);
  ASSIGN_OR_RETURN(v1::ReadDirReply reply, meta_->ReadDir(request));
  locations_.Insert(reply.locations());
  DirectoryPage page;
  page.end_of_directory = reply.end_of_directory();
  page.entries.reserve(reply.entries_size());
  for (v1::ReadDirEntry& entry : *reply.mutable_entries()) {
    if (with_attributes && entry.has_attributes()) {
      attributes_.Put(entry.attributes(), entry.has_extents());
    }
    page.entries.push_back(std::move(entry));
  }
  return page;
}

absl::StatusOr<v1::Inode> ClientImpl::MkDir(uint64_t parent,
                                            const std::string& name,
                                            uint32_t mode, uint32_t uid,
                                            uint32_t gid) {
  v1::MkDirRequest request;
  request.set_parent(parent);
  request.set_name(name);
  request.set_mode(mode);
  request.mutable_owner()->set_uid(uid);
  request.mutable_owner()->set_gid(gid);
  attributes_.Invalidate(parent);
  ASSIGN_OR_RETURN(v1::Inode inode, meta_->MkDir(request));
  attributes_.Invalidate(parent);
  attributes_.Put(inode, /*has_extents=*/false);
  return inode;
}

absl::Status ClientImpl::RmDir(uint64_t parent, const std::string& name) {
  v1::RemoveRequest request;
  request.set_parent(parent);
  request.set_name(name);
  absl::Status status = meta_->RmDir(request);
  attributes_.Invalidate(parent);
  return status;
}

absl::Status ClientImpl::Unlink(uint64_t parent, const std::string& name) {
  v1::RemoveRequest request;
  request.set_parent(parent);
  request.set_name(name);
  absl::Status status = meta_->Unlink(request);
  attributes_.Invalidate(parent);
  return status;
}

absl::Status ClientImpl::Rename(uint64_t src_parent,
                                const std::string& src_name,
                                uint64_t dst_parent,
                                const std::string& dst_name, bool no_replace) {
  v1::RenameRequest request;
  request.set_src_parent(src_parent);
  request.set_src_name(src_name);
  request.set_dst_parent(dst_parent);
  request.set_dst_name(dst_name);
  request.set_no_replace(no_replace);
  absl::Status status = meta_->Rename(request);
  attributes_.Invalidate(src_parent);
  attributes_.Invalidate(dst_parent);
  return status;
}

absl::StatusOr<v1::Inode> ClientImpl::SetAttr(
    const v1::SetAttrRequest& request) {
  attributes_.Invalidate(request.inode());
  ASSIGN_OR_RETURN(v1::Inode inode, meta_->SetAttr(request));
  attributes_.Invalidate(request.inode());
  attributes_.Put(inode, /*has_extents=*/false);
  return inode;
}

absl::StatusOr<v1::Inode> ClientImpl::Symlink(uint64_t parent,
                                              const std::string& name,
                                              const std::string& target,
                                              uint32_t uid, uint32_t gid) {
  v1::SymlinkRequest request;
  request.set_parent(parent);
  request.set_name(name);
  request.set_target(target);
  request.mutable_owner()->set_uid(uid);
  request.mutable_owner()->set_gid(gid);
  ASSIGN_OR_RETURN(v1::Inode inode, meta_->Symlink(request));
  attributes_.Invalidate(parent);
  return inode;
}

absl::StatusOr<std::string> ClientImpl::ReadLink(uint64_t inode) {
  v1::ReadLinkRequest request;
  request.set_inode(inode);
  return meta_->ReadLink(request);
}

absl::StatusOr<v1::StatFsReply> ClientImpl::StatFs() {
  return meta_->StatFs();
}

absl::StatusOr<v1::ClusterStatusReply> ClientImpl::ClusterStatus() {
  return meta_->ClusterStatus();
}

void ClientImpl::InvalidateAttributes(uint64_t inode) {
  attributes_.Invalidate(inode);
}

}  // namespace medfs::client
