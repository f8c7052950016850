// Overlay and Txn: how one mutation reads and writes the metadata.
//
// A mutation runs under the mutation mutex (CommitPipeline) and sees, in
// this order: its own writes, the overlay of writes that earlier mutations
// queued but that are not durable yet, then RocksDB. Its writes stay in the
// Txn until the pipeline moves them into the overlay and the commit queue.
//
// Thread safety: neither class is thread safe; CommitPipeline guards them.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/proto/medfs.pb.h"
#include "meta/store/kv_store.h"

namespace medfs::meta {

namespace v1 = ::medfs::v1;

// Key of the write set and the overlay: one byte of Cf, then the key.
using WriteSet = absl::flat_hash_map<std::string, std::optional<std::string>>;
std::string WriteSetKey(Cf cf, absl::string_view key);

// Writes queued for the committer but not yet durable, in two layers:
// `queued` (the next group) over `writing` (the group being written now),
// over `durable`: the writes of the last groups, already in RocksDB, kept
// as a cache in front of it for the records mutations touch again and
// again (parent directories, counters). Every write to the families a Txn
// reads goes through the pipeline, so `durable` never holds a stale value.
struct Overlay {
  WriteSet queued;
  WriteSet writing;
  WriteSet durable;
  size_t durable_bytes = 0;  // keys + values added since it was emptied
  // Above this the committer starts `durable` afresh.
  static constexpr size_t kMaxDurableBytes = 8u << 20;

  // Nothing is pending (`durable` holds no news).
  bool empty() const { return queued.empty() && writing.empty(); }
  // The newest known value: found (outer true) with nullopt for a delete.
  const std::optional<std::string>* Find(const std::string& key) const;
};

class Txn {
 public:
  Txn(const Overlay* overlay, KvStore* kv, int64_t now_ns)
      : overlay_(overlay), kv_(kv), now_ns_(now_ns) {}

  // The mutation's clock reading: every timestamp it writes uses it.
  int64_t now_ns() const { return now_ns_; }
  KvStore* kv() const { return kv_; }

  // Typed reads: nullopt when absent; kDataLoss when a value does not parse.
  absl::StatusOr<std::optional<v1::Inode>> GetInode(uint64_t id);
  absl::StatusOr<std::optional<v1::DirEntryValue>> GetDentry(
      uint64_t parent, absl::string_view name);
  absl::StatusOr<std::optional<v1::ChunkRecord>> GetChunk(uint64_t id);
  // A `system` counter (0 when absent).
  absl::StatusOr<uint64_t> GetCounter(absl::string_view name);

  void PutInode(const v1::Inode& inode);
  void DeleteInode(uint64_t id);
  void PutDentry(uint64_t parent, absl::string_view name,
                 const v1::DirEntryValue& value);
  void DeleteDentry(uint64_t parent, absl::string_view name);
  void PutChunk(const v1::ChunkRecord& chunk);
  void DeleteChunk(uint64_t id);
  void PutServer(const v1::ServerRecord& server);
  void PutCounter(absl::string_view name, uint64_t value);
  // Adds `delta` (may be negative) to a `system` counter, clamping at 0.
  absl::Status AddToCounter(absl::string_view name, int64_t delta);

  // Runs `action` on the committer thread once this mutation is durable
  // (before the caller is woken). Never runs if the mutation fails.
  void OnDurable(std::function<void()> action) {
    on_durable_.push_back(std::move(action));
  }

  // Runs `action` under the mutation mutex right after the logic succeeds
  // (for in-memory state the mutation mutex guards); never on failure.
  void OnSuccess(std::function<void()> action) {
    on_success_.push_back(std::move(action));
  }

  bool has_writes() const { return !writes_.empty(); }
  WriteSet& writes() { return writes_; }
  std::vector<std::function<void()>>& on_durable() { return on_durable_; }
  std::vector<std::function<void()>>& on_success() { return on_success_; }

 private:
  friend class DicomIngestOps;  // raw `dicom` column family access
  friend class ManifestOps;     // likewise (meta/dicom/manifest_store.cc)
  absl::StatusOr<std::optional<std::string>> Get(Cf cf, absl::string_view key);
  template <typename Proto>
  absl::StatusOr<std::optional<Proto>> GetProto(Cf cf, absl::string_view key,
                                                uint64_t id_for_errors);
  void Put(Cf cf, absl::string_view key, std::string value);
  void Delete(Cf cf, absl::string_view key);

  const Overlay* const overlay_;
  KvStore* const kv_;
  const int64_t now_ns_;
  WriteSet writes_;
  std::vector<std::function<void()>> on_durable_;
  std::vector<std::function<void()>> on_success_;
};

}  // namespace medfs::meta
