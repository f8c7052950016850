#include "meta/store/commit_pipeline.h"

#include <algorithm>
#include <utility>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/logging.h"

namespace medfs::meta {

CommitPipeline::CommitPipeline(KvStore* kv, NowFn now_ns)
    : kv_(kv), now_ns_(std::move(now_ns)) {
  committer_ = std::thread([this] { CommitterLoop(); });
}

CommitPipeline::~CommitPipeline() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  committer_.join();
}

absl::Status CommitPipeline::Run(Logic logic) {
  absl::Notification durable;
  absl::Status result;
  RunAsync(logic, [&](absl::Status status) {
    result = std::move(status);
    durable.Notify();
  });
  durable.WaitForNotification();
  return result;
}

void CommitPipeline::RunAsync(Logic logic, Done done) {
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    Txn txn(&overlay_, kv_, now_ns_());
    status = logic(txn);
    if (status.ok()) {
      for (auto& action : txn.on_success()) action();
    }
    if (status.ok() && txn.has_writes()) {
      for (auto& [key, value] : txn.writes()) {
        overlay_.queued.insert_or_assign(key, std::move(value));
      }
      queue_.push_back(Waiter{absl::OkStatus(), /*has_writes=*/true,
                              std::move(txn.on_durable()), std::move(done)});
      return;
    }
    if (!overlay_.empty()) {
      // What the logic saw may not be durable yet: answer after it is.
      queue_.push_back(Waiter{std::move(status), false, {}, std::move(done)});
      return;
    }
  }
  done(std::move(status));
}

namespace {

// What the committer lingers for: `expected` callers queued, or stopping.
struct LingerCondition {
  const std::vector<CommitPipeline::Waiter>* queue;
  const bool* stopping;
  size_t expected;
  static bool Met(LingerCondition* c) {
    return c->queue->size() >= c->expected || *c->stopping;
  }
};

}  // namespace

// Group sizing. Under a closed loop of N callers the callers answered at
// the end of one group come straight back; starting the next group with
// only the few that arrived during the write would split the N callers into
// two alternating half-size groups (each caller waits for two fsyncs). So
// the committer lingers briefly, up to the last write's duration and
// at most kMaxLinger, until as many callers are queued as were answered
// plus already waiting. A lone sequential caller loses nothing: the
// committer waits for its next call either way.
void CommitPipeline::CommitterLoop() {
  constexpr absl::Duration kMaxLinger = absl::Milliseconds(1);
  size_t expected = 1;
  absl::Duration linger = absl::ZeroDuration();
  for (;;) {
    std::vector<Waiter> group;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](CommitPipeline* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return !self->queue_.empty() || self->stopping_;
          },
          this));
      if (queue_.empty()) return;  // stopping, and everything is committed
      if (queue_.size() < expected && linger > absl::ZeroDuration()) {
        LingerCondition condition{&queue_, &stopping_, expected};
        mu_.AwaitWithTimeout(absl::Condition(&LingerCondition::Met, &condition),
                             linger);
      }
      group.swap(queue_);
      // Mutations from now on queue into a fresh layer and still see this
      // group's writes in `writing` until they are durable.
      overlay_.writing.swap(overlay_.queued);
    }
    // Only this thread changes `writing` (under mu_); readers share it.
    const WriteSet& writes = overlay_.writing;  // NOLINT: see above
    bool wrote = !writes.empty();
    absl::Time write_start = absl::Now();
    if (wrote) WriteGroup(writes);
    WriteSet durable;
    {
      absl::MutexLock lock(&mu_);
      durable.swap(overlay_.writing);
      expected = group.size() + queue_.size();
    }
    if (wrote) {
      linger = std::min((absl::Now() - write_start), kMaxLinger);
      write_groups_.fetch_add(1, std::memory_order_relaxed);
    }
    for (Waiter& waiter : group) {
      for (auto& action : waiter.on_durable) action();
      if (waiter.has_writes) {
        committed_mutations_.fetch_add(1, std::memory_order_relaxed);
      }
      waiter.done(std::move(waiter.status));
    }
  }
}

void CommitPipeline::WriteGroup(const WriteSet& writes) {
  rocksdb::WriteBatch batch;
  for (const auto& [full_key, value] : writes) {
    auto* cf = kv_->handle(static_cast<Cf>(full_key[0]));
    rocksdb::Slice key(full_key.data() + 1, full_key.size() - 1);
    rocksdb::Status s = value ? batch.Put(cf, key, *value) : batch.Delete(cf, key);
    if (!s.ok()) {
      MEDFS_LOG(FATAL) << "building metadata write batch: " << s.ToString();
    }
  }
  absl::Status status = kv_->WriteSynced(&batch);
  if (!status.ok()) {
    // The mutations are in the overlay and their callers are waiting; we
    // cannot make them durable, so we must not answer: crash and let the
    // restart recover what the WAL holds.
    MEDFS_LOG(FATAL) << "group commit of " << writes.size()
                     << " keys failed: " << status;
  }
}

}  // namespace medfs::meta
