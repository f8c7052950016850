#include "chunkserver/data_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status.h"

namespace medfs::chunkserver {

using dataplane::Op;
using dataplane::Reply;

// Lets the endpoint's handler reach the service only while it is running:
// a handler invocation may still be under way on the progress thread after
// SetRequestHandler() replaced it. Shared with forwarded calls' callbacks,
// which count themselves here, so Stop() can wait for them without the
// last one touching the service after it is gone.
struct DataService::Gate {
  absl::Mutex mu;  // Never held while calling into the service.
  DataService* service ABSL_GUARDED_BY(mu) = nullptr;
  // Requests inside Accept() now (the handler does not hold `mu` while it
  // runs: a read served there may complete, and count down, at once).
  int accepting ABSL_GUARDED_BY(mu) = 0;
  // Completions still to run that use the service (forwards of writes,
  // async read replies); Stop() waits for them and for `accepting`.
  int callbacks_in_flight ABSL_GUARDED_BY(mu) = 0;
};

// One WRITE in progress: the local part and the downstream part run in
// parallel; the last to finish replies.
struct DataService::WriteOp {
  std::unique_ptr<fabric::IncomingRequest> request;
  dataplane::WriteRequest write;
  fabric::PooledBuffer buffer;
  bool created = false;  // this request created the chunk (FIRST)

  absl::Mutex mu;
  int parts_left ABSL_GUARDED_BY(mu) = 0;
  absl::Status local ABSL_GUARDED_BY(mu);
  ChunkState state ABSL_GUARDED_BY(mu);
  absl::Status downstream ABSL_GUARDED_BY(mu);
  uint64_t failed_server ABSL_GUARDED_BY(mu) = 0;
};

namespace {

dataplane::ChunkInfo ToInfo(const ChunkState& state) {
  return dataplane::ChunkInfo{state.exists, state.sealed, state.length,
                              state.crc32c};
}

// The op a malformed request was meant to be, for its error reply.
Op GuessOp(absl::string_view payload) {
  if (payload.size() >= 2 && payload[1] >= 1 && payload[1] <= 5) {
    return static_cast<Op>(payload[1]);
  }
  return Op::kPing;
}

uint64_t Micros(absl::Duration d) {
  return static_cast<uint64_t>(absl::ToInt64Microseconds(d));
}

}  // namespace

// ------------------------------------------------------------ lifecycle

DataService::DataService(fabric::Endpoint* endpoint, ChunkStore* store,
                         fabric::BufferPool* pool,
                         const DataServiceOptions& options)
    : endpoint_(endpoint),
      store_(store),
      pool_(pool),
      options_(options),
      gate_(std::make_shared<Gate>()) {}

absl::StatusOr<std::unique_ptr<DataService>> DataService::Start(
    fabric::Endpoint* endpoint, ChunkStore* store, fabric::BufferPool* pool,
    const DataServiceOptions& options) {
  if (options.io_threads == 0 || options.queue_depth == 0) {
    return absl::InvalidArgumentError(
        "starting data service: io_threads and queue_depth must be positive");
  }
  if (pool->buffer_bytes() < kBufferBytes ||
      pool->buffer_count() < options.io_threads) {
    return absl::InvalidArgumentError(absl::StrCat(
        "starting data service: need at least ", options.io_threads,
        " buffers of ", kBufferBytes, " bytes, the pool has ",
        pool->buffer_count(), " of ", pool->buffer_bytes()));
  }
  std::unique_ptr<DataService> service(
      new DataService(endpoint, store, pool, options));
  for (size_t i = 0; i < options.io_threads; ++i) {
    service->workers_.emplace_back([s = service.get()] { s->WorkerLoop(); });
  }
  {
    absl::MutexLock lock(&service->gate_->mu);
    service->gate_->service = service.get();
  }
  endpoint->SetRequestHandler(
      [gate = service->gate_](std::unique_ptr<fabric::IncomingRequest> r) {
        DataService* accepting = nullptr;
        {
          absl::MutexLock lock(&gate->mu);
          accepting = gate->service;
          if (accepting != nullptr) ++gate->accepting;
        }
        if (accepting != nullptr) {
          accepting->Accept(std::move(r));
          absl::MutexLock lock(&gate->mu);  // the service may stop after this
          --gate->accepting;
          return;
        }
        std::string reply;
        Reply::FromStatus(GuessOp(r->payload()),
                          absl::UnavailableError("chunkserver shutting down"))
            .EncodeTo(&reply);
        (void)r->Reply(reply);
      });
  return service;
}

DataService::~DataService() { Stop(); }

void DataService::Stop() {
  {
    absl::MutexLock lock(&gate_->mu);
    if (gate_->service == nullptr && workers_.empty()) return;
    gate_->service = nullptr;
  }
  std::deque<Work> abandoned;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    abandoned.swap(queue_);
  }
  for (Work& work : abandoned) {
    SendStatus(*work.request, dataplane::RequestOp(work.decoded),
               absl::UnavailableError("chunkserver shutting down"));
  }
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
  absl::MutexLock lock(&gate_->mu);
  gate_->mu.Await(absl::Condition(
      +[](Gate* gate) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return gate->callbacks_in_flight == 0 && gate->accepting == 0;
      },
      gate_.get()));
}

DataServiceStats DataService::stats() {
  DataServiceStats s;
  {
    absl::MutexLock lock(&mu_);
    s.queued = queue_.size();
  }
  s.reads = counters_.reads.load();
  s.writes = counters_.writes.load();
  s.read_bytes = counters_.read_bytes.load();
  s.zero_copy_reads = counters_.zero_copy_reads.load();
  s.inline_reads = counters_.inline_reads.load();
  s.around_cache_reads = counters_.around_cache_reads.load();
  s.write_bytes = counters_.write_bytes.load();
  s.busy_replies = counters_.busy_replies.load();
  s.malformed = counters_.malformed.load();
  s.errors = counters_.errors.load();
  s.write_queue_us = counters_.write_queue_us.load();
  s.write_pull_us = counters_.write_pull_us.load();
  s.write_store_us = counters_.write_store_us.load();
  s.write_seal_us = counters_.write_seal_us.load();
  s.write_forward_us = counters_.write_forward_us.load();
  s.seals = counters_.seals.load();
  return s;
}

// ------------------------------------------------------ progress thread

void DataService::Accept(std::unique_ptr<fabric::IncomingRequest> request) {
  absl::StatusOr<dataplane::Request> decoded =
      dataplane::DecodeRequest(request->payload());
  if (!decoded.ok()) {
    counters_.malformed++;
    MEDFS_LOG(WARNING) << "request from peer " << request->peer() << ": "
                       << decoded.status().message();
    SendStatus(*request, GuessOp(request->payload()), decoded.status());
    return;
  }
  Op op = dataplane::RequestOp(*decoded);
  if (op == Op::kPing) {
    SendStatus(*request, op, absl::OkStatus());
    return;
  }
  if (auto* read = std::get_if<dataplane::ReadRequest>(&*decoded);
      read != nullptr && TryReadInline(request, *read)) {
    return;
  }
  absl::MutexLock lock(&mu_);
  if (stopping_ || queue_.size() >= options_.queue_depth) {
    counters_.busy_replies++;
    SendStatus(*request, op,
               stopping_ ? absl::UnavailableError("chunkserver shutting down")
                         : absl::ResourceExhaustedError(absl::StrCat(
                               "chunkserver busy: ", queue_.size(),
                               " requests queued")));
    return;
  }
  queue_.push_back(Work{std::move(request), *std::move(decoded), absl::Now()});
}

bool DataService::TryReadInline(std::unique_ptr<fabric::IncomingRequest>& request,
                                const dataplane::ReadRequest& read) {
  if (options_.mapped_region == nullptr) return false;
  absl::StatusOr<std::optional<MappedRead>> mapped = store_->ReadMapped(
      read.chunk_id, read.offset, read.length, ChunkStore::MapMode::kOnlyIfMapped);
  // Errors and everything not mapped and cached go to a worker, which
  // answers them as it answers any READ.
  if (!mapped.ok() || !mapped->has_value()) return false;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return false;  // a worker-less queue answers "shutting down"
  }
  counters_.reads++;
  counters_.zero_copy_reads++;
  counters_.inline_reads++;
  // Stop() cannot finish meanwhile: it waits for this Accept() too.
  CountCallback();
  // When the write cannot start, the completion runs right here (and
  // counts down under gate_->mu, which is why the handler does not hold it).
  const char* data = (*mapped)->data;
  ReplyWithData(std::move(request), read, *options_.mapped_region, data,
                **std::move(mapped));
  return true;
}

// --------------------------------------------------------------- workers

void DataService::WorkerLoop() {
  while (true) {
    Work work;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](DataService* s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return s->stopping_ || !s->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    Serve(work);
  }
}

void DataService::Serve(Work& work) {
  if (auto* read = std::get_if<dataplane::ReadRequest>(&work.decoded)) {
    ServeRead(std::move(work.request), *read);
  } else if (auto* write = std::get_if<dataplane::WriteRequest>(&work.decoded)) {
    counters_.write_queue_us += Micros(absl::Now() - work.queued_at);
    ServeWrite(std::move(work.request), *write);
  } else if (auto* del = std::get_if<dataplane::DeleteRequest>(&work.decoded)) {
    ServeDelete(*work.request, del->chunk_id);
  } else if (auto* stat = std::get_if<dataplane::StatRequest>(&work.decoded)) {
    ServeStat(*work.request, stat->chunk_id);
  } else {
    SendStatus(*work.request, dataplane::RequestOp(work.decoded),
               absl::OkStatus());
  }
}

absl::StatusOr<fabric::PooledBuffer> DataService::AcquireBuffer(
    uint64_t chunk_id) {
  absl::StatusOr<fabric::PooledBuffer> buffer =
      pool_->Acquire(options_.buffer_wait);
  if (!buffer.ok()) {
    counters_.busy_replies++;
    return absl::ResourceExhaustedError(
        absl::StrCat("chunkserver busy: no bounce buffer for chunk ",
                     chunk_id, ": ", buffer.status().message()));
  }
  return buffer;
}

void DataService::ServeRead(std::unique_ptr<fabric::IncomingRequest> request,
                            const dataplane::ReadRequest& read) {
  counters_.reads++;
  if (options_.mapped_region != nullptr) {
    absl::StatusOr<std::optional<MappedRead>> mapped =
        store_->ReadMapped(read.chunk_id, read.offset, read.length);
    if (!mapped.ok()) return SendStatus(*request, Op::kRead, mapped.status());
    if (mapped->has_value()) {
      counters_.zero_copy_reads++;
      CountCallback();
      const char* data = (*mapped)->data;
      return ReplyWithData(std::move(request), read, *options_.mapped_region,
                           data, **std::move(mapped));
    }
  }
  absl::StatusOr<fabric::PooledBuffer> buffer = AcquireBuffer(read.chunk_id);
  if (!buffer.ok()) return SendStatus(*request, Op::kRead, buffer.status());
  const ChunkStore::Caching caching =
      read.cached_by_reader() && !options_.page_cache_for_caching_readers
          ? ChunkStore::Caching::kBypassWhenNotCached
          : ChunkStore::Caching::kUsePageCache;
  bool around_cache = false;
  absl::StatusOr<const char*> data =
      store_->Read(read.chunk_id, read.offset, read.length, buffer->data(), buffer->size(),
                   caching, &around_cache);
  if (!data.ok()) return SendStatus(*request, Op::kRead, data.status());
  if (around_cache) counters_.around_cache_reads++;
  const fabric::MemoryRegion& region = buffer->region();
  CountCallback();
  ReplyWithData(std::move(request), read, region, *data, *std::move(buffer));
}

void DataService::CountCallback() {
  absl::MutexLock lock(&gate_->mu);
  ++gate_->callbacks_in_flight;
}

namespace {
void ReleaseHold(fabric::PooledBuffer& buffer) { buffer.Release(); }
void ReleaseHold(MappedRead& mapped) { mapped.Release(); }
}  // namespace

template <typename Hold>
void DataService::ReplyWithData(std::unique_ptr<fabric::IncomingRequest> request,
                                const dataplane::ReadRequest& read,
                                const fabric::MemoryRegion& region,
                                const char* data, Hold hold) {
  // The worker does not wait for the transfer: `hold` and the request go
  // with the completion, which runs on the progress thread. Stop() waits
  // for it (it uses this service and may return a buffer to the pool): the
  // caller has counted it in callbacks_in_flight.
  fabric::IncomingRequest& answered = *request;
  answered.ReplyWithWriteAsync(
      region, data, read.length, read.destination,
      [this, gate = gate_, request = std::move(request), hold = std::move(hold),
       chunk_id = read.chunk_id, length = read.length](absl::Status written) mutable {
        if (written.ok()) {
          counters_.read_bytes += length;
        } else {
          counters_.errors++;
          MEDFS_LOG(WARNING) << "reading chunk " << chunk_id << " for peer "
                             << request->peer() << ": " << written.message();
          // Still unanswered: the caller gets the cause, not a timeout.
          SendStatus(*request, Op::kRead, written);
        }
        ReleaseHold(hold);
        request.reset();
        absl::MutexLock lock(&gate->mu);  // `this` may be gone after this
        --gate->callbacks_in_flight;
      });
}

void DataService::ServeDelete(fabric::IncomingRequest& request,
                              uint64_t chunk_id) {
  SendStatus(request, Op::kDelete, store_->Delete(chunk_id));
}

void DataService::ServeStat(fabric::IncomingRequest& request,
                            uint64_t chunk_id) {
  Reply reply = Reply::FromStatus(Op::kStat, absl::OkStatus(), server_id());
  reply.chunk = ToInfo(store_->Stat(chunk_id));
  Send(request, reply);
}

// ----------------------------------------------------------------- WRITE

void DataService::ServeWrite(std::unique_ptr<fabric::IncomingRequest> request,
                             const dataplane::WriteRequest& write) {
  counters_.writes++;
  auto op = std::make_shared<WriteOp>();
  op->request = std::move(request);
  op->write = write;
  absl::StatusOr<fabric::PooledBuffer> buffer = AcquireBuffer(write.chunk_id);
  if (!buffer.ok()) return SendStatus(*op->request, Op::kWrite, buffer.status());
  op->buffer = *std::move(buffer);
  if (write.first()) {
    absl::Status created = store_->Create(write.chunk_id);
    if (!created.ok()) return SendStatus(*op->request, Op::kWrite, created);
    op->created = true;
  }
  if (write.length > 0) {
    const absl::Time pull_start = absl::Now();
    absl::Status pulled = op->request->PullFromCaller(
        op->buffer.region(), op->buffer.data(), write.length, write.source);
    if (!pulled.ok()) {
      (void)store_->Abort(write.chunk_id);
      return SendStatus(
          *op->request, Op::kWrite,
          absl::UnavailableError(absl::StrCat(
              "pulling a piece of chunk ", write.chunk_id,
              " from the writer: ", pulled.message())));
    }
    counters_.write_pull_us += Micros(absl::Now() - pull_start);
  }
  {
    absl::MutexLock lock(&op->mu);
    op->parts_left = write.chain.empty() ? 1 : 2;
  }
  if (!write.chain.empty()) Forward(op);
  StoreLocally(*op);
  PartDone(op);
}

void DataService::StoreLocally(WriteOp& op) {
  const dataplane::WriteRequest& w = op.write;
  const absl::Time start = absl::Now();
  absl::StatusOr<ChunkState> state =
      store_->Append(w.chunk_id, w.offset, op.buffer.data(), w.length);
  const absl::Time stored = absl::Now();
  counters_.write_store_us += Micros(stored - start);
  if (state.ok() && w.seal()) {
    state = store_->Seal(w.chunk_id, w.total_length);
    counters_.write_seal_us += Micros(absl::Now() - stored);
    counters_.seals++;
  }
  absl::MutexLock lock(&op.mu);
  if (state.ok()) {
    op.state = *state;
  } else {
    op.local = state.status();
  }
}

void DataService::Forward(const std::shared_ptr<WriteOp>& op) {
  const dataplane::ChainLink& next = op->write.chain.front();
  auto fail = [op, id = next.server_id](absl::string_view cause,
                                        uint64_t failed) {
    absl::MutexLock lock(&op->mu);
    op->failed_server = failed != 0 ? failed : id;
    op->downstream = absl::UnavailableError(
        absl::StrCat("forwarding chunk ", op->write.chunk_id, " to server ",
                     id, ": ", cause));
  };
  absl::StatusOr<fabric::PeerId> peer =
      endpoint_->Connect(next.fabric_address);
  if (!peer.ok()) {
    fail(peer.status().message(), 0);
    return PartDone(op);
  }
  dataplane::WriteRequest downstream = op->write;
  downstream.source = op->buffer.Remote(0, op->write.length);
  downstream.chain.erase(downstream.chain.begin());
  std::string encoded;
  downstream.EncodeTo(&encoded);
  {
    absl::MutexLock lock(&gate_->mu);
    ++gate_->callbacks_in_flight;
  }
  endpoint_->Call(
      *peer, encoded, options_.forward_timeout,
      [this, gate = gate_, op, fail,
       sent = absl::Now()](absl::StatusOr<std::string> payload) {
        counters_.write_forward_us += Micros(absl::Now() - sent);
        if (!payload.ok()) {
          fail(payload.status().ToString(), 0);
        } else if (auto reply = dataplane::DecodeReply(Op::kWrite, *payload);
                   !reply.ok()) {
          fail(reply.status().message(), 0);
        } else if (!reply->status().ok()) {
          fail(reply->status().ToString(), reply->server_id);
        }
        PartDone(op);
        absl::MutexLock lock(&gate->mu);  // `this` may be gone after this
        --gate->callbacks_in_flight;
      });
}

void DataService::PartDone(const std::shared_ptr<WriteOp>& op) {
  {
    absl::MutexLock lock(&op->mu);
    if (--op->parts_left > 0) return;
  }
  FinishWrite(*op);
}

void DataService::FinishWrite(WriteOp& op) {
  const uint64_t id = op.write.chunk_id;
  absl::Status local, downstream;
  ChunkState state;
  uint64_t failed_server = 0;
  {
    absl::MutexLock lock(&op.mu);
    local = op.local;
    downstream = op.downstream;
    state = op.state;
    failed_server = op.failed_server;
  }
  if (local.ok() && downstream.ok()) {
    counters_.write_bytes += op.write.length;
    Reply reply = Reply::FromStatus(Op::kWrite, absl::OkStatus(), server_id());
    reply.chunk = ToInfo(state);
    Send(*op.request, reply);
  } else {
    // The writer starts over elsewhere: drop our copy, sealed or not.
    if (state.sealed) {
      (void)store_->Delete(id);
    } else {
      (void)store_->Abort(id);
    }
    if (!local.ok()) {
      SendStatus(*op.request, Op::kWrite, local);
    } else {
      counters_.errors++;
      Send(*op.request, Reply::FromStatus(Op::kWrite, downstream,
                                          failed_server));
    }
  }
  op.buffer.Release();
}

// ----------------------------------------------------------------- replies

void DataService::Send(fabric::IncomingRequest& request, const Reply& reply) {
  std::string encoded;
  reply.EncodeTo(&encoded);
  absl::Status sent = request.Reply(encoded);
  if (!sent.ok()) {
    MEDFS_LOG(WARNING) << "replying to " << dataplane::OpName(reply.op)
                       << " from peer " << request.peer() << ": "
                       << sent.message();
  }
}

void DataService::SendStatus(fabric::IncomingRequest& request, Op op,
                             const absl::Status& status) {
  if (!status.ok() && status.code() != absl::StatusCode::kResourceExhausted &&
      status.code() != absl::StatusCode::kInvalidArgument) {
    counters_.errors++;
  }
  Send(request, Reply::FromStatus(op, status, server_id()));
}

}  // namespace medfs::chunkserver
