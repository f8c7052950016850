// medfs data-plane transport: one libfabric FI_EP_RDM endpoint with
// request/reply messaging and RMA, as DESIGN.md ("Two planes") describes.
//
// The same code runs on `tcp;ofi_rxm` (default), `shm` and `efa`: the
// endpoint asks fi_getinfo for FI_MSG | FI_RMA (+ FI_HMEM when asked) and
// adapts to the MR modes the provider requires (FI_MR_LOCAL,
// FI_MR_VIRT_ADDR, FI_MR_PROV_KEY, FI_MR_ALLOCATED, FI_MR_HMEM). It relies
// on no tagged matching and no message ordering, uses FI_CONTEXT2
// contexts and manual progress driven by one progress thread per endpoint.
//
// Calls: a caller sends a request with Call(); it completes either by a
// reply message, or — for reads — by the server writing the data straight
// into the caller's registered buffer with RMA and the call's 32-bit id as
// remote completion data (ReplyWithWrite). So a successful read costs one
// request message and one RMA write.
//
// Thread safety: every method may be called from any thread. Handlers run
// on the progress thread and must not block: hand work to a pool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace medfs::fabric {

struct EndpointOptions {
  // libfabric provider name, e.g. "tcp;ofi_rxm", "shm", "efa".
  std::string provider = "tcp;ofi_rxm";
  // Address to bind; for tcp an IPv4 address. Empty: provider default.
  std::string node = "127.0.0.1";
  // Port (tcp) to bind; "0" or empty: any free port.
  std::string service = "0";
  // Request FI_HMEM (device memory registration). Fails Open() with
  // kUnimplemented when the provider does not offer it.
  bool want_hmem = false;
  // Largest request or reply message, header included (bytes).
  size_t max_message_bytes = 16 * 1024;
  // Receive buffers kept posted (bounds unhandled incoming messages).
  size_t posted_receives = 256;
  // Calls in flight from this endpoint before Call() blocks (backpressure).
  size_t max_outstanding_calls = 1024;
  // Registered send buffers of max_message_bytes each; further sends queue
  // (copied) until one is free, so Reply() never blocks.
  size_t send_buffers = 128;
  // Longest a blocking RMA (Write, Read, ReplyWithWrite, PullFromCaller)
  // waits for its completion before failing with kUnavailable.
  absl::Duration rma_timeout = absl::Seconds(30);
};

// Counters of one endpoint, for tests, metrics and logs.
struct EndpointStats {
  // Received messages dropped: bad magic/version/kind/length, truncated.
  uint64_t malformed_messages = 0;
  // Replies or reply-writes whose call was unknown (timed out, or never).
  uint64_t unmatched_replies = 0;
  // Requests dropped because no handler was installed.
  uint64_t unhandled_requests = 0;
  // Calls failed by their timeout.
  uint64_t calls_timed_out = 0;
  // Posts that returned -FI_EAGAIN and were retried.
  uint64_t posts_retried = 0;
};

// A peer's registered buffer, carried inside requests (3 x 8 bytes). The
// address is already in the provider's addressing mode (a virtual address
// with FI_MR_VIRT_ADDR, else the offset into the region): use it verbatim.
struct RemoteBuffer {
  uint64_t address = 0;
  uint64_t key = 0;
  uint64_t length = 0;
};

// A registered memory region. Obtained from Endpoint::Register; owned by the
// endpoint's registration cache and valid until the endpoint is destroyed or
// Deregister() is called.
class MemoryRegion {
 public:
  virtual ~MemoryRegion() = default;
  virtual void* data() const = 0;
  virtual size_t size() const = 0;
  // Local descriptor to pass to RMA calls (fi_mr_desc).
  virtual void* descriptor() const = 0;
  // What a peer needs to RMA into/out of [offset, offset+length) of this
  // region: address in the provider's addressing mode plus the key.
  virtual RemoteBuffer Remote(size_t offset, size_t length) const = 0;
};

// Opaque handle to a peer inserted in the address vector.
using PeerId = uint64_t;

// An incoming request, delivered to the request handler. One thread at a
// time; it may be moved to a pool thread and may outlive the Endpoint (its
// Reply* calls then fail with kCancelled).
//
// Destroying a request that was never answered sends the caller an error
// reply, so its Call fails at once with kUnavailable ("request dropped by
// the server without a reply") instead of waiting for its timeout.
class IncomingRequest {
 public:
  virtual ~IncomingRequest() = default;
  // The request payload (valid until destruction).
  virtual absl::string_view payload() const = 0;
  // Sends `reply` as the reply message. Exactly one successful Reply* per
  // request; never blocks, so it may be called on the progress thread.
  // Errors: kInvalidArgument when the reply exceeds max_message_bytes;
  // kFailedPrecondition when already replied; kCancelled after shutdown.
  virtual absl::Status Reply(absl::string_view reply) = 0;
  // Writes [data, data+length) from `local` (registered) into `remote` with
  // the request id as remote completion data; completes the caller's Call
  // with an empty reply. Blocks until the local completion, so never call
  // it on the progress thread (kFailedPrecondition). On error the request
  // is still unanswered: Reply() with an error payload, or drop it.
  // Errors: kInvalidArgument (outside `local` or `remote`), kUnavailable
  // (transport failure or rma_timeout), kCancelled (shutdown).
  virtual absl::Status ReplyWithWrite(const MemoryRegion& local,
                                      const void* data, size_t length,
                                      const RemoteBuffer& remote) = 0;
  // As ReplyWithWrite, but never blocks, so it may be called on the
  // progress thread and a server thread need not wait for the transfer.
  // `done` runs exactly once: on the progress thread when the local
  // completion arrives (`local` may be reused from then on), or on this
  // thread when the write cannot start. `local`, `data` and this request
  // must stay alive until then: give `done` ownership of them. On error the
  // request is still unanswered: Reply() with an error from `done`.
  virtual void ReplyWithWriteAsync(const MemoryRegion& local,
                                   const void* data, size_t length,
                                   const RemoteBuffer& remote,
                                   absl::AnyInvocable<void(absl::Status)> done) = 0;
  // Reads `length` bytes from the caller's `remote` buffer into `data`
  // inside `local` (registered). Blocks until complete. Used by writes: the
  // server pulls the bytes. May be called before the reply (not after).
  // Same blocking rule and errors as ReplyWithWrite.
  virtual absl::Status PullFromCaller(const MemoryRegion& local, void* data,
                                      size_t length,
                                      const RemoteBuffer& remote) = 0;
  // The caller, for logs and for the server's own calls back.
  virtual PeerId peer() const = 0;
};

using RequestHandler = std::function<void(std::unique_ptr<IncomingRequest>)>;

class Endpoint {
 public:
  // Opens fabric, domain, address vector, completion queue and endpoint,
  // posts receives and starts the progress thread. Errors name the provider
  // and what was missing, e.g. "fi_getinfo(provider=efa): No data available".
  static absl::StatusOr<std::unique_ptr<Endpoint>> Open(
      const EndpointOptions& options);
  // Stops the progress thread and fails pending calls (kCancelled) and
  // blocked RMA; libfabric objects close in reverse order once no
  // IncomingRequest is held any more. Regions from Register() die with it.
  virtual ~Endpoint() = default;

  // Raw fi_getname() bytes: what a peer passes to Connect().
  virtual std::string address() const = 0;
  // Human-readable address, e.g. "fi_sockaddr_in://127.0.0.1:41234".
  virtual std::string DescribeAddress() const = 0;
  // Name of the provider actually in use, e.g. "tcp;ofi_rxm".
  virtual std::string provider() const = 0;
  virtual bool supports_hmem() const = 0;
  // What fi_getinfo returned that shapes our behaviour, one line, e.g.
  // "provider=tcp;ofi_rxm mr_mode=[FI_MR_LOCAL] cq_data_size=8 ...".
  virtual std::string DescribeProvider() const { return provider(); }
  virtual EndpointStats stats() const { return {}; }

  // Inserts `raw_address` into the address vector (cached: the same
  // address always returns the same PeerId). Connectionless: succeeds even
  // when nobody listens there; calls to such a peer fail later.
  virtual absl::StatusOr<PeerId> Connect(absl::string_view raw_address) = 0;

  // Registers [data, data+length) for local use and remote read+write.
  // Cached: registering a range inside an existing registration returns it.
  // Never call per request on a hot path: register pools once (see
  // BufferPool). Errors: kInvalidArgument for an empty range, fi_mr_reg
  // failures ("registering N bytes at 0x...: <fi_strerror>").
  virtual absl::StatusOr<const MemoryRegion*> Register(void* data,
                                                       size_t length) = 0;
  // Closes `region` — for every holder, since the cache shares regions.
  virtual void Deregister(const MemoryRegion* region) = 0;

  // Installs the handler of incoming requests. Call before the first peer
  // sends (until then requests get an error reply); replaces any previous
  // handler. The handler runs on the progress thread and must not block.
  virtual void SetRequestHandler(RequestHandler handler) = 0;

  // Sends `request` to `peer` and calls `done` exactly once, normally on the
  // progress thread (so `done` must not block), with the reply payload,
  // with an empty payload when the server answered with ReplyWithWrite, or
  // with an error: kUnavailable for a transport failure, an error reply, or
  // when `timeout` passes without a reply ("call N to <peer>: timed out
  // after 2s"); kInvalidArgument (on the calling thread) when the request
  // exceeds max_message_bytes; kCancelled when the endpoint shuts down.
  // After a timeout the caller must not reuse any buffer it exposed in the
  // request (a late RMA could still land in it); late replies are dropped.
  // Blocks while max_outstanding_calls are in flight, except on the
  // progress thread (from a callback or handler), where it never blocks.
  using ReplyCallback = std::function<void(absl::StatusOr<std::string>)>;
  virtual void Call(PeerId peer, absl::string_view request,
                    absl::Duration timeout, ReplyCallback done) = 0;

  // Blocking form of Call. Never call it on the progress thread.
  absl::StatusOr<std::string> CallAndWait(PeerId peer,
                                          absl::string_view request,
                                          absl::Duration timeout);

  // Writes `length` bytes from `data` (inside registered `local`) into a
  // peer's `remote` buffer without completion data; blocks until the bytes
  // are in the peer's memory (FI_DELIVERY_COMPLETE), so a message sent
  // afterwards may tell the peer they are there. Not on the progress
  // thread. Errors as IncomingRequest::ReplyWithWrite.
  // Used by chunkserver-to-chunkserver forwarding and benchmarks.
  virtual absl::Status Write(PeerId peer, const MemoryRegion& local,
                             const void* data, size_t length,
                             const RemoteBuffer& remote) = 0;
  // Reads `length` bytes of a peer's `remote` buffer into `data` (inside
  // registered `local`); blocks until complete.
  virtual absl::Status Read(PeerId peer, const MemoryRegion& local,
                            void* data, size_t length,
                            const RemoteBuffer& remote) = 0;
};

}  // namespace medfs::fabric
