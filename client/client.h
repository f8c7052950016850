// The medfs client library: what the CLI, the FUSE mount, ingest and the
// loader all use to talk to a cluster.
//
// A Client holds one gRPC channel to medfs-meta (metadata calls, with a
// small attribute cache) and one fabric endpoint for chunk I/O against the
// chunkservers (replica choice, parallel reads of several chunks, failover
// to another replica on error or timeout, pipelined replicated writes).
//
// Thread safety: a Client is thread safe; share one per process. A
// FileWriter is used by one thread at a time.
//
// Errors: the codes of common/status.h. Metadata errors come from meta
// (kNotFound, kAlreadyExists, kFailedPrecondition "not empty" / "not a
// directory" / "is a directory"); kUnavailable when meta or every replica
// cannot be reached within the configured retries; kDataLoss when every
// replica of a chunk failed its checksum; kResourceExhausted when the
// cluster is out of space.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/proto/medfs.pb.h"

namespace medfs::client {

inline constexpr uint64_t kRootInode = 1;

struct ClientOptions {
  // medfs-meta gRPC address, host:port.
  std::string meta_address = "127.0.0.1:9400";
  // Fabric provider and local address of this client's endpoint.
  std::string fabric_provider = "tcp;ofi_rxm";
  std::string fabric_node = "127.0.0.1";
  // Deadline of one metadata call, and total time spent retrying a call
  // that failed with UNAVAILABLE (meta restarting) before giving up.
  absl::Duration meta_call_timeout = absl::Seconds(10);
  absl::Duration meta_retry_budget = absl::Seconds(30);
  // Deadline of one chunk request to one replica before failing over.
  absl::Duration chunk_call_timeout = absl::Seconds(5);
  // Attribute cache: entries and how long one is trusted. 0 entries: off.
  size_t attribute_cache_entries = 65536;
  absl::Duration attribute_cache_ttl = absl::Seconds(1);
  // A Lookup that names a regular file of at most this many extents also
  // brings its extents and chunk replicas into the caches, so that opening
  // it right after (within attribute_cache_ttl) costs no meta round trip.
  // 0: attributes only.
  uint32_t lookup_extents_up_to = 16;
  // Registered I/O buffers (bytes each = the data-plane piece size, 4 MiB)
  // shared by all reads and writes of this client; bounds client memory.
  size_t io_buffer_count = 32;
  // The caller keeps what it reads in a cache of its own (the FUSE mount:
  // the kernel's page cache): chunk reads say so, and chunkservers then
  // need not keep a second copy of blocks they do not have cached (they
  // read them around their page cache). false for readers without a cache
  // of their own (the loader's epochs are served from the chunkservers'
  // page cache). Default false.
  bool reads_cached_by_caller = false;
  // Chunk pieces read or written in parallel by one Read or FileWriter.
  size_t max_parallel_pieces = 8;
  // Replication factor of new files; 0: the cluster default.
  uint32_t replication = 0;
  // Connect opens the fabric endpoint (and fails if it cannot); false opens
  // it on the first chunk read, write or RegisterBuffer instead, which
  // saves about 0.1 s for a process that only talks to meta (CLI `ls`,
  // `stat`, `query`, `status`). Default true.
  bool open_fabric_at_connect = true;
  // How long Connect waits for meta to answer its first call.
  absl::Duration connect_timeout = absl::Seconds(5);
  // Writers: chunks written in parallel by one FileWriter, and the largest
  // chunk a writer fills (bytes; 0: meta's max_chunk_bytes). A writer keeps
  // each open chunk's pieces in I/O buffers until the chunk is sealed so it
  // can rewrite the chunk elsewhere when a replica fails: it holds at most
  // write_stripes * write_chunk_bytes of buffers (64 MiB by default).
  size_t write_stripes = 4;
  uint64_t write_chunk_bytes = 16ull << 20;
  // Chunks allocated ahead for the first chunk of later writers (a burst of
  // small files costs one AllocateChunks per batch, not per file; see
  // chunk_reservoir.h): the most kept. 0: every writer allocates its own.
  size_t chunk_reservoir_spares = 16;
  // Chunk locations cached (entries); the cache empties when full.
  size_t location_cache_entries = 1 << 20;
  // How long a chunkserver that failed a request is tried last.
  absl::Duration failed_server_avoid_for = absl::Seconds(10);
};

// Content of a file as written by a FileWriter, ready to commit.
struct FileContent {
  std::vector<v1::Extent> extents;
  std::vector<v1::SealedChunk> sealed_chunks;
  uint64_t size = 0;
};

// One page of a directory listing.
struct DirectoryPage {
  std::vector<v1::ReadDirEntry> entries;
  bool end_of_directory = false;
};

// Streams new file content into freshly allocated chunks: bytes are cut
// into pieces and sent down the replica pipeline while the caller keeps
// appending (memory stays bounded by the client's I/O buffers). Nothing is
// visible to readers until the caller commits the returned FileContent.
class FileWriter {
 public:
  virtual ~FileWriter() = default;
  // Appends `data` at the end. Errors are sticky: after one, Finish fails.
  virtual absl::Status Append(std::span<const std::byte> data) = 0;
  // Writes what is buffered, seals the last chunk on all replicas and
  // returns the content to pass to CreateFile/CommitFile.
  virtual absl::StatusOr<FileContent> Finish() = 0;
  // Bytes appended so far.
  virtual uint64_t size() const = 0;
};

struct CreateFileOptions {
  uint32_t mode = 0644;
  uint32_t uid = 0;
  uint32_t gid = 0;
  bool exclusive = false;         // fail with kAlreadyExists if present
  bool replace_existing = false;  // atomically replace an existing file
};

class Client {
 public:
  // Opens the fabric endpoint and the meta channel and checks that meta
  // answers (kUnavailable naming the address otherwise).
  static absl::StatusOr<std::unique_ptr<Client>> Connect(
      const ClientOptions& options);
  virtual ~Client() = default;

  // ---- namespace (see MetaService in common/proto/medfs.proto)
  virtual absl::StatusOr<v1::Inode> Lookup(uint64_t parent,
                                           const std::string& name) = 0;
  // "/a/b/c" relative to the root; symlinks followed except the last
  // component unless follow_last.
  virtual absl::StatusOr<v1::Inode> ResolvePath(const std::string& path,
                                                bool follow_last = true) = 0;
  // Attributes; with_extents also returns the extent list (needed to Read).
  virtual absl::StatusOr<v1::Inode> GetAttr(uint64_t inode,
                                            bool with_extents = false) = 0;
  // Entries after `start_after` in name order, at most `limit`. With
  // attributes, a regular file of at most `extents_up_to` extents comes
  // with its extents (entry.has_extents), which go into the attribute cache
  // with its chunks' replicas: opening it within attribute_cache_ttl needs
  // no meta round trip. 0: attributes only.
  virtual absl::StatusOr<DirectoryPage> ReadDir(uint64_t dir,
                                                const std::string& start_after,
                                                uint32_t limit,
                                                bool with_attributes,
                                                uint32_t extents_up_to) = 0;
  virtual absl::StatusOr<v1::Inode> MkDir(uint64_t parent,
                                          const std::string& name,
                                          uint32_t mode, uint32_t uid,
                                          uint32_t gid) = 0;
  virtual absl::Status RmDir(uint64_t parent, const std::string& name) = 0;
  virtual absl::Status Unlink(uint64_t parent, const std::string& name) = 0;
  virtual absl::Status Rename(uint64_t src_parent, const std::string& src_name,
                              uint64_t dst_parent, const std::string& dst_name,
                              bool no_replace) = 0;
  virtual absl::StatusOr<v1::Inode> SetAttr(
      const v1::SetAttrRequest& request) = 0;
  virtual absl::StatusOr<v1::Inode> Symlink(uint64_t parent,
                                            const std::string& name,
                                            const std::string& target,
                                            uint32_t uid, uint32_t gid) = 0;
  virtual absl::StatusOr<std::string> ReadLink(uint64_t inode) = 0;
  virtual absl::StatusOr<v1::StatFsReply> StatFs() = 0;
  virtual absl::StatusOr<v1::ClusterStatusReply> ClusterStatus() = 0;

  // ---- file content
  // Creates (or replaces, per options) parent/name with `content`.
  virtual absl::StatusOr<v1::Inode> CreateFile(
      uint64_t parent, const std::string& name, const FileContent& content,
      const CreateFileOptions& options) = 0;
  // Replaces the whole content of an existing file in one atomic step.
  // expected_content_version != 0: kAborted if the file changed meanwhile.
  virtual absl::StatusOr<v1::Inode> CommitFile(
      uint64_t inode, const FileContent& content,
      uint64_t expected_content_version = 0) = 0;
  // A writer for new content (commit it with CreateFile/CommitFile).
  virtual absl::StatusOr<std::unique_ptr<FileWriter>> NewWriter() = 0;

  // Reads up to dst.size() bytes at `offset` of the file described by
  // `inode` (which must carry its extents: GetAttr(id, true)). Reads chunk
  // pieces in parallel from the replicas, failing over on error, timeout or
  // checksum mismatch. Ranges not covered by an extent read as zeros.
  // Returns the bytes read: short only at end of file.
  virtual absl::StatusOr<size_t> Read(const v1::Inode& inode, uint64_t offset,
                                      std::span<std::byte> dst) = 0;

  // Registers [data, data+length) with the client's fabric endpoint so that
  // Read() into it lands by RMA straight from the chunkservers, without a
  // bounce copy. For long-lived buffers (FUSE reply buffers, loader pools);
  // never per request.
  virtual absl::Status RegisterBuffer(void* data, size_t length) = 0;

  // Forget cached attributes of `inode` (after a local mutation).
  virtual void InvalidateAttributes(uint64_t inode) = 0;
};

}  // namespace medfs::client
