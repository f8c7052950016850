// MetaStore: the metadata of a medfs cluster — the namespace (inodes and
// directory entries), the chunk map, and cluster membership — kept in one
// RocksDB database (meta/README.md documents the on-disk format).
//
// Durability. Every mutation is atomic and durable before it returns OK:
// its writes go to RocksDB as part of one synced WriteBatch, shared with
// the mutations that ran at the same time (group commit, see
// commit_pipeline.h). After a crash, every mutation that returned OK is
// present and none is half-applied. Reads (Lookup, ResolvePath, GetAttr,
// ReadDir, ReadLink, StatFs, GetChunkLocations) see durable state only.
//
// Errors (codes chosen by what the caller should do; the FUSE errno
// mapping in common/status.h relies on the messages):
//   kNotFound            no such inode, entry, or chunk            ENOENT
//   kAlreadyExists       the name is taken                         EEXIST
//   kFailedPrecondition  "not a directory" / "is a directory" /
//                        "not empty"                 ENOTDIR/EISDIR/ENOTEMPTY
//   kInvalidArgument     bad name ("name too long": ENAMETOOLONG), bad
//                        extents, rename into own subtree          EINVAL
//   kAborted             CommitFile's expected_content_version is stale
//   kResourceExhausted   too few servers up for the replication factor
//   kDataLoss            a stored record does not decode
//
// Names are 1..255 bytes, without '/' or NUL, and not "." or "..".
//
// File content. A regular file's content is its extent list, ordered by
// file_offset and non-overlapping, each extent inside [0, size). Extents
// need not cover the whole size: uncovered ranges (holes, e.g. after a
// SetAttr that extends the file) read as zeros.
//
// Chunks. AllocateChunks creates ALLOCATED records. The first CreateFile or
// CommitFile that references a chunk seals it (length and CRC from
// `sealed_chunks` when given); each referencing extent holds one reference
// (ref_count). When the count drops to 0 the chunk becomes GARBAGE and, after
// `garbage_grace` (open readers of the old version finish), its replicas
// are told to delete it in their heartbeat replies; the record is dropped
// once every replica has been told. ALLOCATED chunks never
// referenced within `orphan_chunk_after` become GARBAGE too (interrupted
// writers). A GARBAGE chunk can never be referenced again.
//
// Thread safety: every method may be called from any thread, concurrently.
// Mutations are serialized internally; reads run in parallel.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/proto/medfs.pb.h"
#include "meta/store/clock.h"

namespace medfs::meta {

namespace v1 = ::medfs::v1;

class CommitBatch;
class CommitPipeline;
class IdAllocator;
class KvStore;
class ServerTable;
class Txn;

// Lookup and ReadDir `extents_up_to`: whether `inode` comes with its
// extents (a regular file of at most `up_to` of them; 0: never).
inline bool KeepsExtents(const v1::Inode& inode, uint32_t up_to) {
  return up_to > 0 && inode.type() == v1::FILE_TYPE_REGULAR &&
         static_cast<uint32_t>(inode.extents_size()) <= up_to;
}

struct MetaStoreOptions {
  // Directory of the RocksDB database; created when missing. Required.
  std::string db_path;
  // Replicas per chunk when a request asks for 0. Default 2.
  uint32_t default_replication = 2;
  // Largest chunk, in bytes. Default 64 MiB.
  uint64_t max_chunk_bytes = 64ull << 20;
  // A server silent for longer is DEAD. Default 10 s.
  absl::Duration dead_server_after = absl::Seconds(10);
  // An ALLOCATED chunk never referenced for longer is GARBAGE. Default 1 h.
  absl::Duration orphan_chunk_after = absl::Seconds(3600);
  // A chunk whose last reference went away (file removed or rewritten) is
  // deleted on its replicas only this long after: readers that opened the
  // old version, or hold its extents from a cache, can still read it.
  // Default 60 s.
  absl::Duration garbage_grace = absl::Seconds(60);
  // Heartbeat interval servers are told to use. Default 1 s.
  absl::Duration heartbeat_interval = absl::Seconds(1);
  // How often the maintenance thread runs; zero: no thread (tests call
  // RunMaintenance()). Default 1 s.
  absl::Duration maintenance_interval = absl::Seconds(1);
  // Ids reserved per synced high-water-mark write. Default 2^20.
  uint64_t id_reservation = 1ull << 20;
  // RocksDB block cache, in bytes. Default 256 MiB.
  size_t block_cache_bytes = 256u << 20;
  // Most chunk deletions handed to one server per heartbeat. Default 4096.
  size_t max_deletes_per_heartbeat = 4096;
  // Time source; null: the real clock. Not owned; must outlive the store.
  Clock* clock = nullptr;
  // Seed of the placement generator; 0: random.
  uint64_t placement_seed = 0;
};

// Counters for tests, metrics and benchmarks.
struct MetaStoreStats {
  uint64_t write_groups = 0;         // synced group-commit writes
  uint64_t committed_mutations = 0;  // mutations with writes made durable
  uint64_t synced_writes = 0;        // all synced writes (groups + id ranges)
  uint64_t inode_count = 0;
  uint64_t chunk_count = 0;
  uint64_t pending_garbage = 0;      // garbage chunks not yet handed out
};

class MetaStore {
 public:
  // Opens the database at options.db_path, creating it (with the root
  // directory, inode 1, mode 0755, uid/gid 0) when new, and loads servers
  // and pending chunk garbage. Starts the maintenance thread.
  // Errors: kInvalidArgument for bad options; kUnavailable when another
  // process holds the database; RocksDB errors otherwise.
  static absl::StatusOr<std::unique_ptr<MetaStore>> Open(
      const MetaStoreOptions& options);
  // Stops maintenance, commits what is queued and closes the database.
  ~MetaStore();

  MetaStore(const MetaStore&) = delete;
  MetaStore& operator=(const MetaStore&) = delete;

  // ------------------------------------------------------------ namespace
  // Reads never return extents unless asked (GetAttr with_extents).

  // The inode named `name` in directory `parent`; "." and ".." resolve to
  // the directory and its parent. kNotFound; "not a directory".
  absl::StatusOr<v1::Inode> Lookup(uint64_t parent, absl::string_view name,
                                   bool with_extents = false);
  // Walks an absolute path from the root, following symlinks in
  // intermediate components (and the last one when follow_last_symlink),
  // at most 40 of them. kNotFound; "not a directory"; kInvalidArgument for
  // a relative path or a symlink loop.
  absl::StatusOr<v1::Inode> ResolvePath(absl::string_view path,
                                        bool follow_last_symlink);
  // The inode `id`. kNotFound.
  absl::StatusOr<v1::Inode> GetAttr(uint64_t id, bool with_extents);
  // Up to `limit` entries (0: 1000, at most 10000) after `start_after` in
  // byte order of names; with_attributes adds each entry's inode.
  // kNotFound; "not a directory".
  absl::StatusOr<v1::ReadDirReply> ReadDir(const v1::ReadDirRequest& request);
  // A symlink's target. kNotFound; kInvalidArgument if not a symlink.
  absl::StatusOr<std::string> ReadLink(uint64_t id);
  // Capacity and free bytes summed over UP servers; the inode count.
  absl::StatusOr<v1::StatFsReply> StatFs();

  // New directory. kNotFound (parent); kAlreadyExists; "not a directory".
  absl::StatusOr<v1::Inode> MkDir(const v1::MkDirRequest& request);
  // Removes an empty directory. kNotFound; "not a directory"; "not empty".
  absl::Status RmDir(uint64_t parent, absl::string_view name);
  // New regular file whose content is request.extents. If the name exists:
  // `exclusive` fails kAlreadyExists; `replace_existing` atomically puts a
  // new inode in place of a file or symlink (the old content's chunk
  // references are dropped); otherwise the existing inode is returned
  // unchanged (and the request's content ignored). A directory in the way
  // fails "is a directory". Referenced chunks must be ALLOCATED or SEALED
  // (kFailedPrecondition otherwise; kNotFound for unknown chunks).
  absl::StatusOr<v1::Inode> CreateFile(const v1::CreateFileRequest& request);
  // Replaces a regular file's whole extent list and size, bumps its
  // content_version. kNotFound; "is a directory"; kInvalidArgument for a
  // symlink or bad extents; kAborted when expected_content_version is set
  // and differs.
  absl::StatusOr<v1::Inode> CommitFile(const v1::CommitFileRequest& request);
  // Removes a file or symlink. kNotFound; "is a directory".
  absl::Status Unlink(uint64_t parent, absl::string_view name);
  // Atomically moves an entry, replacing a destination file (when the
  // source is not a directory) or EMPTY directory (when it is). kNotFound;
  // kAlreadyExists (no_replace); "not a directory" / "is a directory";
  // "not empty"; kInvalidArgument when moving a directory into its own
  // subtree. Renaming an entry onto itself does nothing.
  absl::Status Rename(const v1::RenameRequest& request);
  // Changes mode/uid/gid/times/size. Shrinking drops and shortens extents
  // past the new size; growing leaves a hole. kNotFound; kInvalidArgument
  // (size of a non-file).
  absl::StatusOr<v1::Inode> SetAttr(const v1::SetAttrRequest& request);
  // New symlink (target 1..4096 bytes). kNotFound; kAlreadyExists; "not a
  // directory".
  absl::StatusOr<v1::Inode> Symlink(const v1::SymlinkRequest& request);

  // ---------------------------------------------- asynchronous mutations
  // Servers that must not park a thread per call use these forms: each
  // runs the mutation's logic at once and calls `done` exactly once with
  // the outcome the blocking form returns, after that outcome is durable —
  // on the committer thread, or on the calling thread when nothing was
  // pending. `done` must not block. The request need only live for the call.

  template <typename T>
  using Callback = absl::AnyInvocable<void(absl::StatusOr<T>)>;
  using StatusCallback = absl::AnyInvocable<void(absl::Status)>;

  void MkDirAsync(const v1::MkDirRequest& request, Callback<v1::Inode> done);
  void RmDirAsync(uint64_t parent, absl::string_view name, StatusCallback done);
  // The reply carries the file (without extents) and, with want_parent,
  // its parent directory's attributes after the change in `parent` (wcc: a
  // client caches them instead of asking again).
  void CreateFileAsync(const v1::CreateFileRequest& request,
                       Callback<v1::InodeReply> done);
  void CommitFileAsync(const v1::CommitFileRequest& request,
                       Callback<v1::Inode> done);
  void UnlinkAsync(uint64_t parent, absl::string_view name, StatusCallback done);
  void RenameAsync(const v1::RenameRequest& request, StatusCallback done);
  void SetAttrAsync(const v1::SetAttrRequest& request, Callback<v1::Inode> done);
  void SymlinkAsync(const v1::SymlinkRequest& request, Callback<v1::Inode> done);
  void AllocateChunksAsync(const v1::AllocateChunksRequest& request,
                           Callback<v1::AllocateChunksReply> done);
  void RegisterServerAsync(const v1::ServerRecord& server,
                           Callback<v1::RegisterServerReply> done);

  // The batch RPCs' forms: item i runs as CreateFileAsync (CommitFileAsync)
  // with its own outcome, answered through `done_of(i)`. The items run back
  // to back under one hold of the mutation mutex (one hand-off and one
  // committer wake-up for the batch, not one per item), in order, so a
  // later item sees an earlier one's writes.
  template <typename Request>
  using Requests = google::protobuf::RepeatedPtrField<Request>;
  void CreateFilesAsync(const Requests<v1::CreateFileRequest>& requests,
                        absl::FunctionRef<Callback<v1::InodeReply>(int)> done_of);
  void CommitFilesAsync(const Requests<v1::CommitFileRequest>& requests,
                        absl::FunctionRef<Callback<v1::Inode>(int)> done_of);

  // --------------------------------------------------------------- chunks

  // `count` (1..1024) new chunk ids, each with `replication` (0: default)
  // replicas on distinct UP servers with room, not in avoid_servers.
  // kInvalidArgument; kResourceExhausted "need R replicas, only K servers
  // up".
  absl::StatusOr<v1::AllocateChunksReply> AllocateChunks(
      const v1::AllocateChunksRequest& request);
  // Replica locations of each chunk, in the request's order. kNotFound
  // naming the first unknown chunk.
  absl::StatusOr<v1::GetChunkLocationsReply> GetChunkLocations(
      const v1::GetChunkLocationsRequest& request);

  // The durable record of a chunk (state, length, ref count, replicas),
  // for fsck and tests. kNotFound.
  absl::StatusOr<v1::ChunkRecord> GetChunk(uint64_t id);

  // -------------------------------------------------------------- servers

  // Registers a chunkserver by its persistent uuid: a known uuid gets its
  // id back (and its record updated), a new uuid a new id.
  // kInvalidArgument when the uuid is empty.
  absl::StatusOr<v1::RegisterServerReply> RegisterServer(
      const v1::ServerRecord& server);
  // Records a heartbeat and hands out chunk deletions; reregister = true
  // for an unknown server id.
  absl::StatusOr<v1::HeartbeatReply> Heartbeat(
      const v1::HeartbeatRequest& request);
  absl::StatusOr<v1::ClusterStatusReply> ClusterStatus();

  // ---------------------------------------------------------- maintenance

  // Marks silent servers DEAD, turns expired ALLOCATED chunks into
  // garbage, drops records of garbage handed out to every replica. The
  // maintenance thread calls it every maintenance_interval.
  absl::Status RunMaintenance();

  MetaStoreStats stats() const;

 private:
  // The DICOM index (meta/dicom/) runs its mutation inside this store's
  // commit pipeline, with the namespace logic below.
  friend class DicomStore;
  friend class DicomIngestOps;
  friend class ManifestStore;  // manifests of the DICOM index (meta/dicom/)

  explicit MetaStore(const MetaStoreOptions& options);
  absl::Status Init();
  absl::Status CreateRootIfMissing();
  absl::Status LoadServersAndChunks();
  void MaintenanceLoop();
  int64_t NowNs() const { return clock_->NowNs(); }
  // When a chunk that becomes garbage now may be deleted (garbage_grace on).
  int64_t GarbageDeletableAtNs() const {
    return NowNs() + absl::ToInt64Nanoseconds(options_.garbage_grace);
  }

  // Runs `logic(txn, &result)` in the pipeline (in `batch` when given);
  // `done` gets the result once durable (mutate.h).
  template <typename T, typename Logic>
  void Mutate(Logic logic, Callback<T> done,
              CommitBatch* batch = nullptr);
  // Runs `logic(txn, requests[i], &inode)` for each request, in order, in
  // one CommitBatch; item i's outcome goes to done_of(i) (mutate.h).
  template <typename Out, typename Request, typename Logic>
  void MutateEach(const Requests<Request>& requests,
                  absl::FunctionRef<Callback<Out>(int)> done_of,
                  Logic logic);

  // Mutation logic, run under the mutation mutex (see ops/*.cc).
  absl::Status MkDirLogic(Txn& txn, const v1::MkDirRequest& request,
                          v1::Inode* out);
  // `out` gets the file and its parent directory as changed.
  absl::Status CreateFileLogic(Txn& txn, const v1::CreateFileRequest& request,
                               v1::InodeReply* out);
  absl::Status CommitFileLogic(Txn& txn, const v1::CommitFileRequest& request,
                               v1::Inode* out);
  absl::Status RemoveLogic(Txn& txn, uint64_t parent, absl::string_view name,
                           bool directory);
  absl::Status RenameLogic(Txn& txn, const v1::RenameRequest& request);
  absl::Status SetAttrLogic(Txn& txn, const v1::SetAttrRequest& request,
                            v1::Inode* out);
  absl::Status SymlinkLogic(Txn& txn, const v1::SymlinkRequest& request,
                            v1::Inode* out);
  absl::Status AllocateChunksLogic(Txn& txn,
                                   const v1::AllocateChunksRequest& request,
                                   v1::AllocateChunksReply* out);
  absl::Status RegisterServerLogic(Txn& txn, const v1::ServerRecord& server,
                                   v1::RegisterServerReply* out);
  absl::Status CollectOrphansLogic(Txn& txn);
  absl::Status DropGarbageLogic(Txn& txn, const std::vector<uint64_t>& chunks);

  // Chunk references: applies the change from `old_extents` to
  // `new_extents` (seal, ref_count, GARBAGE) inside `txn`.
  absl::Status UpdateChunkRefs(
      Txn& txn, const google::protobuf::RepeatedPtrField<v1::Extent>& old_extents,
      const google::protobuf::RepeatedPtrField<v1::Extent>& new_extents,
      const google::protobuf::RepeatedPtrField<v1::SealedChunk>& sealed);
  // Frees a removed inode: its chunk references and the inode count.
  absl::Status ReleaseInode(Txn& txn, const v1::Inode& inode);

  // Constant after construction.
  const MetaStoreOptions options_;
  std::unique_ptr<RealClock> owned_clock_;
  Clock* clock_;
  std::unique_ptr<KvStore> kv_;
  std::unique_ptr<ServerTable> servers_;
  std::unique_ptr<CommitPipeline> pipeline_;

  // Guarded by the mutation mutex (only touched by *Logic methods).
  std::unique_ptr<IdAllocator> inode_ids_;
  std::unique_ptr<IdAllocator> chunk_ids_;
  absl::flat_hash_map<uint64_t, int64_t> allocated_chunks_;  // id -> time
  std::mt19937_64 rng_;

  absl::Notification stop_maintenance_;
  std::thread maintenance_;
};

}  // namespace medfs::meta
