#include "common/status.h"

#include <cstring>

#include "absl/strings/match.h"

namespace medfs {

absl::Status ErrnoToStatus(int error_number, absl::string_view what) {
  std::string message = absl::StrCat(what, ": ", std::strerror(error_number));
  switch (error_number) {
    case ENOENT: return absl::NotFoundError(message);
    case EEXIST: return absl::AlreadyExistsError(message);
    case ENOSPC:
    case EDQUOT:
    case ENOMEM: return absl::ResourceExhaustedError(message);
    case EACCES:
    case EPERM: return absl::PermissionDeniedError(message);
    case EINVAL:
    case ENAMETOOLONG: return absl::InvalidArgumentError(message);
    case EAGAIN:
    case EINTR:
    case ETIMEDOUT:
    case ECONNREFUSED:
    case ECONNRESET: return absl::UnavailableError(message);
    case ENOTEMPTY:
    case ENOTDIR:
    case EISDIR: return absl::FailedPreconditionError(message);
    case EIO: return absl::DataLossError(message);
    default: return absl::InternalError(message);
  }
}

int StatusToErrno(const absl::Status& status) {
  absl::string_view message = status.message();
  switch (status.code()) {
    case absl::StatusCode::kOk: return 0;
    case absl::StatusCode::kNotFound: return ENOENT;
    case absl::StatusCode::kAlreadyExists: return EEXIST;
    case absl::StatusCode::kPermissionDenied:
      return absl::StrContains(message, "operation not permitted") ? EPERM
                                                                   : EACCES;
    case absl::StatusCode::kResourceExhausted: return ENOSPC;
    case absl::StatusCode::kInvalidArgument:
      if (absl::StrContains(message, "name too long")) return ENAMETOOLONG;
      return EINVAL;
    case absl::StatusCode::kFailedPrecondition:
      if (absl::StrContains(message, "not empty")) return ENOTEMPTY;
      if (absl::StrContains(message, "not a directory")) return ENOTDIR;
      if (absl::StrContains(message, "is a directory")) return EISDIR;
      if (absl::StrContains(message, "hard link")) return EPERM;
      return EINVAL;
    case absl::StatusCode::kUnimplemented: return ENOSYS;
    case absl::StatusCode::kOutOfRange: return ERANGE;
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnavailable: return EIO;
    default: return EIO;
  }
}

}  // namespace medfs
