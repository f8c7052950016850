// ClusterInstanceStore: the InstanceStore of `medfs ingest` — writes each
// batch's files through the client library and commits them with their
// index records in one IngestFiles call to medfs-meta's DicomService.
//
// Packing: the files of one batch are appended to ONE FileWriter as they
// are added (NewBatch streams: a file's bytes are copied into the writer's
// buffers and sent while the batch is still filling), so many small DICOM
// files share chunks (the writer's replicated pipeline, the dataset's
// replication factor); each file's extents are its slice of the batch's
// extents. Nothing is visible until IngestFiles commits the batch
// (files, folders, index records in one meta write batch); an interrupted
// run leaves only unreferenced chunks, which meta collects.
//
// Retries: IngestFiles is retried on UNAVAILABLE (meta restarting) within
// `retry_budget`; a retry after a lost reply answers ALREADY_PRESENT for
// what the first attempt committed, so nothing is stored twice.
//
// Thread safety: StoreBatch and NewBatch may be called from many threads;
// each batch is used by one thread at a time.
#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "cli/ingest/pipeline.h"
#include "client/client.h"
#include "common/proto/medfs.grpc.pb.h"

namespace medfs::ingest {

struct ClusterStoreOptions {
  std::string meta_address = "127.0.0.1:9400";
  std::string dataset;             // required
  std::string deidentification;    // recorded on the dataset; empty: none
  // Time spent retrying an IngestFiles that failed UNAVAILABLE. Default 60 s.
  absl::Duration retry_budget = absl::Seconds(60);
  // Deadline of one IngestFiles attempt. Default 60 s.
  absl::Duration call_timeout = absl::Seconds(60);
};

class ClusterInstanceStore : public InstanceStore {
 public:
  // `client` must outlive the store.
  ClusterInstanceStore(client::Client* client, ClusterStoreOptions options);

  std::vector<absl::StatusOr<StoreResult>> StoreBatch(
      std::vector<StoreItem>& batch) override;
  std::unique_ptr<StoreBatchWriter> NewBatch() override;

 private:
  class Batch;

  absl::StatusOr<v1::IngestFilesReply> Commit(const v1::IngestFilesRequest& request);

  // Constant after construction.
  client::Client* const client_;
  const ClusterStoreOptions options_;
  std::unique_ptr<v1::DicomService::Stub> stub_;
};

// A DicomService stub on its own channel to `meta_address` (64 MiB
// messages, fast reconnects).
std::unique_ptr<v1::DicomService::Stub> NewDicomStub(const std::string& meta_address);

// Calls `call` (one gRPC attempt with a fresh context of `timeout`) until it
// succeeds, fails with something other than UNAVAILABLE, or `budget` has
// passed.
absl::Status CallWithRetries(
    absl::Duration timeout, absl::Duration budget,
    const std::function<grpc::Status(grpc::ClientContext*)>& call);

}  // namespace medfs::ingest
