// Per-method Prometheus metrics of a gRPC server: how many calls each RPC
// method received, how many ended with an error, and how long each took from
// its arrival to its status being sent.
//
//   MetricsRegistry registry;
//   RpcMetrics rpc_metrics(&registry, {v1::MetaService::service_full_name()});
//   builder.experimental().SetInterceptorCreators(rpc_metrics.InterceptorCreators());
//
// Exposed as
//   medfs_rpcs_total{method="Lookup"}            calls received
//   medfs_rpc_errors_total{method="Lookup"}      calls answered with an error
//   medfs_rpc_seconds{method="Lookup"}           latency histogram
// Methods are the services' methods known at construction (from the
// generated descriptors); calls of any other method are counted under
// method="other".
//
// Thread safety: the counters are atomics; the interceptors run on gRPC's
// threads. The RpcMetrics object must outlive the server.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/metrics/metrics.h"
#include "grpcpp/support/server_interceptor.h"

namespace medfs::meta {

class RpcMetrics {
 public:
  // The counters of one method.
  struct Method {
    Counter* calls = nullptr;
    Counter* errors = nullptr;
    Histogram* seconds = nullptr;
  };

  // Registers the metrics of every method of the named services (full
  // protobuf service names such as "medfs.v1.MetaService") in `registry`,
  // which must outlive this object.
  RpcMetrics(MetricsRegistry* registry, const std::vector<std::string>& services);

  // Interceptor factories to hand to the ServerBuilder (one per server).
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
  InterceptorCreators();

  // The counters of a method by its gRPC path ("/medfs.v1.MetaService/Lookup"),
  // those of method="other" when it is unknown.
  const Method& ForPath(const char* path) const;

 private:
  absl::flat_hash_map<std::string, Method> by_path_;
  Method other_;
};

}  // namespace medfs::meta
