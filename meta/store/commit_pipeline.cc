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
  CommitBatch batch(this);
  batch.RunAsync(logic, std::move(done));
}

CommitBatch::CommitBatch(CommitPipeline* pipeline)
    ABSL_NO_THREAD_SAFETY_ANALYSIS : pipeline_(pipeline) {
  pipeline_->mu_.Lock();
}

CommitBatch::~CommitBatch() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  pipeline_->mu_.Unlock();
  for (auto& [done, status] : answer_now_) done(std::move(status));
}

void CommitBatch::RunAsync(CommitPipeline::Logic logic, CommitPipeline::Done done)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {  // mu_ is held by this CommitBatch
  CommitPipeline& p = *pipeline_;
  Txn txn(&p.overlay_, p.kv_, p.now_ns_());
  absl::Status status = logic(txn);
  if (status.ok()) {
    for (auto& action : txn.on_success()) action();
  }
  if (status.ok() && txn.has_writes()) {
    for (auto& [key, value] : txn.writes()) {
      p.overlay_.queued.insert_or_assign(key, std::move(value));
    }
    p.queue_.push_back(CommitPipeline::Waiter{absl::OkStatus(), /*has_writes=*/true,
                              std::move(txn.on_durable()), std::move(done)});
    return;
  }
  if (!p.overlay_.empty()) {
    // What the logic saw may not be durable yet: answer after it is.
    p.queue_.push_back(CommitPipeline::Waiter{std::move(status), false, {}, std::move(done)});
    return;
  }
  answer_now_.emplace_back(std::move(done), std::move(status));
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
    WriteSet dropped;
    {
      absl::MutexLock lock(&mu_);
      if (overlay_.durable_bytes > Overlay::kMaxDurableBytes) {
        dropped.swap(overlay_.durable);  // freed below, outside the mutex
        overlay_.durable_bytes = 0;
      }
      for (auto& [key, value] : overlay_.writing) {
        overlay_.durable_bytes += key.size() + (value ? value->size() : 0);
        overlay_.durable.insert_or_assign(key, std::move(value));
      }
      overlay_.writing.clear();
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
  // In key order (column family, then key): consecutive inserts into the
  // memtable then land next to each other, which its insert hints exploit
  // (kv_store.cc).
  using Entry = WriteSet::value_type;
  std::vector<const Entry*> ordered;
  ordered.reserve(writes.size());
  for (const Entry& entry : writes) ordered.push_back(&entry);
  std::sort(ordered.begin(), ordered.end(),
            [](const Entry* a, const Entry* b) { return a->first < b->first; });
  rocksdb::WriteBatch batch;
  for (const Entry* entry : ordered) {
    const auto& [full_key, value] = *entry;
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
