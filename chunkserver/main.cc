// medfs-chunkserver: stores chunks on local data folders and serves them
// over the libfabric data plane; registers with and heartbeats to medfs-meta.
//
//   medfs-chunkserver --meta=127.0.0.1:9400 --data_dirs=/data/a,/data/b
//
// Start-up reads top to bottom: parse flags, identity, open and check the
// store, open the fabric endpoint and buffers, start the data service,
// register with meta, heartbeat; SIGTERM/SIGINT unwind in reverse.
// Flags can also come from a file: --flagfile=/etc/medfs/chunkserver.flags.
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "chunkserver/chunk_store.h"
#include "chunkserver/data_service.h"
#include "chunkserver/file_system.h"
#include "chunkserver/mapping_arena.h"
#include "chunkserver/meta_link.h"
#include "chunkserver/server_metrics.h"
#include "common/fabric/buffer_pool.h"
#include "common/fabric/endpoint.h"
#include "common/logging.h"
#include "common/metrics/metrics.h"
#include "common/status.h"

ABSL_FLAG(std::string, meta, "127.0.0.1:9400", "host:port of medfs-meta");
ABSL_FLAG(std::string, data_dirs, "",
          "comma-separated data folders; the first holds server.uuid");
ABSL_FLAG(std::string, fabric_provider, "tcp;ofi_rxm",
          "libfabric provider: tcp;ofi_rxm, shm, efa");
ABSL_FLAG(std::string, listen_host, "127.0.0.1", "address to bind the fabric");
ABSL_FLAG(int32_t, listen_port, 0, "fabric port (tcp); 0: any free port");
ABSL_FLAG(std::string, failure_domain, "",
          "rack or zone label for replica placement; empty: the host");
ABSL_FLAG(uint64_t, max_chunk_bytes, 64ull << 20,
          "largest chunk accepted, in bytes (at most ~127 MiB)");
ABSL_FLAG(int32_t, io_threads, 4, "worker threads serving chunk I/O");
ABSL_FLAG(int32_t, buffer_count, 32,
          "registered bounce buffers of 4 MiB + 64 KiB each");
ABSL_FLAG(int32_t, queue_depth, 128,
          "requests waiting for a worker before answering busy");
ABSL_FLAG(int32_t, max_open_chunks, 4096, "chunk files kept open (LRU)");
ABSL_FLAG(bool, zero_copy_reads, true,
          "send cached chunk data straight from the page cache (chunk files "
          "mapped into one registered arena) instead of copying it into a "
          "bounce buffer; only with providers whose registration pins no "
          "memory (tcp, shm, sockets), elsewhere reads copy");
ABSL_FLAG(bool, page_cache_for_caching_readers, false,
          "also keep in this server's page cache the blocks read for readers that "
          "cache them themselves (the FUSE mount); default: when such blocks are not "
          "cached here, read them around the page cache (O_DIRECT), no second copy");
ABSL_FLAG(int32_t, metrics_port, -1,
          "port of the Prometheus /metrics endpoint on listen_host; "
          "-1: off, 0: any free port");

namespace medfs::chunkserver {
namespace {

// Reads the server's persistent identity from <dir>/server.uuid, creating
// it (durably) on first start.
absl::StatusOr<std::string> LoadOrCreateUuid(const std::string& dir) {
  const std::string path = dir + "/server.uuid";
  if (std::ifstream in(path); in) {
    std::string uuid;
    std::getline(in, uuid);
    if (uuid.size() == 36) return uuid;
    return absl::DataLossError(
        absl::StrCat("reading ", path, ": not a uuid: \"", uuid, "\""));
  }
  std::string uuid;
  if (std::ifstream random("/proc/sys/kernel/random/uuid"); random) {
    std::getline(random, uuid);
  }
  if (uuid.size() != 36) {
    return absl::InternalError("creating a server uuid: no random source");
  }
  ChunkFileSystem* fs = PosixFileSystem();
  const std::string temp = path + ".tmp";
  (void)fs->Remove(temp);
  ASSIGN_OR_RETURN(std::unique_ptr<ChunkFile> file, fs->Create(temp));
  const std::string line = uuid + "\n";
  RETURN_IF_ERROR(file->WriteAt(0, line.data(), line.size()));
  RETURN_IF_ERROR(file->Sync());
  file.reset();
  RETURN_IF_ERROR(fs->Rename(temp, path));
  RETURN_IF_ERROR(fs->SyncDir(dir));
  MEDFS_LOG(INFO) << "new server identity " << uuid << " in " << path;
  return uuid;
}

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 5) {
    value /= 1024;
    ++unit;
  }
  return absl::StrCat(static_cast<int64_t>(value * 10) / 10.0, " ", units[unit]);
}

// "fi_sockaddr_in://127.0.0.1:41234" -> "127.0.0.1:41234".
std::string HostPort(const std::string& described) {
  size_t scheme = described.find("://");
  return scheme == std::string::npos ? described : described.substr(scheme + 3);
}

// Signals are taken by one thread; it cancels registration and wakes main.
struct Shutdown {
  absl::Notification requested;
  absl::Mutex mu;
  MetaLink* link ABSL_GUARDED_BY(mu) = nullptr;
};

void StartSignalThread(std::shared_ptr<Shutdown> shutdown, sigset_t signals) {
  std::thread([shutdown, signals] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    MEDFS_LOG(INFO) << "medfs-chunkserver: signal " << signal_number
                    << ", shutting down";
    absl::MutexLock lock(&shutdown->mu);
    if (shutdown->link != nullptr) shutdown->link->Cancel();
    shutdown->requested.Notify();
  }).detach();
}

std::unique_ptr<MetricsHttpServer> StartMetrics(MetricsRegistry* registry,
                                                ChunkStore* store,
                                                DataService* service) {
  const int port = absl::GetFlag(FLAGS_metrics_port);
  if (port < 0) return nullptr;
  RegisterServerMetrics(registry, store, service);
  auto server =
      MetricsHttpServer::Start(registry, absl::GetFlag(FLAGS_listen_host), port);
  if (!server.ok()) {
    MEDFS_LOG(ERROR) << "metrics endpoint off: " << server.status().message();
    return nullptr;
  }
  return *std::move(server);
}

// One line on where WRITE time went (the storage bench reads it).
void LogWriteTimes(const DataServiceStats& s) {
  if (s.writes == 0) return;
  MEDFS_LOG(INFO) << "write path: writes=" << s.writes
                  << " bytes=" << s.write_bytes << " seals=" << s.seals
                  << " queue_ms=" << s.write_queue_us / 1000
                  << " pull_ms=" << s.write_pull_us / 1000
                  << " store_ms=" << s.write_store_us / 1000
                  << " seal_ms=" << s.write_seal_us / 1000
                  << " forward_ms=" << s.write_forward_us / 1000;
}

// Registers the zero-copy reads' arena with the endpoint, where the
// provider's registration pins nothing (the arena is mostly unmapped
// address space). kFailedPrecondition naming the provider elsewhere.
absl::StatusOr<const fabric::MemoryRegion*> RegisterMappingArena(
    fabric::Endpoint& endpoint, const MappingArena& arena) {
  const std::string provider = endpoint.provider();
  const bool pins_nothing = absl::StartsWith(provider, "tcp") ||
                            absl::StartsWith(provider, "shm") ||
                            absl::StartsWith(provider, "sockets");
  if (!pins_nothing) {
    return absl::FailedPreconditionError(absl::StrCat(
        "provider ", provider, " pins registered memory: no zero-copy reads"));
  }
  return endpoint.Register(arena.data(), arena.size());
}

absl::Status Run(std::shared_ptr<Shutdown> shutdown) {
  // Parse and check.
  ChunkStoreOptions store_options;
  store_options.data_dirs =
      absl::StrSplit(absl::GetFlag(FLAGS_data_dirs), ',', absl::SkipEmpty());
  store_options.max_chunk_bytes = absl::GetFlag(FLAGS_max_chunk_bytes);
  store_options.max_open_chunks = absl::GetFlag(FLAGS_max_open_chunks);
  if (store_options.data_dirs.empty()) {
    return absl::InvalidArgumentError("--data_dirs is required");
  }
  if (absl::GetFlag(FLAGS_io_threads) < 1 ||
      absl::GetFlag(FLAGS_buffer_count) < absl::GetFlag(FLAGS_io_threads)) {
    return absl::InvalidArgumentError(
        "--io_threads must be positive and --buffer_count at least as large");
  }
  // Address space for the chunk files that zero-copy reads map: one slot
  // per open chunk, and some for chunks evicted while a read still sends.
  // Without the address space (ulimit -v), reads copy.
  std::unique_ptr<MappingArena> arena;
  std::string read_path = "reads copy through bounce buffers";
  if (absl::GetFlag(FLAGS_zero_copy_reads)) {
    absl::StatusOr<std::unique_ptr<MappingArena>> reserved = MappingArena::Reserve(
        kChunkHeaderBytes + store_options.max_chunk_bytes,
        store_options.max_open_chunks + 64);
    if (reserved.ok()) {
      arena = *std::move(reserved);
      store_options.mapping_arena = arena.get();
    } else {
      read_path = absl::StrCat(read_path, " (", reserved.status().message(), ")");
    }
  }
  // Store: identity, scan, health check.
  ASSIGN_OR_RETURN(std::unique_ptr<ChunkStore> store,
                   ChunkStore::Open(store_options));
  ASSIGN_OR_RETURN(std::string uuid,
                   LoadOrCreateUuid(store_options.data_dirs.front()));
  RETURN_IF_ERROR(store->CheckHealth());
  // Fabric endpoint, bounce buffers, data service.
  fabric::EndpointOptions endpoint_options;
  endpoint_options.provider = absl::GetFlag(FLAGS_fabric_provider);
  endpoint_options.node = absl::GetFlag(FLAGS_listen_host);
  endpoint_options.service = absl::StrCat(absl::GetFlag(FLAGS_listen_port));
  ASSIGN_OR_RETURN(std::unique_ptr<fabric::Endpoint> endpoint,
                   fabric::Endpoint::Open(endpoint_options));
  ASSIGN_OR_RETURN(
      std::unique_ptr<fabric::BufferPool> pool,
      fabric::BufferPool::Create(
          endpoint.get(),
          {static_cast<size_t>(absl::GetFlag(FLAGS_buffer_count)),
           DataService::kBufferBytes}));
  DataServiceOptions service_options;
  service_options.io_threads = absl::GetFlag(FLAGS_io_threads);
  service_options.queue_depth = absl::GetFlag(FLAGS_queue_depth);
  service_options.page_cache_for_caching_readers =
      absl::GetFlag(FLAGS_page_cache_for_caching_readers);
  if (arena != nullptr) {
    absl::StatusOr<const fabric::MemoryRegion*> region =
        RegisterMappingArena(*endpoint, *arena);
    if (region.ok()) {
      service_options.mapped_region = *region;
      read_path = "zero-copy reads from the page cache";
    } else {
      read_path = absl::StrCat(read_path, " (", region.status().message(), ")");
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<DataService> service,
                   DataService::Start(endpoint.get(), store.get(), pool.get(),
                                      service_options));
  MetricsRegistry registry;
  std::unique_ptr<MetricsHttpServer> metrics =
      StartMetrics(&registry, store.get(), service.get());
  // Register with meta.
  const std::string described = endpoint->DescribeAddress();
  MetaLinkOptions link_options;
  link_options.meta_address = absl::GetFlag(FLAGS_meta);
  v1::ServerRecord& record = link_options.record;
  record.set_uuid(uuid);
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  record.set_host(host);
  record.set_fabric_address(endpoint->address());
  record.set_fabric_provider(endpoint->provider());
  record.set_data_endpoint(HostPort(described));
  record.set_failure_domain(absl::GetFlag(FLAGS_failure_domain));
  if (metrics != nullptr) {
    record.set_metrics_endpoint(absl::StrCat(absl::GetFlag(FLAGS_listen_host),
                                             ":", metrics->port()));
  }
  MetaLink link(link_options, store.get(),
                [&service](uint64_t id) { service->set_server_id(id); });
  {
    absl::MutexLock lock(&shutdown->mu);
    shutdown->link = &link;
  }
  absl::StatusOr<uint64_t> id = link.Register();
  if (id.ok()) {
    ASSIGN_OR_RETURN(StoreUsage usage, store->Usage());
    MEDFS_LOG(INFO) << "medfs-chunkserver " << *id << " serving "
                    << absl::GetFlag(FLAGS_data_dirs) << " ("
                    << usage.chunk_count << " chunks, "
                    << HumanBytes(usage.free_bytes) << " free) on "
                    << described << " via " << endpoint->provider()
                    << ", meta " << link_options.meta_address << "; "
                    << read_path
                    << (service_options.page_cache_for_caching_readers || arena == nullptr
                            ? ""
                            : "; uncached blocks for caching readers read around the page cache");
    if (endpoint->provider() == "shm") {
      MEDFS_LOG(WARNING)
          << "provider shm: libfabric 1.17's shm provider crashes this "
             "server (SIGSEGV in its progress engine) when a client that "
             "read from it has exited and another client reads; use it only "
             "where every client lives as long as the chunkservers, else "
             "tcp;ofi_rxm (see common/fabric/README.md)";
    }
    link.StartHeartbeats();
    shutdown->requested.WaitForNotification();
  }
  // Unwind in reverse.
  {
    absl::MutexLock lock(&shutdown->mu);
    shutdown->link = nullptr;
  }
  link.Stop();
  service->Stop();
  LogWriteTimes(service->stats());
  metrics.reset();
  if (!id.ok() && id.status().code() != absl::StatusCode::kCancelled) {
    return id.status();
  }
  MEDFS_LOG(INFO) << "medfs-chunkserver stopped";
  return absl::OkStatus();
}

}  // namespace
}  // namespace medfs::chunkserver

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "medfs-chunkserver --meta=host:port --data_dirs=dir[,dir...]");
  absl::ParseCommandLine(argc, argv);
  // SIGTERM/SIGINT go to the signal thread only: block them everywhere
  // before any other thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  auto shutdown = std::make_shared<medfs::chunkserver::Shutdown>();
  medfs::chunkserver::StartSignalThread(shutdown, stop_signals);
  absl::Status status = medfs::chunkserver::Run(shutdown);
  if (!status.ok()) {
    MEDFS_LOG(ERROR) << "medfs-chunkserver: " << status.message();
    return 1;
  }
  return 0;
}
