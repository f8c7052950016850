#include "meta/store/kv_store.h"

#include "rocksdb/cache.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"

namespace medfs::meta {
namespace {

// RocksDB's names of the column families, indexed by Cf. Never rename.
constexpr const char* kCfNames[kCfCount] = {
    "inodes", "dentries", "chunks", "servers", "dicom", "audit", "system"};

rocksdb::ColumnFamilyOptions MakeCfOptions(
    const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  // Point lookups dominate (inodes by id, dentries by parent + name), and
  // most dentry lookups before a create miss: whole-key bloom filters.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.format_version = 5;
  rocksdb::ColumnFamilyOptions cf;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf.write_buffer_size = 32u << 20;
  cf.memtable_whole_key_filtering = true;
  cf.memtable_prefix_bloom_size_ratio = 0.05;
  cf.level_compaction_dynamic_level_bytes = true;
  cf.compression = rocksdb::kNoCompression;
  return cf;
}

// Memtable insert hints (the committer inserts each group's keys in key
// order, commit_pipeline.cc): RocksDB keeps, per prefix, where the last key
// with that prefix went and starts the next insert there instead of from
// the skiplist's top. Ids are allocated in increasing order, so new inodes
// and chunks land next to the previous ones (one hint for the whole
// family); a directory's new entries land near its last one (a hint per
// parent id).
std::shared_ptr<const rocksdb::SliceTransform> InsertHintPrefix(Cf cf) {
  switch (cf) {
    case Cf::kInodes:
    case Cf::kChunks:
      return std::shared_ptr<const rocksdb::SliceTransform>(
          rocksdb::NewFixedPrefixTransform(0));
    case Cf::kDentries:
      return std::shared_ptr<const rocksdb::SliceTransform>(
          rocksdb::NewFixedPrefixTransform(8));
    default:
      return nullptr;
  }
}

}  // namespace

absl::Status FromRocksStatus(const rocksdb::Status& status,
                             absl::string_view context) {
  if (status.ok()) return absl::OkStatus();
  std::string message = absl::StrCat(context, ": ", status.ToString());
  if (status.IsNotFound()) return absl::NotFoundError(message);
  if (status.IsCorruption()) return absl::DataLossError(message);
  bool locked = status.IsIOError() &&
                status.ToString().find("lock") != std::string::npos;
  if (status.IsBusy() || status.IsTimedOut() || status.IsTryAgain() || locked) {
    return absl::UnavailableError(message);
  }
  if (status.IsNoSpace()) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

absl::StatusOr<std::unique_ptr<KvStore>> KvStore::Open(
    const KvStoreOptions& options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError("opening metadata database: empty path");
  }
  auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.bytes_per_sync = 1u << 20;
  // One writer (the committer thread) writes every batch: no need for
  // concurrent memtable writes; a restart replays the whole WAL.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  db_options.max_total_wal_size = 256u << 20;

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  rocksdb::ColumnFamilyOptions cf_options = MakeCfOptions(cache);
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options);
  for (int i = 0; i < kCfCount; ++i) {
    rocksdb::ColumnFamilyOptions family = cf_options;
    family.memtable_insert_with_hint_prefix_extractor =
        InsertHintPrefix(static_cast<Cf>(i));
    descriptors.emplace_back(kCfNames[i], family);
  }

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      rocksdb::DB::Open(db_options, options.path, descriptors, &handles, &raw);
  if (!s.ok()) {
    return FromRocksStatus(
        s, absl::StrCat("opening metadata database ", options.path));
  }
  std::unique_ptr<KvStore> store(new KvStore());
  store->db_.reset(raw);
  store->path_ = options.path;
  // handles[0] is the default family, which medfs does not use.
  raw->DestroyColumnFamilyHandle(handles[0]);
  store->handles_.assign(handles.begin() + 1, handles.end());
  return store;
}

KvStore::~KvStore() {
  if (!db_) return;
  for (auto* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
  rocksdb::Status s = db_->Close();
  (void)s;
}

absl::StatusOr<std::optional<std::string>> KvStore::Get(
    Cf cf, absl::string_view key, const rocksdb::Snapshot* snapshot) const {
  rocksdb::ReadOptions read_options;
  read_options.snapshot = snapshot;
  std::string value;
  rocksdb::Status s = db_->Get(read_options, handle(cf),
                               rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) {
    return FromRocksStatus(
        s, absl::StrCat("reading ", kCfNames[static_cast<int>(cf)], " in ",
                        path_));
  }
  return std::optional<std::string>(std::move(value));
}

absl::Status KvStore::WriteSynced(rocksdb::WriteBatch* batch) {
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  rocksdb::Status s = db_->Write(write_options, batch);
  synced_writes_.fetch_add(1, std::memory_order_relaxed);
  return FromRocksStatus(s, absl::StrCat("writing metadata batch to ", path_));
}

std::unique_ptr<rocksdb::Iterator> KvStore::NewIterator(
    Cf cf, const rocksdb::ReadOptions& read_options) const {
  return std::unique_ptr<rocksdb::Iterator>(
      db_->NewIterator(read_options, handle(cf)));
}

}  // namespace medfs::meta
