// The Prometheus metrics of one medfs-chunkserver (served on /metrics with
// --metrics_port):
//
//   medfs_chunkserver_chunks                 sealed chunks stored (gauge)
//   medfs_chunkserver_open_chunks            chunk files open in the fd cache
//   medfs_chunkserver_capacity_bytes         the data folders' file systems,
//   medfs_chunkserver_free_bytes               each counted once
//   medfs_chunkserver_queued_requests        requests waiting for a worker
//   medfs_chunkserver_requests_total{op}     READ and WRITE requests answered
//   medfs_chunkserver_read_bytes_total       bytes sent to readers
//   medfs_chunkserver_write_bytes_total      bytes stored by writes
//   medfs_chunkserver_zero_copy_reads_total  READs sent from the page cache
//   medfs_chunkserver_inline_reads_total       of those, on the progress thread
//   medfs_chunkserver_around_cache_reads_total  READs read around the page
//                                            cache for readers caching them
//   medfs_chunkserver_seals_total            chunks sealed
//   medfs_chunkserver_busy_replies_total     requests refused as busy
//   medfs_chunkserver_malformed_requests_total  requests that did not decode
//   medfs_chunkserver_error_replies_total    other error replies
//   medfs_chunkserver_write_seconds_total{stage}  WRITE time by stage: queue,
//                                            pull, store, seal, forward
//
// All are read from ChunkStore and DataService when scraped.
#pragma once

#include "chunkserver/chunk_store.h"
#include "chunkserver/data_service.h"
#include "common/metrics/metrics.h"

namespace medfs::chunkserver {

// Registers the metrics above in `registry`. REQUIRES: `store` and
// `service` outlive every scrape of the registry.
void RegisterServerMetrics(MetricsRegistry* registry, ChunkStore* store,
                           DataService* service);

}  // namespace medfs::chunkserver
