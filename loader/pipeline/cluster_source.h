// The loader's cluster I/O: the dataset's index from medfs-meta's DICOM
// index (DicomService.QueryDicom), and Pixel Data bytes read straight from
// the chunkservers with the client library (replica failover, checksums)
// into the workers' registered buffers — only pixel_data_offset/length of
// each instance, never the whole file, never through FUSE.
//
// Where the dataset has no DICOM index (files copied in with `medfs put`),
// OpenCluster falls back to scanning the dataset folder and parsing each
// file's header over the data plane.
//
// Thread safety: the source is thread safe.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "loader/pipeline/catalog.h"
#include "loader/pipeline/pixel_source.h"

namespace medfs::loader {

struct ClusterSourceOptions {
  std::string meta_address;  // host:port of medfs-meta
  std::string dataset;       // top-level folder / dataset name
  std::string query;         // QueryDicom expression; empty: all
  // "NAME" or "NAME@VERSION": the members of that manifest (with their
  // index records) instead of a query; no scan fallback. Excludes `query`.
  std::string manifest;
  std::string fabric_provider = "tcp;ofi_rxm";
  // Client I/O buffers (4 MiB each) for pieces that do not land in a
  // worker's registered buffer directly (scans); pixel reads bypass them.
  size_t io_buffers = 8;
};

struct ClusterDataset {
  Catalog catalog;  // already filtered by the query
  std::shared_ptr<PixelSource> source;
  bool from_index = false;  // false: scanned
  uint64_t manifest_version = 0;  // the version read, when options.manifest is set
};

// Errors: kUnavailable (meta or chunkservers unreachable), kNotFound
// (no such dataset, manifest or version), kInvalidArgument (query,
// manifest reference), kFailedPrecondition (a manifest member is gone).
absl::StatusOr<ClusterDataset> OpenCluster(const ClusterSourceOptions& options);

}  // namespace medfs::loader
