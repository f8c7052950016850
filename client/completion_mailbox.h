// CompletionMailbox: where fabric callbacks leave the outcomes of a caller's
// asynchronous pieces and the caller picks them up, one at a time, on its
// own thread (ChunkReader, StripedFileWriter). Unbounded by itself: the
// caller bounds it by how many pieces it has in flight.
//
// Thread safety: Post() from any thread; Take()/TryTake() from any thread.
#pragma once

#include <deque>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace medfs::client {

template <typename T>
class CompletionMailbox {
 public:
  void Post(T item) {
    absl::MutexLock lock(&mu_);
    items_.push_back(std::move(item));
  }

  // Waits for the oldest item and removes it.
  T Take() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](std::deque<T>* items) { return !items->empty(); }, &items_));
    return PopLocked();
  }

  // The oldest item, or nothing when none has arrived.
  std::optional<T> TryTake() {
    absl::MutexLock lock(&mu_);
    if (items_.empty()) return std::nullopt;
    return PopLocked();
  }

 private:
  T PopLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }

  absl::Mutex mu_;
  std::deque<T> items_ ABSL_GUARDED_BY(mu_);
};

}  // namespace medfs::client
