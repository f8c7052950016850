// MetaStore::Mutate: the asynchronous form shared by the mutations in ops/.
// Private to meta/store.
#pragma once

#include <memory>
#include <utility>

#include "meta/store/commit_pipeline.h"
#include "meta/store/meta_store.h"

namespace medfs::meta {

template <typename T, typename Logic>
void MetaStore::Mutate(Logic logic, Callback<T> done,
                       CommitBatch* batch) {
  auto result = std::make_unique<T>();
  T* out = result.get();
  auto run_logic = [&](Txn& txn) { return logic(txn, out); };
  auto answer = [result = std::move(result), done = std::move(done)](
                    absl::Status status) mutable {
    if (!status.ok()) {
      done(std::move(status));
      return;
    }
    done(std::move(*result));
  };
  if (batch != nullptr) {
    batch->RunAsync(run_logic, std::move(answer));
  } else {
    pipeline_->RunAsync(run_logic, std::move(answer));
  }
}

template <typename Out, typename Request, typename Logic>
void MetaStore::MutateEach(const Requests<Request>& requests,
                           absl::FunctionRef<Callback<Out>(int)> done_of,
                           Logic logic) {
  CommitBatch batch(pipeline_.get());
  for (int i = 0; i < requests.size(); ++i) {
    const Request& request = requests[i];
    Mutate<Out>(
        [&](Txn& txn, Out* out) { return logic(txn, request, out); },
        done_of(i), &batch);
  }
}

}  // namespace medfs::meta
