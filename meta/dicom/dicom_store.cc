// DicomStore's mutation: IngestFiles (see dicom_store.h). The reads are in
// dicom_query_ops.cc.
#include "meta/dicom/dicom_store.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "meta/dicom/dicom_keys.h"
#include "meta/dicom/dicom_query.h"
#include "meta/store/commit_pipeline.h"
#include "meta/store/keys.h"
#include "meta/store/ops/common.h"
#include "meta/store/txn.h"

namespace medfs::meta {

// The mutation logic; a friend of MetaStore and Txn (minimal hooks there).
class DicomIngestOps {
 public:
  DicomIngestOps(MetaStore* store, Txn& txn, const v1::IngestFilesRequest& request)
      : store_(store), txn_(txn), request_(request) {}

  absl::Status Run(v1::IngestFilesReply* reply);

 private:
  absl::Status EnsureDataset();
  absl::StatusOr<uint64_t> EnsureDirectory(uint64_t parent, const std::string& name);
  absl::Status IngestOne(const v1::IngestFileEntry& entry, v1::IngestFileResult* result);
  absl::Status CountGroup(char kind, const std::string& value, uint64_t* counter);

  template <typename Proto>
  absl::StatusOr<std::optional<Proto>> GetProto(const std::string& key) {
    ASSIGN_OR_RETURN(std::optional<std::string> raw, txn_.Get(Cf::kDicom, key));
    if (!raw) return std::optional<Proto>();
    Proto proto;
    if (!proto.ParseFromString(*raw)) {
      return absl::DataLossError(absl::StrCat("dicom index: cannot decode key ", key));
    }
    return std::optional<Proto>(std::move(proto));
  }

  MetaStore* store_;
  Txn& txn_;
  const v1::IngestFilesRequest& request_;
  v1::DatasetRecord dataset_;
  v1::DatasetStats stats_;
};

absl::Status DicomIngestOps::EnsureDataset() {
  const std::string& name = request_.dataset();
  RETURN_IF_ERROR(ops::ValidateName(name, absl::StrCat("ingest into dataset '", name, "'")));
  ASSIGN_OR_RETURN(std::optional<v1::DatasetRecord> record,
                   GetProto<v1::DatasetRecord>(dicom::DatasetKey(name)));
  if (record) {
    if (record->deidentification() != request_.deidentification()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "ingest into dataset '", name, "': it holds files de-identified with '",
          record->deidentification(), "', this batch with '",
          request_.deidentification(), "'"));
    }
    dataset_ = *std::move(record);
  } else {
    ASSIGN_OR_RETURN(uint64_t inode, EnsureDirectory(kRootInode, name));
    dataset_.set_name(name);
    dataset_.set_inode(inode);
    dataset_.set_created_ns(txn_.now_ns());
    dataset_.set_deidentification(request_.deidentification());
    txn_.Put(Cf::kDicom, dicom::DatasetKey(name), dataset_.SerializeAsString());
  }
  ASSIGN_OR_RETURN(std::optional<v1::DatasetStats> stats,
                   GetProto<v1::DatasetStats>(dicom::StatsKey(name)));
  if (stats) stats_ = *std::move(stats);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> DicomIngestOps::EnsureDirectory(uint64_t parent,
                                                         const std::string& name) {
  ASSIGN_OR_RETURN(auto entry, txn_.GetDentry(parent, name));
  if (entry) {
    if (entry->type() != v1::FILE_TYPE_DIRECTORY) {
      return absl::FailedPreconditionError(absl::StrCat(
          ops::Where("ingest", parent, name), ": not a directory"));
    }
    return entry->inode();
  }
  v1::MkDirRequest mkdir;
  mkdir.set_parent(parent);
  mkdir.set_name(name);
  mkdir.set_mode(0755);
  *mkdir.mutable_owner() = request_.owner();
  v1::Inode dir;
  RETURN_IF_ERROR(store_->MkDirLogic(txn_, mkdir, &dir));
  return dir.id();
}

absl::Status DicomIngestOps::CountGroup(char kind, const std::string& value,
                                        uint64_t* counter) {
  std::string key = dicom::GroupKey(request_.dataset(), kind, value);
  ASSIGN_OR_RETURN(std::optional<std::string> raw, txn_.Get(Cf::kDicom, key));
  uint64_t count = raw ? DecodeU64(*raw) : 0;
  if (count == 0) ++*counter;
  txn_.Put(Cf::kDicom, key, EncodeU64(count + 1));
  return absl::OkStatus();
}

absl::Status DicomIngestOps::IngestOne(const v1::IngestFileEntry& entry,
                                       v1::IngestFileResult* result) {
  const v1::DicomInstance& in = entry.dicom();
  auto fail = [&](v1::IngestOutcome outcome, std::string message) {
    result->set_outcome(outcome);
    result->set_message(std::move(message));
    return absl::OkStatus();
  };
  if (in.sop_instance_uid().empty()) {
    return fail(v1::INGEST_OUTCOME_FAILED, "missing SOPInstanceUID");
  }
  const std::string& dataset = request_.dataset();
  std::string key = dicom::InstanceKey(dataset, in.sop_instance_uid());
  ASSIGN_OR_RETURN(std::optional<v1::DicomInstance> existing,
                   GetProto<v1::DicomInstance>(key));
  if (existing) {
    result->set_inode(existing->inode());
    if (existing->sha256() == in.sha256()) {
      return fail(v1::INGEST_OUTCOME_ALREADY_PRESENT, existing->path());
    }
    return fail(v1::INGEST_OUTCOME_CONFLICT,
                absl::StrCat("SOPInstanceUID ", in.sop_instance_uid(),
                             " is already stored with other content at ", dataset, "/",
                             existing->path()));
  }
  std::vector<std::string> parts = absl::StrSplit(entry.path(), '/');
  for (const std::string& part : parts) {
    absl::Status valid = ops::ValidateName(part, absl::StrCat("path ", entry.path()));
    if (!valid.ok()) return fail(v1::INGEST_OUTCOME_FAILED, std::string(valid.message()));
  }
  uint64_t parent = dataset_.inode();
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    absl::StatusOr<uint64_t> dir = EnsureDirectory(parent, parts[i]);
    if (!dir.ok()) return fail(v1::INGEST_OUTCOME_FAILED, std::string(dir.status().message()));
    parent = *dir;
  }
  ASSIGN_OR_RETURN(auto taken, txn_.GetDentry(parent, parts.back()));
  if (taken) {
    return fail(v1::INGEST_OUTCOME_CONFLICT,
                absl::StrCat(dataset, "/", entry.path(), " exists and holds another instance"));
  }
  v1::CreateFileRequest create;
  create.set_parent(parent);
  create.set_name(parts.back());
  create.set_mode(request_.mode() == 0 ? 0644 : request_.mode());
  *create.mutable_owner() = request_.owner();
  create.set_exclusive(true);
  *create.mutable_extents() = entry.extents();
  create.set_size(entry.size());
  *create.mutable_sealed_chunks() = entry.sealed_chunks();
  v1::InodeReply file;
  RETURN_IF_ERROR(store_->CreateFileLogic(txn_, create, &file));
  v1::DicomInstance record = in;
  record.set_path(entry.path());
  record.set_inode(file.inode().id());
  txn_.Put(Cf::kDicom, key, record.SerializeAsString());
  for (std::string& index : dicom::IndexKeys(dataset, record)) {
    txn_.Put(Cf::kDicom, index, "");
  }
  uint64_t patients = stats_.patients(), studies = stats_.studies(),
           series = stats_.series();
  RETURN_IF_ERROR(CountGroup('P', record.patient_id(), &patients));
  RETURN_IF_ERROR(CountGroup('T', record.study_instance_uid(), &studies));
  RETURN_IF_ERROR(CountGroup('R', record.series_instance_uid(), &series));
  stats_.set_patients(patients);
  stats_.set_studies(studies);
  stats_.set_series(series);
  stats_.set_instances(stats_.instances() + 1);
  stats_.set_bytes(stats_.bytes() + entry.size());
  (*stats_.mutable_modalities())[record.modality()] += 1;
  result->set_outcome(v1::INGEST_OUTCOME_STORED);
  result->set_inode(file.inode().id());
  return absl::OkStatus();
}

absl::Status DicomIngestOps::Run(v1::IngestFilesReply* reply) {
  RETURN_IF_ERROR(EnsureDataset());
  for (const v1::IngestFileEntry& entry : request_.files()) {
    RETURN_IF_ERROR(IngestOne(entry, reply->add_results()));
  }
  txn_.Put(Cf::kDicom, dicom::StatsKey(request_.dataset()), stats_.SerializeAsString());
  return absl::OkStatus();
}

absl::StatusOr<v1::IngestFilesReply> DicomStore::IngestFiles(
    const v1::IngestFilesRequest& request) {
  v1::IngestFilesReply reply;
  RETURN_IF_ERROR(store_->pipeline_->Run([&](Txn& txn) {
    reply.Clear();
    DicomIngestOps ops(store_, txn, request);
    return ops.Run(&reply);
  }));
  return reply;
}

}  // namespace medfs::meta
