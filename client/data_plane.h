// What chunk reads and writes share inside one Client: the fabric endpoint,
// the registered I/O buffers, meta, the chunk location cache and the
// replica selector. A plain bundle of non-owning pointers; the Client owns
// every object and outlives all reads and writers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/time/time.h"
#include "client/chunk_locations.h"
#include "client/chunk_reservoir.h"
#include "client/io_buffer_pool.h"
#include "client/meta_client.h"
#include "client/replica_selector.h"
#include "common/fabric/endpoint.h"

namespace medfs::client {

struct DataPlane {
  fabric::Endpoint* endpoint = nullptr;
  IoBufferPool* pool = nullptr;
  MetaClient* meta = nullptr;
  ChunkLocationCache* locations = nullptr;
  ReplicaSelector* selector = nullptr;
  // Chunks allocated ahead for writers' first chunks; nullptr: none.
  ChunkReservoir* reservoir = nullptr;
  // Deadline of one chunk request to one replica.
  absl::Duration call_timeout = absl::Seconds(5);
  // Reads say the caller keeps the bytes in a cache of its own
  // (dataplane::kReadCachedByReader).
  bool reads_cached_by_caller = false;
  // Pieces in flight per Read / per FileWriter.
  size_t max_parallel_pieces = 8;
  // Writers: replication factor (0: cluster default), stripes (chunks
  // written in parallel) and the largest chunk a writer fills (bytes).
  uint32_t replication = 0;
  size_t write_stripes = 4;
  uint64_t write_chunk_bytes = 16ull << 20;
};

}  // namespace medfs::client
