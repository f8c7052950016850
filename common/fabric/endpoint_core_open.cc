// EndpointCore setup: fi_getinfo, opening the libfabric objects, message
// buffers, and the address vector.
#include <rdma/fi_cm.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/fabric/endpoint_core.h"
#include "common/logging.h"
#include "common/status.h"

namespace medfs::fabric::internal {
namespace {

constexpr uint64_t kCaps = FI_MSG | FI_RMA | FI_SEND | FI_RECV | FI_READ |
                           FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
constexpr uint64_t kMrModes =
    FI_MR_LOCAL | FI_MR_ALLOCATED | FI_MR_PROV_KEY | FI_MR_VIRT_ADDR;

std::string NodeOrDefault(const std::string& s) { return s.empty() ? "-" : s; }

absl::StatusOr<InfoPtr> GetInfo(const EndpointOptions& options) {
  InfoPtr hints(fi_allocinfo());
  if (hints == nullptr) return absl::ResourceExhaustedError("fi_allocinfo");
  hints->ep_attr->type = FI_EP_RDM;
  hints->caps = kCaps | (options.want_hmem ? FI_HMEM : 0);
  hints->mode = FI_CONTEXT | FI_CONTEXT2 | FI_RX_CQ_DATA;
  hints->domain_attr->mr_mode =
      kMrModes | (options.want_hmem ? FI_MR_HMEM : 0);
  hints->domain_attr->threading = FI_THREAD_SAFE;
  hints->fabric_attr->prov_name = strdup(options.provider.c_str());
  // A server binds a known port: node/service name the source address.
  const char* node = options.node.empty() ? nullptr : options.node.c_str();
  const char* service = (options.service.empty() || options.service == "0")
                            ? nullptr
                            : options.service.c_str();
  const uint64_t flags = (node || service) ? FI_SOURCE : 0;
  fi_info* info = nullptr;
  int rc = fi_getinfo(FI_VERSION(FI_MAJOR_VERSION, FI_MINOR_VERSION), node,
                      service, flags, hints.get(), &info);
  if (rc != 0) {
    return FiError(
        absl::StrCat("fi_getinfo(provider=", options.provider,
                     ", node=", NodeOrDefault(options.node),
                     ", service=", NodeOrDefault(options.service),
                     options.want_hmem ? ", caps+=FI_HMEM" : "", ")"),
        rc);
  }
  return InfoPtr(info);
}

std::string BitNames(uint64_t bits,
                     std::initializer_list<std::pair<uint64_t, const char*>>
                         names) {
  std::vector<std::string> set;
  for (const auto& [bit, name] : names) {
    if (bits & bit) set.push_back(name);
  }
  return absl::StrCat("[", absl::StrJoin(set, ","), "]");
}

absl::Status ValidateOptions(const EndpointOptions& o) {
  const size_t smallest = wire::kHeaderBytes + wire::kMaxAddressBytes + 64;
  if (o.max_message_bytes < smallest || o.posted_receives == 0 ||
      o.send_buffers == 0 || o.max_outstanding_calls == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "opening fabric endpoint: need max_message_bytes >= ", smallest,
        " and non-zero posted_receives, send_buffers, max_outstanding_calls"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<EndpointCore>> EndpointCore::Open(
    const EndpointOptions& options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  const absl::Time start = absl::Now();
  auto core = std::make_shared<EndpointCore>(options);
  RETURN_IF_ERROR(core->OpenFabric());
  RETURN_IF_ERROR(core->OpenCompletionQueue());
  RETURN_IF_ERROR(core->OpenEndpoint());
  RETURN_IF_ERROR(core->SetUpBuffers());
  core->RecordProviderFacts();
  // The first Open of a process includes libfabric's one-time
  // initialisation (README.md, "Start-up cost").
  MEDFS_LOG(INFO) << "fabric endpoint " << core->DescribeAddress() << ": "
                  << core->provider_facts_ << " open_ms="
                  << absl::ToDoubleMilliseconds(absl::Now() - start);
  for (RecvOp& op : core->recv_ops_) core->PostRecv(&op);
  EndpointCore* raw = core.get();
  core->progress_thread_ = std::thread([raw] { raw->ProgressLoop(); });
  return core;
}

absl::Status EndpointCore::OpenFabric() {
  ASSIGN_OR_RETURN(info_, GetInfo(options_));
  provider_name_ = info_->fabric_attr->prov_name;
  const std::string context = absl::StrCat("opening provider ", provider_name_);
  if (info_->domain_attr->cq_data_size < 4) {
    return absl::UnimplementedError(absl::StrCat(
        context, ": remote CQ data of ", info_->domain_attr->cq_data_size,
        " bytes, need 4 for call ids"));
  }
  if (options_.max_message_bytes > info_->ep_attr->max_msg_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        context, ": max_message_bytes ", options_.max_message_bytes,
        " exceeds the provider's max_msg_size ", info_->ep_attr->max_msg_size));
  }
  hmem_ = (info_->caps & FI_HMEM) != 0;
  max_rma_bytes_ = info_->ep_attr->max_msg_size;
  fid_fabric* fabric = nullptr;
  int rc = fi_fabric(info_->fabric_attr, &fabric, nullptr);
  if (rc != 0) return FiError(absl::StrCat(context, ": fi_fabric"), rc);
  fabric_.reset(fabric);
  fid_domain* domain = nullptr;
  rc = fi_domain(fabric_.get(), info_.get(), &domain, nullptr);
  if (rc != 0) return FiError(absl::StrCat(context, ": fi_domain"), rc);
  domain_.reset(domain);
  return absl::OkStatus();
}

absl::Status EndpointCore::OpenCompletionQueue() {
  fi_cq_attr attr{};
  attr.format = FI_CQ_FORMAT_DATA;
  attr.size = options_.posted_receives + options_.send_buffers +
              options_.max_outstanding_calls + 256;
  // A file-descriptor wait object lets fi_cq_sread sleep in the kernel.
  // FI_WAIT_UNSPEC is not used: shm resolves it to FI_WAIT_YIELD, which
  // spins on sched_yield (and in 1.17 ignores the sread timeout).
  attr.wait_obj = FI_WAIT_FD;
  fid_cq* cq = nullptr;
  int rc = fi_cq_open(domain_.get(), &attr, &cq, nullptr);
  if (rc != 0) {
    MEDFS_LOG(INFO) << "provider " << provider_name_
                    << " has no fd CQ wait object (" << FiErrorText(rc)
                    << "): polling the completion queue with backoff";
    attr.wait_obj = FI_WAIT_NONE;
    use_sread_ = false;
    rc = fi_cq_open(domain_.get(), &attr, &cq, nullptr);
  }
  if (rc != 0) {
    return FiError(absl::StrCat("opening completion queue on ", provider_name_),
                   rc);
  }
  cq_.reset(cq);
  return absl::OkStatus();
}

absl::Status EndpointCore::OpenEndpoint() {
  const std::string context = absl::StrCat("opening ", provider_name_,
                                           " endpoint");
  fi_av_attr av_attr{};
  av_attr.type = info_->domain_attr->av_type != FI_AV_UNSPEC
                     ? info_->domain_attr->av_type
                     : FI_AV_TABLE;
  fid_av* av = nullptr;
  int rc = fi_av_open(domain_.get(), &av_attr, &av, nullptr);
  if (rc != 0) return FiError(absl::StrCat(context, ": fi_av_open"), rc);
  av_.reset(av);
  fid_ep* ep = nullptr;
  rc = fi_endpoint(domain_.get(), info_.get(), &ep, nullptr);
  if (rc != 0) return FiError(absl::StrCat(context, ": fi_endpoint"), rc);
  ep_.reset(ep);
  rc = fi_ep_bind(ep_.get(), &cq_->fid, FI_TRANSMIT | FI_RECV);
  if (rc != 0) return FiError(absl::StrCat(context, ": binding CQ"), rc);
  rc = fi_ep_bind(ep_.get(), &av_->fid, 0);
  if (rc != 0) return FiError(absl::StrCat(context, ": binding AV"), rc);
  rc = fi_enable(ep_.get());
  if (rc != 0) return FiError(absl::StrCat(context, ": fi_enable"), rc);
  std::string name(wire::kMaxAddressBytes, '\0');
  size_t length = name.size();
  rc = fi_getname(&ep_->fid, name.data(), &length);
  if (rc != 0 || length == 0 || length > wire::kMaxAddressBytes) {
    return FiError(absl::StrCat(context, ": fi_getname"),
                   rc != 0 ? rc : -FI_ETOOSMALL);
  }
  name.resize(length);
  address_ = std::move(name);
  return absl::OkStatus();
}

absl::Status EndpointCore::SetUpBuffers() {
  const size_t message = options_.max_message_bytes;
  ASSIGN_OR_RETURN(recv_memory_,
                   MappedMemory::Allocate(options_.posted_receives * message));
  ASSIGN_OR_RETURN(send_memory_,
                   MappedMemory::Allocate(options_.send_buffers * message));
  registrations_ = std::make_unique<RegistrationCache>(
      domain_.get(), info_->domain_attr->mr_mode);
  ASSIGN_OR_RETURN(recv_region_, registrations_->Register(
                                     recv_memory_.data(), recv_memory_.size()));
  ASSIGN_OR_RETURN(send_region_, registrations_->Register(
                                     send_memory_.data(), send_memory_.size()));
  recv_ops_.resize(options_.posted_receives);
  for (size_t i = 0; i < recv_ops_.size(); ++i) {
    recv_ops_[i].buffer = recv_memory_.data() + i * message;
  }
  send_ops_.resize(options_.send_buffers);
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < send_ops_.size(); ++i) {
    send_ops_[i].buffer = send_memory_.data() + i * message;
    free_sends_.push_back(&send_ops_[i]);
  }
  return absl::OkStatus();
}

void EndpointCore::RecordProviderFacts() {
  const fi_domain_attr& d = *info_->domain_attr;
  provider_facts_ = absl::StrCat(
      "provider=", provider_name_, " mr_mode=",
      BitNames(d.mr_mode, {{FI_MR_LOCAL, "FI_MR_LOCAL"},
                           {FI_MR_VIRT_ADDR, "FI_MR_VIRT_ADDR"},
                           {FI_MR_ALLOCATED, "FI_MR_ALLOCATED"},
                           {FI_MR_PROV_KEY, "FI_MR_PROV_KEY"},
                           {FI_MR_HMEM, "FI_MR_HMEM"},
                           {FI_MR_ENDPOINT, "FI_MR_ENDPOINT"},
                           {FI_MR_RAW, "FI_MR_RAW"}}),
      " mode=",
      BitNames(info_->mode, {{FI_CONTEXT, "FI_CONTEXT"},
                             {FI_CONTEXT2, "FI_CONTEXT2"},
                             {FI_RX_CQ_DATA, "FI_RX_CQ_DATA"},
                             {FI_MSG_PREFIX, "FI_MSG_PREFIX"}}),
      " cq_data_size=", d.cq_data_size,
      " data_progress=",
      d.data_progress == FI_PROGRESS_AUTO ? "auto" : "manual",
      " threading=", d.threading == FI_THREAD_SAFE ? "safe" : "other",
      " max_msg_size=", info_->ep_attr->max_msg_size,
      " inject_size=", info_->tx_attr->inject_size,
      " hmem=", hmem_ ? "yes" : "no",
      " cq_wait=", use_sread_.load() ? "sread" : "poll");
}

std::string EndpointCore::DescribeRaw(absl::string_view raw) const {
  // fi_av_straddr reads as many bytes as the address format needs.
  std::string padded(raw);
  padded.resize(wire::kMaxAddressBytes, '\0');
  char text[256];
  size_t length = sizeof(text);
  fi_av_straddr(av_.get(), padded.data(), text, &length);
  text[sizeof(text) - 1] = '\0';
  return text;
}

std::string EndpointCore::DescribeAddress() const {
  return DescribeRaw(address_);
}

absl::StatusOr<PeerId> EndpointCore::Connect(absl::string_view raw_address) {
  if (raw_address.empty() || raw_address.size() > wire::kMaxAddressBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "connecting to peer: address of ", raw_address.size(), " bytes"));
  }
  absl::MutexLock lock(&peers_mu_);
  std::string key(raw_address);
  if (auto it = peers_by_address_.find(key); it != peers_by_address_.end()) {
    return it->second;
  }
  const std::string text = DescribeRaw(key);
  fi_addr_t peer = FI_ADDR_NOTAVAIL;
  int rc = fi_av_insert(av_.get(), key.data(), 1, &peer, 0, nullptr);
  if (rc != 1) {
    return FiError(absl::StrCat("connecting to peer ", text,
                                ": inserting into the address vector"),
                   rc < 0 ? rc : -FI_EADDRNOTAVAIL);
  }
  peers_by_address_.emplace(std::move(key), peer);
  peer_names_.emplace(peer, text);
  return peer;
}

std::string EndpointCore::PeerName(PeerId peer) const {
  absl::MutexLock lock(&peers_mu_);
  auto it = peer_names_.find(peer);
  return it != peer_names_.end() ? it->second : absl::StrCat("peer#", peer);
}

}  // namespace medfs::fabric::internal
