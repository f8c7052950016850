// ClientImpl: the Client of client.h. Owns the meta channel and MetaClient,
// the attribute cache, the fabric endpoint, the I/O buffer pool (created on
// the first data-plane use), the chunk location cache and the replica
// selector; reads go through PlanRead + ExecuteRead, writes through
// StripedFileWriter.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "client/attribute_cache.h"
#include "client/chunk_locations.h"
#include "client/client.h"
#include "client/data_plane.h"
#include "client/io_buffer_pool.h"
#include "client/meta_client.h"
#include "client/replica_selector.h"
#include "common/fabric/endpoint.h"

namespace medfs::client {

class ClientImpl : public Client {
 public:
  // The fabric endpoint is opened by Client::Connect or on first use.
  ClientImpl(const ClientOptions& options, std::unique_ptr<MetaClient> meta);
  ~ClientImpl() override;

  absl::StatusOr<v1::Inode> Lookup(uint64_t parent,
                                   const std::string& name) override;
  absl::StatusOr<v1::Inode> ResolvePath(const std::string& path,
                                        bool follow_last) override;
  absl::StatusOr<v1::Inode> GetAttr(uint64_t inode, bool with_extents) override;
  absl::StatusOr<DirectoryPage> ReadDir(uint64_t dir,
                                        const std::string& start_after,
                                        uint32_t limit,
                                        bool with_attributes,
                                        uint32_t extents_up_to) override;
  absl::StatusOr<v1::Inode> MkDir(uint64_t parent, const std::string& name,
                                  uint32_t mode, uint32_t uid,
                                  uint32_t gid) override;
  absl::Status RmDir(uint64_t parent, const std::string& name) override;
  absl::Status Unlink(uint64_t parent, const std::string& name) override;
  absl::Status Rename(uint64_t src_parent, const std::string& src_name,
                      uint64_t dst_parent, const std::string& dst_name,
                      bool no_replace) override;
  absl::StatusOr<v1::Inode> SetAttr(const v1::SetAttrRequest& request) override;
  absl::StatusOr<v1::Inode> Symlink(uint64_t parent, const std::string& name,
                                    const std::string& target, uint32_t uid,
                                    uint32_t gid) override;
  absl::StatusOr<std::string> ReadLink(uint64_t inode) override;
  absl::StatusOr<v1::StatFsReply> StatFs() override;
  absl::StatusOr<v1::ClusterStatusReply> ClusterStatus() override;

  absl::StatusOr<v1::Inode> CreateFile(
      uint64_t parent, const std::string& name, const FileContent& content,
      const CreateFileOptions& options) override;
  absl::StatusOr<v1::Inode> CommitFile(
      uint64_t inode, const FileContent& content,
      uint64_t expected_content_version) override;
  absl::StatusOr<std::unique_ptr<FileWriter>> NewWriter() override;
  absl::StatusOr<size_t> Read(const v1::Inode& inode, uint64_t offset,
                              std::span<std::byte> dst) override;
  absl::Status RegisterBuffer(void* data, size_t length) override;
  void InvalidateAttributes(uint64_t inode) override;

 private:
  friend class Client;  // Connect opens the endpoint up front
  // The fabric endpoint, opened on first use.
  absl::StatusOr<fabric::Endpoint*> EndpointLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The data plane, creating the buffer pool on first use.
  absl::StatusOr<const DataPlane*> Data();
  absl::StatusOr<uint64_t> MaxChunkBytes();
  // The registered region (RegisterBuffer) containing [data, data+length).
  const fabric::MemoryRegion* RegionFor(const void* data, size_t length);

  // Constant after construction.
  const ClientOptions options_;
  const std::unique_ptr<MetaClient> meta_;
  AttributeCache attributes_;
  ChunkLocationCache locations_;
  ReplicaSelector selector_;
  ChunkReservoir reservoir_;

  absl::Mutex mu_;
  // Set once (Connect or first use), then constant: the data plane and
  // RegisterBuffer use it without mu_ after that.
  std::unique_ptr<fabric::Endpoint> endpoint_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<IoBufferPool> pool_ ABSL_GUARDED_BY(mu_);
  DataPlane data_plane_ ABSL_GUARDED_BY(mu_);
  uint64_t max_chunk_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<const fabric::MemoryRegion*> user_regions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace medfs::client
