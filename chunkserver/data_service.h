// DataService: the chunkserver's data-plane request handler. It serves the
// protocol of common/dataplane/protocol.h on one fabric Endpoint.
//
// Work apart from reply: the handler installed on the endpoint runs on the
// progress thread and only decodes, answers PING, and enqueues the request
// into a bounded queue served by `io_threads` workers. A full queue is
// answered at once with kResourceExhausted "chunkserver busy" (backpressure);
// so is a request that finds no free bounce buffer within `buffer_wait`.
//
//  - READ: when the data is in the page cache and the store maps chunk files
//    into an arena registered with the endpoint (`mapped_region`), verify
//    the covering blocks in place and ReplyWithWrite straight from the page
//    cache into the reader's buffer: no copy. When the chunk's file is
//    already open and mapped, that happens right on the progress thread (no
//    disk I/O can be involved), without a hand-off to a worker. Otherwise,
//    on a worker, pread + verify into a pooled, registered bounce buffer,
//    then ReplyWithWrite from there.
//    Errors go back as a Reply (kNotFound "chunk <id>: not on this server",
//    kOutOfRange, kDataLoss, kFailedPrecondition for an unsealed chunk).
//  - WRITE: PullFromCaller into a bounce buffer; then, in parallel, write the
//    piece locally and forward it to chain[0] (a WRITE whose source is our
//    bounce buffer, with chain[1..]); the worker does not wait for the
//    downstream reply, the last of the two parts to finish replies. OK only
//    when both succeeded; on SEAL the chunk is fdatasync'ed before the reply.
//    The piece goes to disk from the bounce buffer with direct I/O (see
//    ChunkStore). stats() sums where WRITE time goes (queue, pull, store,
//    seal, downstream); medfs-chunkserver logs it when it stops.
//    A downstream failure is kUnavailable with server_id naming the failed
//    server. After any failure the local copy of the chunk is removed: the
//    writer starts over with a new chunk.
//  - DELETE, STAT: on a worker (they touch the disk or per-chunk locks).
//  - Malformed requests get a kInvalidArgument Reply naming the fault.
//
// Thread safety: thread safe. The endpoint, store and pool must outlive the
// service; Stop() (or the destructor) detaches it from the endpoint.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "chunkserver/chunk_store.h"
#include "common/dataplane/protocol.h"
#include "common/fabric/buffer_pool.h"
#include "common/fabric/endpoint.h"

namespace medfs::chunkserver {

struct DataServiceOptions {
  // Worker threads serving READ, WRITE, STAT and DELETE (default 4).
  size_t io_threads = 4;
  // Requests waiting for a worker; beyond this, "busy" (default 128).
  size_t queue_depth = 128;
  // Longest a worker waits for a free bounce buffer before answering
  // "busy" (default 1 s).
  absl::Duration buffer_wait = absl::Seconds(1);
  // Timeout of a WRITE forwarded to the next replica (default 30 s).
  absl::Duration forward_timeout = absl::Seconds(30);
  // The store's mapping arena (ChunkStoreOptions::mapping_arena) as
  // registered with the endpoint; nullptr: every READ copies through a
  // bounce buffer. Not owned.
  const fabric::MemoryRegion* mapped_region = nullptr;
  // READs flagged kReadCachedByReader (from a reader that caches the bytes
  // itself, such as the FUSE mount) of blocks this server does not have
  // cached: false (default) reads them around the page cache (O_DIRECT:
  // no second copy cached here, no copy out of the cache); true reads them
  // through it like any other READ.
  bool page_cache_for_caching_readers = false;
};

struct DataServiceStats {
  uint64_t reads = 0;          // READ requests answered (any outcome)
  uint64_t writes = 0;         // WRITE requests answered (any outcome)
  uint64_t read_bytes = 0;     // bytes written into readers' buffers
  uint64_t zero_copy_reads = 0;  // READs sent straight from the page cache
  uint64_t inline_reads = 0;     // of those, served on the progress thread
  uint64_t around_cache_reads = 0;  // READs read around the page cache
  uint64_t write_bytes = 0;    // bytes stored by successful WRITEs
  uint64_t busy_replies = 0;   // requests refused with "busy"
  uint64_t malformed = 0;      // requests that did not decode
  uint64_t errors = 0;         // error replies of any other kind
  uint64_t queued = 0;         // requests waiting for a worker now
  // Where WRITE time goes, summed over all WRITEs (microseconds): waiting
  // for a worker, pulling the piece from the sender, storing it locally
  // (pwrite, checksums, starting writeback), sealing (header, fdatasync,
  // rename, folder fsync), and waiting for the next replica's reply.
  uint64_t write_queue_us = 0;
  uint64_t write_pull_us = 0;
  uint64_t write_store_us = 0;
  uint64_t write_seal_us = 0;
  uint64_t write_forward_us = 0;
  uint64_t seals = 0;          // chunks sealed by WRITEs
};

class DataService {
 public:
  // Bytes each pooled bounce buffer must hold: the largest piece plus one
  // checksum block (a read of kMaxPieceBytes that starts mid-block).
  static constexpr size_t kBufferBytes =
      dataplane::kMaxPieceBytes + dataplane::kBlockBytes;

  // Starts the workers and installs the request handler on `endpoint`.
  // kInvalidArgument when io_threads or queue_depth is 0, when the pool's
  // buffers are smaller than kBufferBytes, or when the pool has fewer
  // buffers than io_threads.
  static absl::StatusOr<std::unique_ptr<DataService>> Start(
      fabric::Endpoint* endpoint, ChunkStore* store, fabric::BufferPool* pool,
      const DataServiceOptions& options);
  ~DataService();  // Stop()

  DataService(const DataService&) = delete;
  DataService& operator=(const DataService&) = delete;

  // Answers new requests with kUnavailable "shutting down", replies the same
  // to queued ones, waits for requests in progress (forwarded writes up to
  // forward_timeout) and joins the workers. Idempotent.
  void Stop();

  // The id meta gave this server, carried in replies (0 until registered).
  void set_server_id(uint64_t id) { server_id_.store(id); }
  uint64_t server_id() const { return server_id_.load(); }

  DataServiceStats stats();

 private:
  struct Work {
    std::unique_ptr<fabric::IncomingRequest> request;
    dataplane::Request decoded;
    absl::Time queued_at;
  };
  struct WriteOp;
  struct Gate;
  struct Counters {
    std::atomic<uint64_t> reads{0}, writes{0}, read_bytes{0}, zero_copy_reads{0},
        inline_reads{0}, around_cache_reads{0}, write_bytes{0},
        busy_replies{0}, malformed{0}, errors{0};
    std::atomic<uint64_t> write_queue_us{0}, write_pull_us{0},
        write_store_us{0}, write_seal_us{0}, write_forward_us{0}, seals{0};
  };

  DataService(fabric::Endpoint* endpoint, ChunkStore* store,
              fabric::BufferPool* pool, const DataServiceOptions& options);

  // Progress thread: decode, answer PING, enqueue or refuse.
  void Accept(std::unique_ptr<fabric::IncomingRequest> request);
  void WorkerLoop();
  void Serve(Work& work);
  // Worker: sends the bytes from the chunk file's mapping when they are
  // cached (opening and mapping the file if need be), else reads them into
  // a pool buffer; then posts the RMA write. The completion (on the
  // progress thread) releases the mapping or the buffer, so the worker
  // moves on at once.
  void ServeRead(std::unique_ptr<fabric::IncomingRequest> request,
                 const dataplane::ReadRequest& read);
  // Progress thread: serves a READ of an open, mapped chunk whose pages are
  // cached at once (verify in place + post the RMA write: no disk I/O, no
  // hand-off to a worker). False when it did not; `request` is then intact.
  bool TryReadInline(std::unique_ptr<fabric::IncomingRequest>& request,
                     const dataplane::ReadRequest& read);
  // Counts a transfer completion that Stop() must wait for.
  void CountCallback();
  // Posts the RMA write of `length` bytes at `data` (inside `region`) into
  // the reader's buffer; `hold` (a pool buffer, a mapping) is released on
  // the progress thread when the transfer is over.
  template <typename Hold>
  void ReplyWithData(std::unique_ptr<fabric::IncomingRequest> request,
                     const dataplane::ReadRequest& read,
                     const fabric::MemoryRegion& region, const char* data,
                     Hold hold);
  void ServeWrite(std::unique_ptr<fabric::IncomingRequest> request,
                  const dataplane::WriteRequest& write);
  void ServeDelete(fabric::IncomingRequest& request, uint64_t chunk_id);
  void ServeStat(fabric::IncomingRequest& request, uint64_t chunk_id);
  // Forwards op's piece to the next replica; the reply finishes one part.
  void Forward(const std::shared_ptr<WriteOp>& op);
  void StoreLocally(WriteOp& op);
  // Records one finished part of a WRITE; the last part replies.
  void PartDone(const std::shared_ptr<WriteOp>& op);
  void FinishWrite(WriteOp& op);

  absl::StatusOr<fabric::PooledBuffer> AcquireBuffer(uint64_t chunk_id);
  // Sends `reply` and counts it.
  void Send(fabric::IncomingRequest& request, const dataplane::Reply& reply);
  void SendStatus(fabric::IncomingRequest& request, dataplane::Op op,
                  const absl::Status& status);

  // Constant after construction.
  fabric::Endpoint* const endpoint_;
  ChunkStore* const store_;
  fabric::BufferPool* const pool_;
  const DataServiceOptions options_;
  std::shared_ptr<Gate> gate_;

  std::atomic<uint64_t> server_id_{0};
  Counters counters_;

  absl::Mutex mu_;
  std::deque<Work> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;  // joined by Stop()
};

}  // namespace medfs::chunkserver
