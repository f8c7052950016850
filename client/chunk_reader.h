// Executes a ReadPlan against the chunkservers.
//
// Pieces are read in parallel (up to DataPlane::max_parallel_pieces in
// flight). For each piece the replicas of its chunk are tried in the
// ReplicaSelector's order; on an error reply, a transport error or a
// timeout the next replica is tried, and when every known replica failed
// the chunk's location is fetched from meta once more and untried replicas
// are tried. Bytes land by RMA straight in the destination when it lies in
// `dst_region` (registered), else in bounce buffers of the pool, copied out
// by the calling thread.
//
// Outcomes: OK with every piece in place and holes zeroed; kDataLoss when
// every replica of a chunk failed its checksum; kNotFound when meta does
// not know a chunk; kUnavailable naming the chunk and each server tried
// with its error otherwise.
//
// Caveat: after a timeout a late RMA from the slow server can still land in
// the destination. Bounce buffers are quarantined for that; a registered
// destination gets the same (immutable) bytes, so only a caller that reuses
// its buffer immediately after a failed read can observe it.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "client/data_plane.h"
#include "client/read_plan.h"
#include "common/fabric/endpoint.h"

namespace medfs::client {

// REQUIRES: dst has at least plan.length bytes; dst_region, if not null,
// contains [dst, dst + plan.length).
absl::Status ExecuteRead(const DataPlane& data_plane, const ReadPlan& plan,
                         std::byte* dst,
                         const fabric::MemoryRegion* dst_region);

}  // namespace medfs::client
