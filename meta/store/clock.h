// The clock of the metadata store, behind an interface so that tests can
// drive time (dead servers, orphan chunks) without sleeping.
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/time/clock.h"

namespace medfs::meta {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time in nanoseconds since the Unix epoch.
  virtual int64_t NowNs() = 0;
};

class RealClock final : public Clock {
 public:
  int64_t NowNs() override { return absl::GetCurrentTimeNanos(); }
};

// A clock that only moves when told. Thread safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_ns = 1'700'000'000'000'000'000) : now_(start_ns) {}
  int64_t NowNs() override { return now_.load(); }
  void Advance(int64_t delta_ns) { now_.fetch_add(delta_ns); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace medfs::meta
