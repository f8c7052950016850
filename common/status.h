// Status helpers shared by every medfs component.
//
// medfs uses absl::Status / absl::StatusOr<T> everywhere; codes are chosen
// by what the caller should do (see STYLE.md):
//   kUnavailable        retry this call (a server timed out: fail over)
//   kAborted            retry at a higher level (a conflicting update)
//   kFailedPrecondition fix the state first ("not empty", "not a directory")
//   kDataLoss           checksum failed on every replica
//   kResourceExhausted  no space left, or too busy (backpressure)
// Messages read "what we were doing: cause" and name the chunk, inode or path.
#pragma once

#include <cerrno>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define MEDFS_STATUS_CONCAT_INNER_(a, b) a##b
#define MEDFS_STATUS_CONCAT_(a, b) MEDFS_STATUS_CONCAT_INNER_(a, b)

// Returns the status of `expr` from the enclosing function if it is not OK.
#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    ::absl::Status medfs_status_ = (expr);           \
    if (!medfs_status_.ok()) return medfs_status_;   \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, Foo());` declares x from a StatusOr or returns
// its error from the enclosing function.
#define ASSIGN_OR_RETURN(lhs, expr)                                          \
  ASSIGN_OR_RETURN_IMPL_(MEDFS_STATUS_CONCAT_(medfs_statusor_, __LINE__), lhs, \
                         expr)
#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return std::move(tmp).status(); \
  lhs = std::move(tmp).value()

namespace medfs {

// Prefixes `status`'s message with what we were doing: "context: cause".
inline absl::Status Annotate(const absl::Status& status,
                             absl::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat(context, ": ", status.message()));
}

// Status for a failed POSIX call: "what: strerror(errno)".
absl::Status ErrnoToStatus(int error_number, absl::string_view what);

// The errno a FUSE reply or CLI exit should carry for `status`. Messages
// are inspected for the POSIX cases that share a code ("not empty",
// "not a directory", "is a directory", "name too long", "permission").
int StatusToErrno(const absl::Status& status);

}  // namespace medfs
