#include "meta/service/rpc_metrics.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"

namespace medfs::meta {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::InterceptorBatchMethods;
using grpc::experimental::ServerRpcInfo;

// One per call: counts it on arrival, its outcome and latency when its
// status is sent.
class CountingInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit CountingInterceptor(const RpcMetrics::Method* method)
      : method_(method), start_(std::chrono::steady_clock::now()) {
    method_->calls->Increment();
  }

  void Intercept(InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      if (!methods->GetSendStatus().ok()) method_->errors->Increment();
      method_->seconds->Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
    methods->Proceed();
  }

 private:
  const RpcMetrics::Method* const method_;
  const std::chrono::steady_clock::time_point start_;
};

class CountingFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CountingFactory(const RpcMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    return new CountingInterceptor(&metrics_->ForPath(info->method()));
  }

 private:
  const RpcMetrics* const metrics_;
};

}  // namespace

RpcMetrics::RpcMetrics(MetricsRegistry* registry, const std::vector<std::string>& services) {
  // (path, label) of every method; "other" last, with no path.
  std::vector<std::pair<std::string, std::string>> methods;
  for (const std::string& service_name : services) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service_name);
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      const std::string& name = service->method(i)->name();
      methods.emplace_back(absl::StrCat("/", service_name, "/", name), name);
    }
  }
  methods.emplace_back("", "other");
  auto method_of = [&](const std::string& path) -> Method& {
    return path.empty() ? other_ : by_path_[path];
  };
  // One metric name after the other: the exposition format wants each
  // name's samples together, under one HELP and TYPE.
  for (const auto& [path, name] : methods) {
    method_of(path).calls = registry->AddCounter(
        "medfs_rpcs_total", "RPCs received, by method.", absl::StrCat("method=\"", name, "\""));
  }
  for (const auto& [path, name] : methods) {
    method_of(path).errors =
        registry->AddCounter("medfs_rpc_errors_total", "RPCs answered with an error status, by method.",
                             absl::StrCat("method=\"", name, "\""));
  }
  for (const auto& [path, name] : methods) {
    method_of(path).seconds =
        registry->AddHistogram("medfs_rpc_seconds", "RPC latency from arrival to status sent, by method.",
                               absl::StrCat("method=\"", name, "\""));
  }
}

std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
RpcMetrics::InterceptorCreators() {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(std::make_unique<CountingFactory>(this));
  return creators;
}

const RpcMetrics::Method& RpcMetrics::ForPath(const char* path) const {
  auto it = path == nullptr ? by_path_.end() : by_path_.find(path);
  return it == by_path_.end() ? other_ : it->second;
}

}  // namespace medfs::meta
