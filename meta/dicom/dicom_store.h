// DicomStore: the DICOM index of medfs-meta, kept in the `dicom` column
// family next to the namespace (key formats in dicom_keys.h, README.md).
//
// IngestFiles creates a batch of files (with their directories) and their
// index records — instance record, secondary index entries, per-dataset
// counters — in ONE mutation of the MetaStore, so one synced RocksDB write
// batch: a file is visible exactly when its index record is, and a crash
// leaves all of a batch or none of it. Idempotent per (dataset,
// SOPInstanceUID): the same sha256 again is ALREADY_PRESENT, another
// sha256 a CONFLICT; nothing is ever overwritten.
//
// Query answers conjunctions of comparisons (dicom_query.h): it picks the
// most selective index range among the predicates (counting the candidate
// ranges in lock step, so the cost is bounded by the smallest one), reads
// the instance records it names, and filters by the remaining predicates;
// with no usable index it scans the dataset's instance records. Reads see
// durable state through one RocksDB snapshot.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/proto/medfs.pb.h"
#include "meta/store/meta_store.h"

namespace medfs::meta {

class DicomStore {
 public:
  // `store` must outlive this object.
  explicit DicomStore(MetaStore* store) : store_(store) {}

  // One result per file, in order. Whole-batch errors: kInvalidArgument
  // (bad dataset name), kFailedPrecondition (the dataset was created with
  // another de-identification profile, or its name is taken by a file),
  // and the MetaStore's errors for the file content (unknown chunks).
  absl::StatusOr<v1::IngestFilesReply> IngestFiles(const v1::IngestFilesRequest& request);
  // kNotFound (dataset); kInvalidArgument (expression or cursor).
  absl::StatusOr<v1::QueryDicomReply> Query(const v1::QueryDicomRequest& request);
  // kNotFound.
  absl::StatusOr<v1::DatasetInfo> GetDatasetInfo(absl::string_view dataset);
  absl::StatusOr<v1::ListDatasetsReply> ListDatasets();

 private:
  MetaStore* const store_;
};

}  // namespace medfs::meta
