#include "common/logging.h"

#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "absl/synchronization/mutex.h"

namespace medfs {
namespace {
std::atomic<int> g_min_level{static_cast<int>(LogLevel::INFO)};

// Debian's Abseil is built without NDEBUG, so every absl::Mutex keeps a
// lock-order graph for deadlock detection: 2.7x the cost of an uncontended
// lock/unlock pair, and a global graph lock on every lock and mutex
// destruction, on every hot path. Off in every medfs process (each links
// this file); MEDFS_MUTEX_DEADLOCK_CHECK=1 turns it back on to debug.
const bool g_deadlock_detection_configured = [] {
  const char* check = std::getenv("MEDFS_MUTEX_DEADLOCK_CHECK");
  if (check == nullptr || std::strcmp(check, "1") != 0) {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
  return true;
}();
}  // namespace

void SetMinLogLevel(LogLevel level) {
  g_min_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

LogLevel MinLogLevel() {
  return static_cast<LogLevel>(g_min_level.load(std::memory_order_relaxed));
}

namespace logging_internal {

LogLine::LogLine(LogLevel level, const char* file, int line) : level_(level) {
  static constexpr char kLetters[] = {'I', 'W', 'E', 'F'};
  timeval now;
  gettimeofday(&now, nullptr);
  tm parts;
  localtime_r(&now.tv_sec, &parts);
  const char* base = std::strrchr(file, '/');
  base = base ? base + 1 : file;
  char prefix[96];
  std::snprintf(prefix, sizeof(prefix), "%c%02d%02d %02d:%02d:%02d.%06ld %ld %s:%d] ",
                kLetters[static_cast<int>(level)], parts.tm_mon + 1,
                parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                static_cast<long>(now.tv_usec),
                static_cast<long>(syscall(SYS_gettid)), base, line);
  stream_ << prefix;
}

LogLine::~LogLine() {
  stream_ << '\n';
  std::string text = stream_.str();
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(STDERR_FILENO, text.data() + written,
                        text.size() - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  if (level_ == LogLevel::FATAL) std::abort();
}

}  // namespace logging_internal
}  // namespace medfs
