// Endpoint: the public handle over EndpointCore.
#include "common/fabric/endpoint.h"

#include <memory>
#include <utility>

#include "absl/synchronization/notification.h"
#include "common/fabric/endpoint_core.h"
#include "common/status.h"

namespace medfs::fabric {
namespace {

using internal::EndpointCore;
using internal::RmaKind;

class FabricEndpoint final : public Endpoint {
 public:
  explicit FabricEndpoint(std::shared_ptr<EndpointCore> core)
      : core_(std::move(core)) {}
  // Stops progress and fails what is pending; libfabric objects close when
  // the last IncomingRequest still held by a handler is gone.
  ~FabricEndpoint() override { core_->Shutdown(); }

  std::string address() const override { return core_->address(); }
  std::string DescribeAddress() const override {
    return core_->DescribeAddress();
  }
  std::string provider() const override { return core_->provider(); }
  bool supports_hmem() const override { return core_->supports_hmem(); }
  std::string DescribeProvider() const override {
    return core_->provider_facts();
  }
  EndpointStats stats() const override { return core_->stats(); }

  absl::StatusOr<PeerId> Connect(absl::string_view raw_address) override {
    return core_->Connect(raw_address);
  }
  absl::StatusOr<const MemoryRegion*> Register(void* data,
                                               size_t length) override {
    return core_->registrations().Register(data, length);
  }
  void Deregister(const MemoryRegion* region) override {
    core_->registrations().Deregister(region);
  }
  void SetRequestHandler(RequestHandler handler) override {
    core_->SetRequestHandler(std::move(handler));
  }
  void Call(PeerId peer, absl::string_view request, absl::Duration timeout,
            ReplyCallback done) override {
    core_->Call(peer, request, timeout, std::move(done));
  }
  absl::Status Write(PeerId peer, const MemoryRegion& local, const void* data,
                     size_t length, const RemoteBuffer& remote) override {
    return core_->Rma(RmaKind::kWrite, peer, local, const_cast<void*>(data),
                      length, remote, 0);
  }
  absl::Status Read(PeerId peer, const MemoryRegion& local, void* data,
                    size_t length, const RemoteBuffer& remote) override {
    return core_->Rma(RmaKind::kRead, peer, local, data, length, remote, 0);
  }

 private:
  std::shared_ptr<EndpointCore> core_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Endpoint>> Endpoint::Open(
    const EndpointOptions& options) {
  ASSIGN_OR_RETURN(std::shared_ptr<EndpointCore> core,
                   EndpointCore::Open(options));
  return std::make_unique<FabricEndpoint>(std::move(core));
}

absl::StatusOr<std::string> Endpoint::CallAndWait(PeerId peer,
                                                  absl::string_view request,
                                                  absl::Duration timeout) {
  struct Result {
    absl::Notification done;
    absl::StatusOr<std::string> value;
  };
  auto result = std::make_shared<Result>();
  Call(peer, request, timeout, [result](absl::StatusOr<std::string> value) {
    result->value = std::move(value);
    result->done.Notify();
  });
  result->done.WaitForNotification();
  return std::move(result->value);
}

}  // namespace medfs::fabric
