// DicomStore's reads: Query, GetDatasetInfo, ListDatasets (dicom_store.h).
#include <map>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "meta/dicom/dicom_keys.h"
#include "meta/dicom/dicom_query.h"
#include "meta/dicom/dicom_store.h"
#include "meta/store/kv_store.h"
#include "rocksdb/db.h"

namespace medfs::meta {
namespace {

constexpr uint32_t kDefaultLimit = 10000;
constexpr char kPlanFullScan = '\xff';
constexpr size_t kCountStep = 256;

// Releases a RocksDB snapshot.
class SnapshotHolder {
 public:
  explicit SnapshotHolder(rocksdb::DB* db) : db_(db), snapshot_(db->GetSnapshot()) {}
  ~SnapshotHolder() { db_->ReleaseSnapshot(snapshot_); }
  const rocksdb::Snapshot* get() const { return snapshot_; }

 private:
  rocksdb::DB* db_;
  const rocksdb::Snapshot* snapshot_;
};

// One query execution over a snapshot.
class QueryRun {
 public:
  QueryRun(KvStore* kv, const v1::QueryDicomRequest& request,
           std::vector<dicom::Predicate> predicates)
      : kv_(kv), request_(request), predicates_(std::move(predicates)),
        snapshot_(kv->db()) {}

  absl::StatusOr<v1::QueryDicomReply> Execute();

 private:
  std::unique_ptr<rocksdb::Iterator> Iter(const std::string& upper) {
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot_.get();
    upper_ = upper;
    upper_slice_ = rocksdb::Slice(upper_);
    if (!upper_.empty()) ro.iterate_upper_bound = &upper_slice_;
    return kv_->NewIterator(Cf::kDicom, ro);
  }
  // The predicate whose index range holds the fewest keys, or -1.
  int ChoosePlan();
  // Handles one instance record; false when the reply is full.
  // `r` is the caller's scratch record (moved into the reply); `position`
  // (the key it came from) becomes the cursor when the reply is full.
  bool Emit(v1::DicomInstance& r, absl::string_view position);
  absl::Status ScanIndex(int plan, const std::string& resume);
  absl::Status ScanAll(const std::string& resume);

  KvStore* kv_;
  const v1::QueryDicomRequest& request_;
  std::vector<dicom::Predicate> predicates_;
  SnapshotHolder snapshot_;
  std::string upper_;
  rocksdb::Slice upper_slice_;
  char plan_ = kPlanFullScan;
  v1::QueryDicomReply reply_;
  std::map<std::string, v1::DicomGroup> groups_;
  uint32_t limit_ = 0;
};

int QueryRun::ChoosePlan() {
  std::vector<int> candidates;
  std::vector<dicom::IndexRange> ranges(predicates_.size());
  for (size_t i = 0; i < predicates_.size(); ++i) {
    if (dicom::RangeFor(request_.dataset(), predicates_[i], &ranges[i])) {
      candidates.push_back(static_cast<int>(i));
    }
  }
  if (candidates.empty()) return -1;
  if (candidates.size() == 1) return candidates[0];
  // Count every candidate range in lock step; the first to end is smallest.
  std::vector<std::unique_ptr<rocksdb::Iterator>> its;
  std::vector<std::string> uppers(candidates.size());
  std::vector<rocksdb::Slice> upper_slices(candidates.size());
  for (size_t c = 0; c < candidates.size(); ++c) {
    uppers[c] = ranges[candidates[c]].end;
    upper_slices[c] = rocksdb::Slice(uppers[c]);
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot_.get();
    ro.iterate_upper_bound = &upper_slices[c];
    its.push_back(kv_->NewIterator(Cf::kDicom, ro));
    its.back()->Seek(ranges[candidates[c]].begin);
  }
  while (true) {
    for (size_t c = 0; c < candidates.size(); ++c) {
      for (size_t step = 0; step < kCountStep; ++step) {
        if (!its[c]->Valid()) return candidates[c];
        its[c]->Next();
      }
    }
  }
}

bool QueryRun::Emit(v1::DicomInstance& r, absl::string_view position) {
  reply_.set_examined(reply_.examined() + 1);
  if (!dicom::MatchesAll(predicates_, r)) return true;
  if (request_.level() == v1::DICOM_LEVEL_INSTANCE) {
    reply_.add_instances()->Swap(&r);
    if (static_cast<uint32_t>(reply_.instances_size()) >= limit_) {
      reply_.set_cursor(absl::StrCat(std::string(1, plan_), position));
      return false;
    }
    return true;
  }
  const std::string& uid = request_.level() == v1::DICOM_LEVEL_SERIES
                               ? r.series_instance_uid() : r.study_instance_uid();
  v1::DicomGroup& g = groups_[uid];
  g.set_uid(uid);
  g.set_instances(g.instances() + 1);
  g.set_bytes(g.bytes() + r.file_size());
  if (!g.has_first() || r.sop_instance_uid() < g.first().sop_instance_uid()) {
    *g.mutable_first() = r;
  }
  return true;
}

absl::Status QueryRun::ScanAll(const std::string& resume) {
  std::string prefix = dicom::InstancePrefix(request_.dataset());
  auto it = Iter(dicom::PrefixSuccessor(prefix));
  it->Seek(resume.empty() ? prefix : resume + std::string(1, '\0'));
  for (; it->Valid(); it->Next()) {
    v1::DicomInstance r;
    if (!r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(absl::StrCat("query: cannot decode instance record ",
                                              it->key().ToString()));
    }
    if (!Emit(r, absl::string_view(it->key().data(), it->key().size()))) {
      return absl::OkStatus();
    }
  }
  return FromRocksStatus(it->status(), "query: scanning instances");
}

absl::Status QueryRun::ScanIndex(int plan, const std::string& resume) {
  dicom::IndexRange range;
  dicom::RangeFor(request_.dataset(), predicates_[plan], &range);
  auto it = Iter(range.end);
  it->Seek(resume.empty() ? range.begin : resume + std::string(1, '\0'));
  // Instance records are fetched in batches with one MultiGet each.
  std::vector<std::string> index_keys, keys;
  auto flush = [&]() -> absl::StatusOr<bool> {
    std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot_.get();
    // The batched MultiGet looks the keys up file by file.
    kv_->db()->MultiGet(ro, kv_->handle(Cf::kDicom), keys.size(), slices.data(),
                        values.data(), statuses.data(), /*sorted_input=*/false);
    for (size_t i = 0; i < keys.size(); ++i) {
      v1::DicomInstance r;
      if (!statuses[i].ok() ||
          !r.ParseFromArray(values[i].data(), static_cast<int>(values[i].size()))) {
        return absl::DataLossError(absl::StrCat("query: index entry without instance record ",
                                                keys[i].substr(1)));
      }
      if (!Emit(r, index_keys[i])) return false;
    }
    keys.clear();
    index_keys.clear();
    return true;
  };
  for (; it->Valid(); it->Next()) {
    std::string sop = dicom::SopFromIndexKey(
        absl::string_view(it->key().data(), it->key().size()), range.value_offset,
        range.numeric);
    keys.push_back(dicom::InstanceKey(request_.dataset(), sop));
    index_keys.push_back(it->key().ToString());
    if (keys.size() == 256) {
      ASSIGN_OR_RETURN(bool more, flush());
      if (!more) return absl::OkStatus();
    }
  }
  RETURN_IF_ERROR(FromRocksStatus(it->status(), "query: scanning index"));
  ASSIGN_OR_RETURN(bool more, flush());
  (void)more;
  return absl::OkStatus();
}

absl::StatusOr<v1::QueryDicomReply> QueryRun::Execute() {
  limit_ = request_.limit() == 0 ? kDefaultLimit : request_.limit();
  std::string resume;
  int plan = -1;
  if (!request_.cursor().empty()) {
    plan_ = request_.cursor()[0];
    resume = request_.cursor().substr(1);
    plan = plan_ == kPlanFullScan ? -1 : static_cast<unsigned char>(plan_);
    if (plan >= static_cast<int>(predicates_.size())) {
      return absl::InvalidArgumentError("query: cursor does not belong to this query");
    }
  } else if (!request_.full_scan()) {
    plan = ChoosePlan();
    plan_ = plan < 0 ? kPlanFullScan : static_cast<char>(plan);
  }
  if (plan < 0) {
    reply_.set_plan("full scan");
    RETURN_IF_ERROR(ScanAll(resume));
  } else {
    reply_.set_plan(absl::StrCat("index ", dicom::Describe(predicates_[plan])));
    RETURN_IF_ERROR(ScanIndex(plan, resume));
  }
  for (auto& [uid, group] : groups_) *reply_.add_groups() = std::move(group);
  return std::move(reply_);
}

}  // namespace

absl::StatusOr<v1::QueryDicomReply> DicomStore::Query(const v1::QueryDicomRequest& request) {
  ASSIGN_OR_RETURN(std::vector<dicom::Predicate> predicates,
                   dicom::ParseExpression(request.expression()));
  ASSIGN_OR_RETURN(std::optional<std::string> dataset,
                   store_->kv_->Get(Cf::kDicom, dicom::DatasetKey(request.dataset())));
  if (!dataset) {
    return absl::NotFoundError(absl::StrCat("query: no dataset '", request.dataset(), "'"));
  }
  QueryRun run(store_->kv_.get(), request, std::move(predicates));
  return run.Execute();
}

absl::StatusOr<v1::DatasetInfo> DicomStore::GetDatasetInfo(absl::string_view dataset) {
  ASSIGN_OR_RETURN(std::optional<std::string> raw,
                   store_->kv_->Get(Cf::kDicom, dicom::DatasetKey(dataset)));
  v1::DatasetRecord record;
  if (!raw) return absl::NotFoundError(absl::StrCat("no dataset '", dataset, "'"));
  if (!record.ParseFromString(*raw)) {
    return absl::DataLossError(absl::StrCat("dataset '", dataset, "': record does not decode"));
  }
  v1::DatasetInfo info;
  info.set_name(record.name());
  info.set_deidentification(record.deidentification());
  info.set_created_ns(record.created_ns());
  info.set_inode(record.inode());
  ASSIGN_OR_RETURN(std::optional<std::string> stats,
                   store_->kv_->Get(Cf::kDicom, dicom::StatsKey(dataset)));
  if (stats && !info.mutable_stats()->ParseFromString(*stats)) {
    return absl::DataLossError(absl::StrCat("dataset '", dataset, "': stats do not decode"));
  }
  return info;
}

absl::StatusOr<v1::ListDatasetsReply> DicomStore::ListDatasets() {
  v1::ListDatasetsReply reply;
  std::vector<std::string> names;
  {
    rocksdb::ReadOptions ro;
    std::string upper = "E";
    rocksdb::Slice upper_slice(upper);
    ro.iterate_upper_bound = &upper_slice;
    auto it = store_->kv_->NewIterator(Cf::kDicom, ro);
    for (it->Seek("D"); it->Valid(); it->Next()) names.push_back(it->key().ToString().substr(1));
    RETURN_IF_ERROR(FromRocksStatus(it->status(), "listing datasets"));
  }
  for (const std::string& name : names) {
    ASSIGN_OR_RETURN(*reply.add_datasets(), GetDatasetInfo(name));
  }
  return reply;
}

}  // namespace medfs::meta
