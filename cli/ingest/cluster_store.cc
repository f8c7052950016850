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

// One batch: every added file is appended to the same FileWriter as it
// arrives (its bytes are copied into the writer's buffers and sent while
// the batch fills); Commit seals the chunks and commits all the files
// with their index records in one IngestFiles call.
class ClusterInstanceStore::Batch : public StoreBatchWriter {
 public:
  explicit Batch(ClusterInstanceStore* store) : store_(store) {
    request_.set_dataset(store_->options_.dataset);
    request_.set_deidentification(store_->options_.deidentification);
  }

  absl::Status Add(StoreItem* item) override {
    if (writer_ == nullptr) {
      ASSIGN_OR_RETURN(writer_, store_->client_->NewWriter());
    }
    const std::string& bytes = item->instance.bytes;
    offsets_.push_back(writer_->size());
    RETURN_IF_ERROR(writer_->Append(
        {reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()}));
    v1::IngestFileEntry* entry = request_.add_files();
    entry->set_path(std::move(item->path));
    entry->set_size(bytes.size());
    *entry->mutable_dicom() = std::move(item->instance.record);
    return absl::OkStatus();
  }

  std::vector<absl::StatusOr<StoreResult>> Commit() override {
    size_t n = request_.files_size();
    auto fail_all = [n](const absl::Status& status) {
      return std::vector<absl::StatusOr<StoreResult>>(n, status);
    };
    if (writer_ == nullptr) return {};
    absl::StatusOr<client::FileContent> pack = writer_->Finish();
    if (!pack.ok()) return fail_all(pack.status());
    for (size_t i = 0; i < n; ++i) {
      v1::IngestFileEntry* entry = request_.mutable_files(static_cast<int>(i));
      SliceExtents(*pack, offsets_[i], entry->size(), entry);
    }
    absl::StatusOr<v1::IngestFilesReply> reply = store_->Commit(request_);
    if (!reply.ok()) return fail_all(reply.status());
    return Results(*reply, n);
  }

 private:
  static std::vector<absl::StatusOr<StoreResult>> Results(
      const v1::IngestFilesReply& reply, size_t n) {
    std::vector<absl::StatusOr<StoreResult>> results;
    for (int i = 0; i < static_cast<int>(n); ++i) {
      if (i >= reply.results_size()) {
        results.push_back(absl::InternalError("meta returned too few results"));
        continue;
      }
      const v1::IngestFileResult& r = reply.results(i);
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

  ClusterInstanceStore* const store_;
  std::unique_ptr<client::FileWriter> writer_;  // created at the first Add
  std::vector<uint64_t> offsets_;               // of each file in the writer
  v1::IngestFilesRequest request_;
};

std::unique_ptr<StoreBatchWriter> ClusterInstanceStore::NewBatch() {
  return std::make_unique<Batch>(this);
}

std::vector<absl::StatusOr<StoreResult>> ClusterInstanceStore::StoreBatch(
    std::vector<StoreItem>& items) {
  Batch batch(this);
  for (StoreItem& item : items) {
    absl::Status added = batch.Add(&item);
    if (!added.ok()) return std::vector<absl::StatusOr<StoreResult>>(items.size(), added);
  }
  return batch.Commit();
}

}  // namespace medfs::ingest
