// ManifestStore: frozen query results ("manifests") of the DICOM index, kept
// in the `dicom` column family next to the index they were taken from (key
// formats in manifest_keys.h and README.md).
//
// A manifest is named per dataset and versioned: Freeze runs a query and
// stores the instances it matched as the next version (1, 2, ...) of that
// name. A written version never changes: a training run and its evaluation
// that name (dataset, name, version) see the same instances whatever is
// ingested later. The header, every member page and the version counter go
// into ONE MetaStore mutation — one synced RocksDB write batch (group
// commit) — so a crash leaves the whole version or nothing of it, and two
// concurrent freezes of one name get distinct versions.
//
// Members are (SOPInstanceUID, inode) in SOPInstanceUID order; Get can
// return each member's instance record too (looked up by key, never by
// running the query again). Index records are immutable once ingested, so
// that is the record the query saw.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/proto/medfs.pb.h"
#include "meta/dicom/dicom_store.h"
#include "meta/store/meta_store.h"

namespace medfs::meta {

struct ManifestStoreOptions {
  // Members per stored page (one RocksDB value each). Default 1024; only
  // new versions use a changed value (each header records its own).
  uint32_t page_members = 1024;
  // Instances fetched per query page while freezing. Default 10000.
  uint32_t query_page = 10000;
  // Get: members per reply when the request gives no limit. Default 10000.
  uint32_t default_limit = 10000;
  // Get: a reply stops growing past this many bytes of members and records
  // (at least one member is returned). Default 2 MiB, under gRPC's default
  // 4 MiB message limit.
  size_t reply_bytes = 2u << 20;
};

class ManifestStore {
 public:
  // `store` and `dicom` must outlive this object.
  ManifestStore(MetaStore* store, DicomStore* dicom, ManifestStoreOptions options = {})
      : store_(store), dicom_(dicom), options_(options) {}

  // Runs the query (instance level; `level` is recorded) and stores the
  // matches as the next version. Every instance ingested before Freeze
  // started is judged; one ingested while it runs may or may not be.
  // Errors: kInvalidArgument (manifest name, expression), kNotFound
  // (dataset); nothing is written on error.
  absl::StatusOr<v1::ManifestRecord> Freeze(const v1::FreezeManifestRequest& request);

  // One page of a version's members (version 0: the latest; a cursor pins
  // the version it was issued for). Errors: kNotFound (dataset, manifest,
  // version), kInvalidArgument (cursor, or a version that differs from the
  // cursor's), kFailedPrecondition (with_records: a member's index record
  // is gone or names another inode), kDataLoss (a stored value does not
  // decode).
  absl::StatusOr<v1::GetManifestReply> Get(const v1::GetManifestRequest& request);

  // Every version of the dataset's manifests (or of one name), by name then
  // version. Errors: kNotFound (dataset).
  absl::StatusOr<v1::ListManifestsReply> List(const v1::ListManifestsRequest& request);

 private:
  absl::Status CheckDataset(absl::string_view dataset, absl::string_view doing);

  // Constant after construction.
  MetaStore* const store_;
  DicomStore* const dicom_;
  const ManifestStoreOptions options_;
};

// kInvalidArgument unless `name` is 1..128 bytes of [A-Za-z0-9._-] not
// starting with '.' ('@' separates a version in "NAME@VERSION").
absl::Status ValidateManifestName(absl::string_view name);

}  // namespace medfs::meta
