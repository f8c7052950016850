// Opening a loader over a dataset: a local folder of DICOM files, or a
// dataset in a medfs cluster (read straight from the chunkservers).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "loader/pipeline/loader.h"

namespace medfs::loader {

struct OpenOptions {
  // medfs-meta address (host:port). Empty, "local" or "file": `dataset`
  // is a local folder.
  std::string meta;
  // Local folder, or the dataset (top-level folder) in the cluster.
  std::string dataset;
  std::string query;   // see catalog.h
  // "NAME" (latest version) or "NAME@VERSION": read the instances frozen in
  // that manifest of `dataset` (medfs manifest freeze) instead of running
  // `query`. Cluster mode only; exclusive with `query`. The split applies
  // to the manifest's members as to a query's.
  std::string manifest;
  SplitOptions split;
  LoaderOptions loader;
  // Cluster mode: fabric provider of the client's endpoint.
  std::string fabric_provider = "tcp;ofi_rxm";
};

inline bool IsLocal(const OpenOptions& o) {
  return o.meta.empty() || o.meta == "local" || o.meta == "file";
}

// Lists the dataset, filters it and creates the loader.
// Errors: kInvalidArgument (query, options, query and manifest both set, a
// manifest in local mode), kNotFound (dataset, manifest or its version),
// kFailedPrecondition (nothing matches), kUnavailable (cluster down),
// kUnimplemented (cluster mode in a build without the client library).
absl::StatusOr<std::unique_ptr<Loader>> OpenLoader(const OpenOptions& options);

// True when this build can read from a cluster.
bool HaveClusterSupport();

}  // namespace medfs::loader
