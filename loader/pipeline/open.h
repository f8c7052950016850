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
  SplitOptions split;
  LoaderOptions loader;
  // Cluster mode: fabric provider of the client's endpoint.
  std::string fabric_provider = "tcp;ofi_rxm";
};

inline bool IsLocal(const OpenOptions& o) {
  return o.meta.empty() || o.meta == "local" || o.meta == "file";
}

// Lists the dataset, filters it and creates the loader.
// Errors: kInvalidArgument (query, options), kNotFound (dataset),
// kFailedPrecondition (nothing matches), kUnavailable (cluster down),
// kUnimplemented (cluster mode in a build without the client library).
absl::StatusOr<std::unique_ptr<Loader>> OpenLoader(const OpenOptions& options);

// True when this build can read from a cluster.
bool HaveClusterSupport();

}  // namespace medfs::loader
