// ManifestStore (manifest_store.h): Freeze, Get, List.
#include "meta/dicom/manifest_store.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "meta/dicom/dicom_keys.h"
#include "meta/dicom/manifest_keys.h"
#include "meta/store/commit_pipeline.h"
#include "meta/store/keys.h"
#include "meta/store/kv_store.h"
#include "meta/store/txn.h"
#include "rocksdb/db.h"

namespace medfs::meta {
namespace {

constexpr size_t kMaxManifestNameBytes = 128;
constexpr size_t kCursorBytes = 16;  // version u64 BE, member offset u64 BE

std::string What(absl::string_view doing, absl::string_view dataset, absl::string_view name) {
  return absl::StrCat(doing, " manifest '", name, "' of dataset '", dataset, "'");
}

// What a query matched, ready to be written.
struct Matches {
  std::vector<v1::ManifestMember> members;  // SOPInstanceUID order, unique
  uint64_t series = 0;
  uint64_t studies = 0;
  uint64_t bytes = 0;
};

absl::StatusOr<Matches> RunQuery(DicomStore* dicom, const v1::FreezeManifestRequest& request,
                                 uint32_t page) {
  v1::QueryDicomRequest query;
  query.set_dataset(request.dataset());
  query.set_expression(request.expression());
  query.set_level(v1::DICOM_LEVEL_INSTANCE);
  query.set_limit(page);
  Matches m;
  absl::flat_hash_set<std::string> series, studies;
  do {
    ASSIGN_OR_RETURN(v1::QueryDicomReply reply, dicom->Query(query));
    for (v1::DicomInstance& r : *reply.mutable_instances()) {
      v1::ManifestMember member;
      member.set_sop_instance_uid(std::move(*r.mutable_sop_instance_uid()));
      member.set_inode(r.inode());
      m.members.push_back(std::move(member));
      series.insert(r.series_instance_uid());
      studies.insert(r.study_instance_uid());
      m.bytes += r.file_size();
    }
    query.set_cursor(reply.cursor());
  } while (!query.cursor().empty());
  auto by_uid = [](const v1::ManifestMember& a, const v1::ManifestMember& b) {
    return a.sop_instance_uid() < b.sop_instance_uid();
  };
  std::sort(m.members.begin(), m.members.end(), by_uid);
  m.members.erase(std::unique(m.members.begin(), m.members.end(),
                              [](const auto& a, const auto& b) {
                                return a.sop_instance_uid() == b.sop_instance_uid();
                              }),
                  m.members.end());
  m.series = series.size();
  m.studies = studies.size();
  return m;
}

template <typename Proto>
absl::StatusOr<std::optional<Proto>> ReadProto(KvStore* kv, const std::string& key,
                                               const rocksdb::Snapshot* snapshot,
                                               absl::string_view what) {
  ASSIGN_OR_RETURN(std::optional<std::string> raw, kv->Get(Cf::kDicom, key, snapshot));
  if (!raw) return std::optional<Proto>();
  Proto proto;
  if (!proto.ParseFromString(*raw)) {
    return absl::DataLossError(absl::StrCat(what, ": stored value does not decode"));
  }
  return std::optional<Proto>(std::move(proto));
}

// Releases a RocksDB snapshot.
class Snapshot {
 public:
  explicit Snapshot(rocksdb::DB* db) : db_(db), snapshot_(db->GetSnapshot()) {}
  ~Snapshot() { db_->ReleaseSnapshot(snapshot_); }
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;
  const rocksdb::Snapshot* get() const { return snapshot_; }

 private:
  rocksdb::DB* db_;
  const rocksdb::Snapshot* snapshot_;
};

}  // namespace

absl::Status ValidateManifestName(absl::string_view name) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("manifest name '", name, "': ", why));
  };
  if (name.empty()) return bad("empty");
  if (name.size() > kMaxManifestNameBytes) return bad(absl::StrCat("longer than ", kMaxManifestNameBytes, " bytes"));
  if (name[0] == '.') return bad("starts with '.'");
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' &&
        c != '-') {
      return bad("only letters, digits, '.', '_' and '-' are allowed");
    }
  }
  return absl::OkStatus();
}

// The mutation of Freeze; a friend of Txn (raw `dicom` column family access).
class ManifestOps {
 public:
  ManifestOps(Txn& txn, const ManifestStoreOptions& options) : txn_(txn), options_(options) {}

  // Allocates the next version of record->name() and writes the header,
  // the member pages and the version counter; fills version and created_ns.
  absl::Status Write(const std::vector<v1::ManifestMember>& members, v1::ManifestRecord* record) {
    const std::string& dataset = record->dataset();
    const std::string& name = record->name();
    std::string latest_key = dicom::ManifestLatestKey(dataset, name);
    ASSIGN_OR_RETURN(std::optional<std::string> latest, txn_.Get(Cf::kDicom, latest_key));
    const uint64_t version = (latest ? DecodeU64(*latest) : 0) + 1;
    std::string header_key = dicom::ManifestKey(dataset, name, version);
    ASSIGN_OR_RETURN(std::optional<std::string> taken, txn_.Get(Cf::kDicom, header_key));
    if (taken) {  // the counter and the headers disagree: never overwrite
      return absl::InternalError(absl::StrCat(What("freezing", dataset, name), ": version ",
                                              version, " exists but the counter says ",
                                              version - 1));
    }
    const uint32_t per_page = std::max<uint32_t>(1, options_.page_members);
    uint32_t pages = 0;
    for (size_t at = 0; at < members.size(); at += per_page, ++pages) {
      v1::ManifestPage page;
      size_t end = std::min(members.size(), at + per_page);
      for (size_t i = at; i < end; ++i) *page.add_members() = members[i];
      txn_.Put(Cf::kDicom, dicom::ManifestPageKey(dataset, name, version, pages),
               page.SerializeAsString());
    }
    record->set_version(version);
    record->set_created_ns(txn_.now_ns());
    record->set_pages(pages);
    record->set_page_members(per_page);
    txn_.Put(Cf::kDicom, header_key, record->SerializeAsString());
    txn_.Put(Cf::kDicom, latest_key, EncodeU64(version));
    return absl::OkStatus();
  }

 private:
  Txn& txn_;
  const ManifestStoreOptions& options_;
};

absl::Status ManifestStore::CheckDataset(absl::string_view dataset, absl::string_view doing) {
  ASSIGN_OR_RETURN(std::optional<std::string> raw,
                   store_->kv_->Get(Cf::kDicom, dicom::DatasetKey(dataset)));
  if (!raw) return absl::NotFoundError(absl::StrCat(doing, ": no dataset '", dataset, "'"));
  return absl::OkStatus();
}

absl::StatusOr<v1::ManifestRecord> ManifestStore::Freeze(
    const v1::FreezeManifestRequest& request) {
  const std::string what = What("freezing", request.dataset(), request.name());
  RETURN_IF_ERROR(Annotate(ValidateManifestName(request.name()), what));
  absl::StatusOr<Matches> matches =
      RunQuery(dicom_, request, std::max<uint32_t>(1, options_.query_page));
  if (!matches.ok()) return Annotate(matches.status(), what);
  v1::ManifestRecord record;
  record.set_dataset(request.dataset());
  record.set_name(request.name());
  record.set_expression(request.expression());
  record.set_level(request.level());
  record.set_instances(matches->members.size());
  record.set_series(matches->series);
  record.set_studies(matches->studies);
  record.set_bytes(matches->bytes);
  v1::ManifestRecord written;
  RETURN_IF_ERROR(store_->pipeline_->Run([&](Txn& txn) {
    written = record;
    return ManifestOps(txn, options_).Write(matches->members, &written);
  }));
  return written;
}

namespace {

// Reads members [at, end) of one version, with their index records when
// asked, until the reply's byte budget is spent.
class MemberReader {
 public:
  MemberReader(KvStore* kv, const rocksdb::Snapshot* snapshot, const v1::ManifestRecord& record,
               std::string what)
      : kv_(kv), snapshot_(snapshot), record_(record), what_(std::move(what)) {}

  // Appends members from `at` to `end` to `reply`; returns where it stopped.
  absl::StatusOr<uint64_t> Read(uint64_t at, uint64_t end, bool with_records, size_t budget,
                                v1::GetManifestReply* reply) {
    if (record_.page_members() == 0) {
      return absl::DataLossError(absl::StrCat(what_, ": header has no page size"));
    }
    size_t bytes = 0;
    while (at < end) {
      std::vector<v1::ManifestMember> batch;
      for (uint64_t i = at; i < end && batch.size() < kBatch; ++i) {
        ASSIGN_OR_RETURN(const v1::ManifestMember* m, Member(i));
        batch.push_back(*m);
      }
      std::vector<v1::DicomInstance> records;
      if (with_records) {
        ASSIGN_OR_RETURN(records, Records(batch));
      }
      for (size_t i = 0; i < batch.size(); ++i) {
        size_t size = batch[i].ByteSizeLong() + 4 + (with_records ? records[i].ByteSizeLong() + 4 : 0);
        if (reply->members_size() > 0 && bytes + size > budget) return at;
        bytes += size;
        *reply->add_members() = std::move(batch[i]);
        if (with_records) *reply->add_records() = std::move(records[i]);
        ++at;
      }
    }
    return at;
  }

 private:
  static constexpr size_t kBatch = 256;

  absl::StatusOr<const v1::ManifestMember*> Member(uint64_t index) {
    const uint32_t page = static_cast<uint32_t>(index / record_.page_members());
    if (!page_ || page != page_number_) {
      ASSIGN_OR_RETURN(page_, ReadProto<v1::ManifestPage>(
                                  kv_,
                                  dicom::ManifestPageKey(record_.dataset(), record_.name(),
                                                         record_.version(), page),
                                  snapshot_, absl::StrCat(what_, ": page ", page)));
      if (!page_) return absl::DataLossError(absl::StrCat(what_, ": page ", page, " is missing"));
      page_number_ = page;
    }
    const uint64_t slot = index % record_.page_members();
    if (slot >= static_cast<uint64_t>(page_->members_size())) {
      return absl::DataLossError(absl::StrCat(what_, ": page ", page, " is short"));
    }
    return &page_->members(static_cast<int>(slot));
  }

  // The index records of `batch`, with one MultiGet.
  absl::StatusOr<std::vector<v1::DicomInstance>> Records(
      const std::vector<v1::ManifestMember>& batch) {
    std::vector<std::string> keys;
    for (const auto& m : batch) keys.push_back(dicom::InstanceKey(record_.dataset(), m.sop_instance_uid()));
    std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot_;
    kv_->db()->MultiGet(ro, kv_->handle(Cf::kDicom), keys.size(), slices.data(), values.data(),
                        statuses.data(), /*sorted_input=*/false);
    std::vector<v1::DicomInstance> records(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      const std::string& uid = batch[i].sop_instance_uid();
      if (statuses[i].IsNotFound()) {
        return absl::FailedPreconditionError(
            absl::StrCat(what_, ": member ", uid, " is no longer in the DICOM index"));
      }
      RETURN_IF_ERROR(FromRocksStatus(statuses[i], absl::StrCat(what_, ": member ", uid)));
      if (!records[i].ParseFromArray(values[i].data(), static_cast<int>(values[i].size()))) {
        return absl::DataLossError(
            absl::StrCat(what_, ": index record of member ", uid, " does not decode"));
      }
      if (records[i].inode() != batch[i].inode()) {
        return absl::FailedPreconditionError(absl::StrCat(
            what_, ": member ", uid, " was frozen at inode ", batch[i].inode(),
            ", the index now names inode ", records[i].inode()));
      }
    }
    return records;
  }

  KvStore* const kv_;
  const rocksdb::Snapshot* const snapshot_;
  const v1::ManifestRecord& record_;
  const std::string what_;
  std::optional<v1::ManifestPage> page_;
  uint32_t page_number_ = 0;
};

}  // namespace

absl::StatusOr<v1::GetManifestReply> ManifestStore::Get(const v1::GetManifestRequest& request) {
  const std::string what = What("reading", request.dataset(), request.name());
  RETURN_IF_ERROR(Annotate(ValidateManifestName(request.name()), what));
  RETURN_IF_ERROR(CheckDataset(request.dataset(), what));
  uint64_t version = request.version(), offset = 0;
  if (!request.cursor().empty()) {
    if (request.cursor().size() != kCursorBytes) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": the cursor is not GetManifest's"));
    }
    const uint64_t pinned = DecodeId(request.cursor());
    if (version != 0 && version != pinned) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": the cursor belongs to version ",
                                                     pinned, ", not ", version));
    }
    version = pinned;
    offset = DecodeId(absl::string_view(request.cursor()).substr(8));
  }
  KvStore* kv = store_->kv_.get();
  Snapshot snapshot(kv->db());
  const std::string latest_key = dicom::ManifestLatestKey(request.dataset(), request.name());
  ASSIGN_OR_RETURN(std::optional<std::string> latest,
                   kv->Get(Cf::kDicom, latest_key, snapshot.get()));
  if (!latest) return absl::NotFoundError(absl::StrCat(what, ": no such manifest"));
  if (version == 0) version = DecodeU64(*latest);
  const std::string versioned = absl::StrCat(what, " version ", version);
  ASSIGN_OR_RETURN(std::optional<v1::ManifestRecord> record,
                   ReadProto<v1::ManifestRecord>(
                       kv, dicom::ManifestKey(request.dataset(), request.name(), version),
                       snapshot.get(), versioned));
  if (!record) {
    return absl::NotFoundError(absl::StrCat(what, ": no version ", version, " (versions 1 to ",
                                            DecodeU64(*latest), ")"));
  }
  if (offset > record->instances()) {
    return absl::InvalidArgumentError(absl::StrCat(versioned, ": the cursor is past the end"));
  }
  const uint64_t limit = request.limit() == 0 ? options_.default_limit : request.limit();
  const uint64_t end = std::min<uint64_t>(record->instances(), offset + std::max<uint64_t>(1, limit));
  v1::GetManifestReply reply;
  *reply.mutable_manifest() = *record;
  MemberReader reader(kv, snapshot.get(), *record, versioned);
  ASSIGN_OR_RETURN(uint64_t stopped, reader.Read(offset, end, request.with_records(),
                                                 options_.reply_bytes, &reply));
  if (stopped < record->instances()) reply.set_cursor(EncodeId(version) + EncodeId(stopped));
  return reply;
}

absl::StatusOr<v1::ListManifestsReply> ManifestStore::List(
    const v1::ListManifestsRequest& request) {
  const std::string doing = absl::StrCat("listing manifests of dataset '", request.dataset(), "'");
  RETURN_IF_ERROR(CheckDataset(request.dataset(), doing));
  std::string prefix = request.name().empty()
                           ? dicom::ManifestDatasetPrefix(request.dataset())
                           : dicom::ManifestNamePrefix(request.dataset(), request.name());
  std::string upper = dicom::PrefixSuccessor(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  auto it = store_->kv_->NewIterator(Cf::kDicom, ro);
  v1::ListManifestsReply reply;
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    v1::ManifestRecord* record = reply.add_manifests();
    if (!record->ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(absl::StrCat(doing, ": header ", it->key().ToString(),
                                              " does not decode"));
    }
  }
  RETURN_IF_ERROR(FromRocksStatus(it->status(), doing));
  return reply;
}

}  // namespace medfs::meta
