// The one logging facility of medfs: lines on stderr of the form
//   I1128 10:12:52.123456 12345 file.cc:42] message
//
//   MEDFS_LOG(INFO) << "listening on " << address;
//   MEDFS_LOG(FATAL) << "cannot continue";   // logs, then aborts
//
// Levels: INFO, WARNING, ERROR, FATAL. SetMinLogLevel() filters; it is
// thread safe. Each line is written with one write(2), so lines from
// concurrent threads never interleave.
#pragma once

#include <sstream>
#include <string_view>

namespace medfs {

enum class LogLevel { INFO = 0, WARNING = 1, ERROR = 2, FATAL = 3 };

void SetMinLogLevel(LogLevel level);
LogLevel MinLogLevel();

namespace logging_internal {

class LogLine {
 public:
  LogLine(LogLevel level, const char* file, int line);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

// Swallows the stream expression when the level is filtered out.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace logging_internal
}  // namespace medfs

#define MEDFS_LOG(level)                                                \
  (::medfs::LogLevel::level < ::medfs::MinLogLevel())                   \
      ? (void)0                                                         \
      : ::medfs::logging_internal::Voidify() &                          \
            ::medfs::logging_internal::LogLine(::medfs::LogLevel::level, \
                                               __FILE__, __LINE__)      \
                .stream()

// Aborts with a FATAL line when `condition` is false. For invariants only.
#define MEDFS_CHECK(condition) \
  if (!(condition)) MEDFS_LOG(FATAL) << "check failed: " #condition " "
