// medfs-meta: the metadata server. Flags may come from a file:
//   medfs-meta --flagfile=meta.conf      (one --flag=value per line)
//
// main reads top to bottom: parse, check, open, serve, wait for SIGTERM or
// SIGINT, unwind in reverse.
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/resource_quota.h"
#include "meta/dicom/dicom_service.h"
#include "meta/service/meta_service.h"
#include "meta/store/meta_store.h"
#ifdef MEDFS_META_WITH_METRICS
#include "common/metrics/metrics.h"
#include "meta/service/rpc_metrics.h"
#endif

ABSL_FLAG(std::string, listen, "127.0.0.1:9400",
          "gRPC listen address (host:port, or unix:/path)");
ABSL_FLAG(std::string, db, "", "directory of the RocksDB metadata database");
ABSL_FLAG(uint32_t, default_replication, 2, "replicas per chunk by default");
ABSL_FLAG(uint64_t, max_chunk_bytes, 64ull << 20, "largest chunk, in bytes");
ABSL_FLAG(int64_t, dead_server_seconds, 10,
          "a chunkserver silent this long is declared dead");
ABSL_FLAG(int64_t, orphan_chunk_seconds, 3600,
          "an allocated chunk never referenced this long becomes garbage");
ABSL_FLAG(int64_t, garbage_grace_seconds, 60,
          "a chunk no file references any more is deleted this long after "
          "(readers of the old version finish first)");
ABSL_FLAG(int64_t, heartbeat_interval_ms, 1000,
          "heartbeat interval chunkservers are told to use");
ABSL_FLAG(int32_t, grpc_threads, 0,
          "most gRPC handler threads (0: gRPC's default, unbounded)");
ABSL_FLAG(uint64_t, block_cache_mib, 256, "RocksDB block cache, in MiB");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port of the Prometheus /metrics endpoint; empty: none");

namespace medfs::meta {
namespace {

MetaStoreOptions StoreOptionsFromFlags() {
  MetaStoreOptions options;
  options.db_path = absl::GetFlag(FLAGS_db);
  options.default_replication = absl::GetFlag(FLAGS_default_replication);
  options.max_chunk_bytes = absl::GetFlag(FLAGS_max_chunk_bytes);
  options.dead_server_after = absl::Seconds(absl::GetFlag(FLAGS_dead_server_seconds));
  options.orphan_chunk_after =
      absl::Seconds(absl::GetFlag(FLAGS_orphan_chunk_seconds));
  options.garbage_grace = absl::Seconds(absl::GetFlag(FLAGS_garbage_grace_seconds));
  options.heartbeat_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_heartbeat_interval_ms));
  options.block_cache_bytes = absl::GetFlag(FLAGS_block_cache_mib) << 20;
  return options;
}

#ifdef MEDFS_META_WITH_METRICS
// Registers the store's gauges and starts /metrics; null when disabled.
std::unique_ptr<MetricsHttpServer> StartMetrics(MetricsRegistry* registry,
                                                MetaStore* store) {
  std::string listen = absl::GetFlag(FLAGS_metrics_listen);
  if (listen.empty()) return nullptr;
  auto stat = [store](uint64_t MetaStoreStats::*field) {
    return [store, field] { return static_cast<double>(store->stats().*field); };
  };
  registry->AddGaugeFunction("medfs_meta_write_groups_total",
                             "Synced group-commit writes.",
                             stat(&MetaStoreStats::write_groups));
  registry->AddGaugeFunction("medfs_meta_mutations_total",
                             "Mutations made durable.",
                             stat(&MetaStoreStats::committed_mutations));
  registry->AddGaugeFunction("medfs_meta_inodes", "Inodes in the namespace.",
                             stat(&MetaStoreStats::inode_count));
  registry->AddGaugeFunction("medfs_meta_chunks", "Chunk records.",
                             stat(&MetaStoreStats::chunk_count));
  registry->AddGaugeFunction("medfs_meta_garbage_chunks_pending",
                             "Garbage chunks not yet handed to every replica.",
                             stat(&MetaStoreStats::pending_garbage));
  std::pair<std::string, std::string> host_port =
      absl::StrSplit(listen, absl::MaxSplits(':', 1));
  int port = 0;
  if (!absl::SimpleAtoi(host_port.second, &port)) {
    MEDFS_LOG(FATAL) << "--metrics_listen=" << listen << ": bad port";
  }
  auto server = MetricsHttpServer::Start(registry, host_port.first, port);
  if (!server.ok()) MEDFS_LOG(FATAL) << "starting /metrics: " << server.status();
  MEDFS_LOG(INFO) << "metrics on http://" << host_port.first << ":"
                  << (*server)->port() << "/metrics";
  return std::move(*server);
}
#endif

int Main() {
  if (absl::GetFlag(FLAGS_db).empty()) {
    std::fprintf(stderr, "medfs-meta: --db is required\n");
    return 2;
  }
  // SIGTERM/SIGINT are taken by sigwait below; block them before any
  // thread starts so that every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto store = MetaStore::Open(StoreOptionsFromFlags());
  if (!store.ok()) {
    MEDFS_LOG(ERROR) << "medfs-meta: " << store.status();
    return 1;
  }
  MetaServiceImpl service(store->get());
  DicomServiceImpl dicom_service(store->get());
  grpc::ServerBuilder builder;
#ifdef MEDFS_META_WITH_METRICS
  MetricsRegistry registry;
  RpcMetrics rpc_metrics(&registry, {v1::MetaService::service_full_name(),
                                     v1::DicomService::service_full_name()});
  if (!absl::GetFlag(FLAGS_metrics_listen).empty()) {
    builder.experimental().SetInterceptorCreators(rpc_metrics.InterceptorCreators());
  }
#endif
  int port = 0;
  std::string listen = absl::GetFlag(FLAGS_listen);
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  builder.RegisterService(&dicom_service);
  builder.SetMaxReceiveMessageSize(64 << 20);
  if (absl::GetFlag(FLAGS_grpc_threads) > 0) {
    grpc::ResourceQuota quota("medfs-meta");
    quota.SetMaxThreads(absl::GetFlag(FLAGS_grpc_threads));
    builder.SetResourceQuota(quota);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || (port == 0 && listen.rfind("unix:", 0) != 0)) {
    MEDFS_LOG(ERROR) << "medfs-meta: cannot listen on " << listen;
    return 1;
  }
  if (listen.rfind("unix:", 0) != 0) {
    listen = absl::StrCat(listen.substr(0, listen.rfind(':')), ":", port);
  }
#ifdef MEDFS_META_WITH_METRICS
  std::unique_ptr<MetricsHttpServer> metrics = StartMetrics(&registry, store->get());
#endif
  auto status = (*store)->ClusterStatus();
  std::printf("medfs-meta listening on %s, database %s, %llu inodes, %d servers\n",
              listen.c_str(), absl::GetFlag(FLAGS_db).c_str(),
              static_cast<unsigned long long>(status.ok() ? status->inode_count() : 0),
              status.ok() ? status->servers_size() : 0);
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  MEDFS_LOG(INFO) << "medfs-meta: signal " << signal_number << ", shutting down";
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
#ifdef MEDFS_META_WITH_METRICS
  metrics.reset();
#endif
  MetaStoreStats stats = (*store)->stats();
  MEDFS_LOG(INFO) << "medfs-meta: " << stats.committed_mutations
                  << " mutations committed in " << stats.write_groups
                  << " synced write groups";
  store->reset();  // commits what is queued, closes RocksDB
  return 0;
}

}  // namespace
}  // namespace medfs::meta

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "medfs-meta --db=/var/lib/medfs/meta [--listen=127.0.0.1:9400] "
      "[--flagfile=meta.conf]");
  absl::ParseCommandLine(argc, argv);
  return medfs::meta::Main();
}
