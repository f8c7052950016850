#include "cli/ingest/cluster_store.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/meta_client.h"
#include "common/status.h"

namespace medfs::ingest {
namespace {

// The extents of [start, start + length) of the batch, rebased to 0.
void SliceExtents(const client::FileContent& pack, uint64_t start, uint64_t length,
                  v1::IngestFileEntry* entry) {
  uint64_t end = start + length;
  for (const v1::Extent& e : pack.extents) {
    uint64_t e_end = e.file_offset() + e.length();
    uint64_t from = std::max(start, e.file_offset());
    uint64_t to = std::min(end, e_end);
    if (from >= to) continue;
    v1::Extent* piece = entry->add_extents();
    piece->set_file_offset(from - start);
    piece->set_chunk_id(e.chunk_id());
    piece->set_chunk_offset(e.chunk_offset() + (from - e.file_offset()));
    piece->set_length(to - from);
    for (const v1::SealedChunk& sealed : pack.sealed_chunks) {
      if (sealed.chunk_id() != e.chunk_id()) continue;
      bool listed = false;
      for (const v1::SealedChunk& s : entry->sealed_chunks()) {
        listed |= s.chunk_id() == sealed.chunk_id();
      }
      if (!listed) *entry->add_sealed_chunks() = sealed;
    }
  }
}

}  // namespace

std::unique_ptr<v1::DicomService::Stub> NewDicomStub(const std::string& meta_address) {
  client::MetaClientOptions options;
  options.address = meta_address;
  return v1::DicomService::NewStub(client::NewMetaChannel(options));
}

absl::Status CallWithRetries(
    absl::Duration timeout, absl::Duration budget,
    const std::function<grpc::Status(grpc::ClientContext*)>& call) {
  absl::Time give_up = absl::Now() + budget;
  absl::Duration backoff = absl::Milliseconds(50);
  while (true) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    absl::Status status = client::FromGrpcStatus(call(&context));
    if (status.code() != absl::StatusCode::kUnavailable || absl::Now() >= give_up) {
      return status;
    }
    absl::SleepFor(backoff);  // meta restarting: wait, then retry
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

ClusterInstanceStore::ClusterInstanceStore(client::Client* client,
                                           ClusterStoreOptions options)
    : client_(client), options_(std::move(options)),
      stub_(NewDicomStub(options_.meta_address)) {}

absl::StatusOr<v1::IngestFilesReply> ClusterInstanceStore::Commit(
    const v1::IngestFilesRequest& request) {
  v1::IngestFilesReply reply;
  absl::Status status = CallWithRetries(
      options_.call_timeout, options_.retry_budget, [&](grpc::ClientContext* context) {
        return stub_->IngestFiles(context, request, &reply);
      });
  if (!status.ok()) {
    return Annotate(status, absl::StrCat("committing ", request.files_size(),
                                         " files to dataset ", options_.dataset,
                                         " at ", options_.meta_address));
  }
  return reply;
}

std::vector<absl::StatusOr<StoreResult>> ClusterInstanceStore::StoreBatch(
    std::vector<StoreItem>& batch) {
  auto fail_all = [&](const absl::Status& status) {
    return std::vector<absl::StatusOr<StoreResult>>(batch.size(), status);
  };
  absl::StatusOr<std::unique_ptr<client::FileWriter>> writer = client_->NewWriter();
  if (!writer.ok()) return fail_all(writer.status());
  std::vector<uint64_t> offsets;
  for (const StoreItem& item : batch) {
    offsets.push_back((*writer)->size());
    absl::Status appended = (*writer)->Append(
        {reinterpret_cast<const std::byte*>(item.instance.bytes.data()),
         item.instance.bytes.size()});
    if (!appended.ok()) return fail_all(appended);
  }
  absl::StatusOr<client::FileContent> pack = (*writer)->Finish();
  if (!pack.ok()) return fail_all(pack.status());
  v1::IngestFilesRequest request;
  request.set_dataset(options_.dataset);
  request.set_deidentification(options_.deidentification);
  for (size_t i = 0; i < batch.size(); ++i) {
    v1::IngestFileEntry* entry = request.add_files();
    entry->set_path(batch[i].path);
    entry->set_size(batch[i].instance.bytes.size());
    SliceExtents(*pack, offsets[i], batch[i].instance.bytes.size(), entry);
    *entry->mutable_dicom() = batch[i].instance.record;
  }
  absl::StatusOr<v1::IngestFilesReply> reply = Commit(request);
  if (!reply.ok()) return fail_all(reply.status());
  std::vector<absl::StatusOr<StoreResult>> results;
  for (int i = 0; i < static_cast<int>(batch.size()); ++i) {
    if (i >= reply->results_size()) {
      results.push_back(absl::InternalError("meta returned too few results"));
      continue;
    }
    const v1::IngestFileResult& r = reply->results(i);
    switch (r.outcome()) {
      case v1::INGEST_OUTCOME_STORED: results.push_back(StoreResult::kStored); break;
      case v1::INGEST_OUTCOME_ALREADY_PRESENT:
        results.push_back(StoreResult::kAlreadyPresent);
        break;
      case v1::INGEST_OUTCOME_CONFLICT:
        results.push_back(absl::AlreadyExistsError(r.message()));
        break;
      default:
        results.push_back(absl::InvalidArgumentError(r.message()));
    }
  }
  return results;
}

}  // namespace medfs::ingest
