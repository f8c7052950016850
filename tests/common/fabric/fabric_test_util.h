// Helpers shared by the fabric tests.
#pragma once

#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/fabric/endpoint.h"
#include "gtest/gtest.h"

namespace medfs::fabric::testing {

// Endpoint options for a loopback test on `provider`.
inline EndpointOptions LoopbackOptions(const std::string& provider) {
  EndpointOptions options;
  options.provider = provider;
  if (provider == "shm") {
    options.node.clear();
    options.service.clear();
  }
  options.posted_receives = 64;
  options.send_buffers = 32;
  return options;
}

// RemoteBuffer <-> request payload (tests only; real services use protobuf).
inline std::string EncodeRemote(const RemoteBuffer& remote) {
  return std::string(reinterpret_cast<const char*>(&remote), sizeof(remote));
}
inline RemoteBuffer DecodeRemote(absl::string_view bytes) {
  RemoteBuffer remote;
  EXPECT_EQ(bytes.size(), sizeof(remote));
  std::memcpy(&remote, bytes.data(), std::min(bytes.size(), sizeof(remote)));
  return remote;
}

inline void FillPattern(char* data, size_t length, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < length; ++i) {
    x = x * 1103515245u + 12345u;
    data[i] = static_cast<char>(x >> 16);
  }
}

// One thread running queued work: where handlers hand blocking work.
class Worker {
 public:
  Worker() : thread_([this] { Run(); }) {}
  ~Worker() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }
  void Post(std::function<void()> work) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(work));
  }

 private:
  void Run() {
    while (true) {
      std::function<void()> work;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stopping_ || !queue_.empty();
        };
        mu_.Await(absl::Condition(&ready));
        if (queue_.empty()) return;
        work = std::move(queue_.front());
        queue_.pop_front();
      }
      work();
    }
  }

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace medfs::fabric::testing
