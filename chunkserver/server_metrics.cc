#include "chunkserver/server_metrics.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"

namespace medfs::chunkserver {

void RegisterServerMetrics(MetricsRegistry* registry, ChunkStore* store,
                           DataService* service) {
  constexpr const char* kPrefix = "medfs_chunkserver_";
  auto gauge = [&](const char* name, const char* help, auto read) {
    registry->AddGaugeFunction(absl::StrCat(kPrefix, name), help,
                               [read] { return static_cast<double>(read()); });
  };
  // A DataServiceStats field as a counter.
  auto counter = [&](const char* name, const char* help, uint64_t DataServiceStats::*field,
                     std::string labels = "", double scale = 1.0) {
    registry->AddCounterFunction(
        absl::StrCat(kPrefix, name), help,
        [service, field, scale] { return static_cast<double>(service->stats().*field) * scale; },
        std::move(labels));
  };
  auto usage = [store](uint64_t StoreUsage::*field) {
    return [store, field]() -> uint64_t {
      absl::StatusOr<StoreUsage> usage = store->Usage();
      return usage.ok() ? (*usage).*field : 0;
    };
  };

  gauge("chunks", "Sealed chunks stored.", [store] { return store->chunk_count(); });
  gauge("open_chunks", "Chunk files open in the file-descriptor cache.",
        [store] { return store->open_chunk_count(); });
  gauge("capacity_bytes", "Capacity of the data folders' file systems.",
        usage(&StoreUsage::capacity_bytes));
  gauge("free_bytes", "Free space of the data folders' file systems.",
        usage(&StoreUsage::free_bytes));
  gauge("queued_requests", "Requests waiting for a worker.",
        [service] { return service->stats().queued; });

  counter("requests_total", "READ and WRITE requests answered, by op.",
          &DataServiceStats::reads, "op=\"read\"");
  counter("requests_total", "READ and WRITE requests answered, by op.",
          &DataServiceStats::writes, "op=\"write\"");
  counter("read_bytes_total", "Bytes sent to readers.", &DataServiceStats::read_bytes);
  counter("write_bytes_total", "Bytes stored by writes.", &DataServiceStats::write_bytes);
  counter("zero_copy_reads_total", "READs sent straight from the page cache.",
          &DataServiceStats::zero_copy_reads);
  counter("inline_reads_total", "Zero-copy READs served on the progress thread.",
          &DataServiceStats::inline_reads);
  counter("around_cache_reads_total",
          "READs of blocks not cached here, for readers that cache them, read around the "
          "page cache.",
          &DataServiceStats::around_cache_reads);
  counter("seals_total", "Chunks sealed.", &DataServiceStats::seals);
  counter("busy_replies_total", "Requests refused as busy.", &DataServiceStats::busy_replies);
  counter("malformed_requests_total", "Requests that did not decode.",
          &DataServiceStats::malformed);
  counter("error_replies_total", "Error replies other than busy and malformed.",
          &DataServiceStats::errors);
  constexpr double kSecondsPerMicro = 1e-6;
  const char* write_help = "WRITE time summed over requests, by stage.";
  counter("write_seconds_total", write_help, &DataServiceStats::write_queue_us,
          "stage=\"queue\"", kSecondsPerMicro);
  counter("write_seconds_total", write_help, &DataServiceStats::write_pull_us,
          "stage=\"pull\"", kSecondsPerMicro);
  counter("write_seconds_total", write_help, &DataServiceStats::write_store_us,
          "stage=\"store\"", kSecondsPerMicro);
  counter("write_seconds_total", write_help, &DataServiceStats::write_seal_us,
          "stage=\"seal\"", kSecondsPerMicro);
  counter("write_seconds_total", write_help, &DataServiceStats::write_forward_us,
          "stage=\"forward\"", kSecondsPerMicro);
}

}  // namespace medfs::chunkserver
