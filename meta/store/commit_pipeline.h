// CommitPipeline: serialized mutation logic with group commit.
//
// Every mutation of the metadata runs its logic under ONE mutex (the
// mutation mutex): the logic is a few point reads and is CPU-cheap. It reads
// through the overlay of writes queued by earlier mutations but not durable
// yet, and leaves its own writes in a Txn. On success the pipeline moves
// them into the overlay, appends the mutation to the commit queue, releases
// the mutex and waits. One committer thread takes everything queued, writes
// it as ONE rocksdb::WriteBatch with sync = true (so many mutations share
// one fsync), moves the now-durable overlay layer into the overlay's
// bounded cache of durable values (txn.h), then wakes the group's waiters
// in queue order. The caller is answered only after its writes are
// durable. A batch RPC's mutations run under one hold of the mutex
// (CommitBatch, below).
//
// A mutation that fails (or changes nothing) while earlier mutations are
// still pending waits for them too: every answer, error or not, reflects
// only durable state.
//
// A failed synced write is fatal (the process aborts; a restart recovers
// from the WAL): the pipeline never answers OK for a mutation that is not
// durable.
//
// Thread safety: Run() and RunAsync() may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "meta/store/kv_store.h"
#include "meta/store/txn.h"

namespace medfs::meta {

class CommitPipeline {
 public:
  using Logic = absl::FunctionRef<absl::Status(Txn&)>;
  using Done = absl::AnyInvocable<void(absl::Status)>;
  using NowFn = std::function<int64_t()>;

  // `kv` must outlive the pipeline. `now_ns` is the clock of Txn::now_ns().
  CommitPipeline(KvStore* kv, NowFn now_ns);
  // Commits what is queued, then stops the committer thread.
  ~CommitPipeline();

  CommitPipeline(const CommitPipeline&) = delete;
  CommitPipeline& operator=(const CommitPipeline&) = delete;

  // Runs `logic` under the mutation mutex and returns once its writes are
  // durable. Returns logic's error unchanged (after earlier pending
  // mutations are durable); the Txn's writes are dropped on error.
  absl::Status Run(Logic logic);

  // As Run(), but returns at once; `done` runs on the committer thread
  // once the outcome is final (or on this thread when nothing is pending).
  void RunAsync(Logic logic, Done done);


  // Groups written (each one synced RocksDB write) and mutations with
  // writes committed so far.
  uint64_t write_groups() const {
    return write_groups_.load(std::memory_order_relaxed);
  }
  uint64_t committed_mutations() const {
    return committed_mutations_.load(std::memory_order_relaxed);
  }

 public:
  // One queued mutation (or error answer) waiting for its group.
  struct Waiter {
    absl::Status status;  // the mutation's outcome once durable
    bool has_writes = false;
    std::vector<std::function<void()>> on_durable;
    Done done;
  };

 private:
  friend class CommitBatch;

  void CommitterLoop();
  // Writes one group; aborts the process when the write fails.
  void WriteGroup(const WriteSet& writes);

  // Constant after construction.
  KvStore* const kv_;
  const NowFn now_ns_;

  // The mutation mutex. Lock order: mu_ before any other store mutex.
  absl::Mutex mu_;
  Overlay overlay_ ABSL_GUARDED_BY(mu_);
  std::vector<Waiter> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  std::atomic<uint64_t> write_groups_{0};
  std::atomic<uint64_t> committed_mutations_{0};
  std::thread committer_;
};

// Several mutations run back to back under ONE hold of the mutation
// mutex (a batch RPC's items): one lock hand-off and one committer
// wake-up for all of them instead of one per mutation. Each keeps its own
// outcome and `done`, exactly as with RunAsync; the `done`s that are
// final at once run when the CommitBatch ends, after the mutex is released.
// Keep a CommitBatch short-lived: while it exists no other mutation runs.
class CommitBatch {
 public:
  explicit CommitBatch(CommitPipeline* pipeline);
  ~CommitBatch();
  CommitBatch(const CommitBatch&) = delete;
  CommitBatch& operator=(const CommitBatch&) = delete;

  // As CommitPipeline::RunAsync.
  void RunAsync(CommitPipeline::Logic logic, CommitPipeline::Done done);

 private:
  CommitPipeline* const pipeline_;
  // Outcomes final at once, answered after the mutex is released.
  std::vector<std::pair<CommitPipeline::Done, absl::Status>> answer_now_;
};

}  // namespace medfs::meta
