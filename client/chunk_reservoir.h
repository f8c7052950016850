// Chunks allocated by meta ahead of the writers that will fill them, shared
// by the writers of one Client.
//
// A folder of small files written one after another (a DICOM series copied
// in through the mount: one chunk per file) otherwise costs each file one
// synced AllocateChunks round trip before its bytes can move. A writer that
// needs its first chunk takes a spare from here; when there is none, it asks
// meta for its chunk plus SparesWanted() more and leaves those here. The
// number asked for doubles while writers keep coming back within `max_age`
// of the last refill (1, 2, 4 ... up to `max_spares`) and falls to none
// after a quiet spell, so a lone writer allocates exactly what it uses.
//
// A spare older than `max_age` is dropped unused (its placement may be
// stale): meta collects allocated chunks nobody referenced after its
// orphan timeout, as it does for interrupted writers.
//
// Thread safety: thread safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/proto/medfs.pb.h"

namespace medfs::client {

struct ChunkReservoirOptions {
  // Most spares kept (and asked for at once). 0: the reservoir is off.
  size_t max_spares = 16;
  // How long a spare stays usable, and the spell between refills that
  // counts as writers coming back.
  absl::Duration max_age = absl::Seconds(5);
};

class ChunkReservoir {
 public:
  using Clock = std::function<absl::Time()>;

  explicit ChunkReservoir(ChunkReservoirOptions options,
                          Clock clock = [] { return absl::Now(); });

  // A spare allocated with `replication` less than max_age ago, none of
  // whose replicas is in `avoid`; nullopt when there is none.
  std::optional<v1::ChunkAllocation> Take(uint32_t replication,
                                          const absl::flat_hash_set<uint64_t>& avoid);

  // How many spares to ask meta for along with a chunk needed now (the
  // caller then Add()s them). Counts as a refill.
  size_t SparesWanted();

  // Keeps `spares` (allocated with `replication`) for later writers, up to
  // max_spares.
  void Add(uint32_t replication, std::vector<v1::ChunkAllocation> spares);

  size_t size() const;

 private:
  struct Spare {
    v1::ChunkAllocation chunk;
    uint32_t replication = 0;
    absl::Time allocated;
  };

  const ChunkReservoirOptions options_;
  const Clock clock_;
  mutable absl::Mutex mu_;
  std::deque<Spare> spares_ ABSL_GUARDED_BY(mu_);  // oldest first
  absl::Time last_refill_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  size_t wanted_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace medfs::client
