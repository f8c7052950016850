// DicomClient: the client side of medfs-meta's DicomService for queries and
// manifests (frozen, versioned query results; meta/dicom/README.md).
//
// Every call gets a deadline (`call_timeout`; FreezeManifest and the pages
// of a big read run the query or read many pages, so they get
// `long_call_timeout`). UNAVAILABLE (meta restarting) is retried with
// backoff until `retry_budget` has passed, as MetaClient does; every other
// outcome is returned at once with gRPC's code and message. A retried
// FreezeManifest whose first reply was lost after meta committed it stores
// one more version with the same members: the version returned is the one
// to use.
//
// Errors (from meta): kNotFound (dataset, manifest, version),
// kInvalidArgument (expression, manifest name, cursor), kFailedPrecondition
// (a manifest member's index record is gone), kUnavailable (meta
// unreachable past the retry budget, naming the address).
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/meta_client.h"
#include "common/proto/medfs.grpc.pb.h"

namespace medfs::client {

// "NAME" (version 0: the latest) or "NAME@VERSION" (VERSION >= 1).
struct ManifestRef {
  std::string name;
  uint64_t version = 0;
};
// kInvalidArgument for an empty name or a VERSION that is not a positive
// integer. The name itself is checked by meta.
absl::StatusOr<ManifestRef> ParseManifestRef(absl::string_view text);
std::string FormatManifestRef(const ManifestRef& ref);

// One manifest version read whole.
struct Manifest {
  v1::ManifestRecord header;
  std::vector<v1::ManifestMember> members;  // SOPInstanceUID order
  std::vector<v1::DicomInstance> records;   // parallel to members when asked
};

struct DicomClientOptions {
  MetaClientOptions meta;  // address, call_timeout, retry budget, backoff
  // Deadline of a FreezeManifest, and of one manifest page. Default 5 min.
  absl::Duration long_call_timeout = absl::Minutes(5);
};

class DicomClient {
 public:
  // Opens its own channel to options.meta.address (NewMetaChannel).
  explicit DicomClient(DicomClientOptions options);

  const std::string& address() const { return options_.meta.address; }

  // One page of a query (QueryDicomRequest.cursor for the next).
  absl::StatusOr<v1::QueryDicomReply> QueryDicom(const v1::QueryDicomRequest& request);

  // Runs `expression` on meta and stores the result as the next version of
  // (dataset, name); returns the stored header (version, counts).
  absl::StatusOr<v1::ManifestRecord> FreezeManifest(const std::string& dataset,
                                                    const std::string& name,
                                                    const std::string& expression,
                                                    v1::DicomLevel level);
  // One page (GetManifestReply.cursor for the next).
  absl::StatusOr<v1::GetManifestReply> GetManifestPage(const v1::GetManifestRequest& request);
  // Every member of one version (ref.version 0: the latest), read page by
  // page; with_records adds each member's index record.
  absl::StatusOr<Manifest> GetManifest(const std::string& dataset, const ManifestRef& ref,
                                       bool with_records);
  // Every version of the dataset's manifests (or of `name`), by name and
  // version.
  absl::StatusOr<std::vector<v1::ManifestRecord>> ListManifests(const std::string& dataset,
                                                                const std::string& name = "");

 private:
  template <typename Request, typename Reply>
  using Method = grpc::Status (v1::DicomService::Stub::*)(grpc::ClientContext*, const Request&,
                                                          Reply*);
  // Runs one RPC with a deadline of `timeout` and UNAVAILABLE retries.
  template <typename Request, typename Reply>
  absl::StatusOr<Reply> Invoke(const char* name, Method<Request, Reply> method,
                               const Request& request, absl::Duration timeout);

  // Constant after construction.
  const DicomClientOptions options_;
  const std::unique_ptr<v1::DicomService::Stub> stub_;
};

}  // namespace medfs::client
