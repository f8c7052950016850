// An in-memory client::Client for tests of the FUSE layer: a namespace in
// maps and file bytes in "chunks" (one per FileWriter), with the error
// codes and messages the real client documents. Lets the mount be tested
// by mounting it, with no cluster.
//
// Thread safety: thread safe (one mutex).
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "client/client.h"

namespace medfs::fuse::testing {

class FakeClient : public client::Client {
 public:
  FakeClient();

  absl::StatusOr<v1::Inode> Lookup(uint64_t parent, const std::string& name) override;
  absl::StatusOr<v1::Inode> ResolvePath(const std::string& path, bool follow_last) override;
  absl::StatusOr<v1::Inode> GetAttr(uint64_t inode, bool with_extents) override;
  absl::StatusOr<client::DirectoryPage> ReadDir(uint64_t dir, const std::string& start_after,
                                                uint32_t limit, bool with_attributes,
                                                uint32_t extents_up_to) override;
  absl::StatusOr<v1::Inode> MkDir(uint64_t parent, const std::string& name, uint32_t mode,
                                  uint32_t uid, uint32_t gid) override;
  absl::Status RmDir(uint64_t parent, const std::string& name) override;
  absl::Status Unlink(uint64_t parent, const std::string& name) override;
  absl::Status Rename(uint64_t src_parent, const std::string& src_name, uint64_t dst_parent,
                      const std::string& dst_name, bool no_replace) override;
  absl::StatusOr<v1::Inode> SetAttr(const v1::SetAttrRequest& request) override;
  absl::StatusOr<v1::Inode> Symlink(uint64_t parent, const std::string& name,
                                    const std::string& target, uint32_t uid,
                                    uint32_t gid) override;
  absl::StatusOr<std::string> ReadLink(uint64_t inode) override;
  absl::StatusOr<v1::StatFsReply> StatFs() override;
  absl::StatusOr<v1::ClusterStatusReply> ClusterStatus() override;
  absl::StatusOr<v1::Inode> CreateFile(uint64_t parent, const std::string& name,
                                       const client::FileContent& content,
                                       const client::CreateFileOptions& options) override;
  absl::StatusOr<v1::Inode> CommitFile(uint64_t inode, const client::FileContent& content,
                                       uint64_t expected_content_version) override;
  absl::StatusOr<std::unique_ptr<client::FileWriter>> NewWriter() override;
  absl::StatusOr<size_t> Read(const v1::Inode& inode, uint64_t offset,
                              std::span<std::byte> dst) override;
  absl::Status RegisterBuffer(void* data, size_t length) override;
  void InvalidateAttributes(uint64_t inode) override {}

  // Test hooks on the fake (not on production code).
  // The next `count` Read calls fail with kUnavailable.
  void FailNextReads(int count) { fail_reads_ = count; }
  uint64_t read_calls() const { return read_calls_; }
  uint64_t lookup_calls() const { return lookup_calls_; }
  uint64_t commit_calls() const { return commit_calls_; }
  // Whole content of a file, for assertions.
  std::string Content(uint64_t inode);
  // Stores bytes as a new chunk; returns the chunk id (used by writers).
  uint64_t StoreChunk(std::string bytes);

 private:
  absl::StatusOr<v1::Inode> ChildLocked(uint64_t parent, const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckDirLocked(uint64_t dir) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::Inode NewInodeLocked(v1::FileType type, uint32_t mode, uint32_t uid, uint32_t gid)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HasChildrenLocked(uint64_t dir) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetContentLocked(v1::Inode& inode, const client::FileContent& content)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string ContentLocked(const v1::Inode& inode) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::map<uint64_t, v1::Inode> inodes_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<uint64_t, std::string>, uint64_t> dentries_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::string> chunks_ ABSL_GUARDED_BY(mu_);
  uint64_t next_inode_ ABSL_GUARDED_BY(mu_) = 2;
  uint64_t next_chunk_ ABSL_GUARDED_BY(mu_) = 1;
  std::atomic<int> fail_reads_{0};
  std::atomic<uint64_t> read_calls_{0};
  std::atomic<uint64_t> lookup_calls_{0};
  std::atomic<uint64_t> commit_calls_{0};
};

}  // namespace medfs::fuse::testing
