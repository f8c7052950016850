// KvStore: the RocksDB database of the metadata server, one column family
// per concern. It only stores bytes; the meaning of keys and values is in
// keys.h and the protobuf schema.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"

namespace medfs::meta {

// Column families. The numeric values are not stored anywhere; the names
// in kv_store.cc are (they are RocksDB's column family names).
enum class Cf : uint8_t {
  kInodes = 0,
  kDentries,
  kChunks,
  kServers,
  kDicom,   // created empty, for the DICOM index
  kAudit,   // created empty, for the access log
  kSystem,  // id high-water marks, counters, cluster settings
};
inline constexpr int kCfCount = 7;

struct KvStoreOptions {
  // Directory of the database; created if missing. Required.
  std::string path;
  // Shared LRU block cache for all column families, in bytes. Default 256 MiB.
  size_t block_cache_bytes = 256u << 20;
};

class KvStore {
 public:
  // Opens (creating when missing) the database and every column family.
  // Errors: kUnavailable when the database is locked by another process,
  // kInternal / kDataLoss for other RocksDB failures, naming the path.
  static absl::StatusOr<std::unique_ptr<KvStore>> Open(
      const KvStoreOptions& options);
  ~KvStore();

  KvStore(const KvStore&) = delete;
  KvStore& operator=(const KvStore&) = delete;

  // The durable value of `key`, or nullopt when absent. `snapshot` may be
  // null (latest state).
  absl::StatusOr<std::optional<std::string>> Get(
      Cf cf, absl::string_view key,
      const rocksdb::Snapshot* snapshot = nullptr) const;

  // Writes `batch` atomically with WriteOptions.sync = true: on OK the
  // batch survives a crash of the process or the machine.
  absl::Status WriteSynced(rocksdb::WriteBatch* batch);

  // An iterator over `cf` under `read_options` (snapshot, bounds).
  std::unique_ptr<rocksdb::Iterator> NewIterator(
      Cf cf, const rocksdb::ReadOptions& read_options) const;

  rocksdb::ColumnFamilyHandle* handle(Cf cf) const {
    return handles_[static_cast<int>(cf)];
  }
  rocksdb::DB* db() const { return db_.get(); }

  // Number of synced writes so far (each is one WAL fsync).
  uint64_t synced_writes() const {
    return synced_writes_.load(std::memory_order_relaxed);
  }

 private:
  KvStore() = default;

  // Constant after construction.
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // indexed by Cf
  std::string path_;

  std::atomic<uint64_t> synced_writes_{0};
};

inline rocksdb::Slice ToSlice(absl::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}

// Maps a RocksDB status to an absl::Status "context: cause".
absl::Status FromRocksStatus(const rocksdb::Status& status,
                             absl::string_view context);

}  // namespace medfs::meta
