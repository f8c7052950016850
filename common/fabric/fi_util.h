// Internal helpers of the fabric transport: RAII for libfabric objects and
// error formatting. Not part of the public API.
#pragma once

#include <rdma/fabric.h>
#include <rdma/fi_errno.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace medfs::fabric::internal {

// Closes any libfabric object (fabric, domain, cq, av, ep, mr) with fi_close.
struct FidCloser {
  template <typename T>
  void operator()(T* object) const {
    if (object != nullptr) fi_close(&object->fid);
  }
};
template <typename T>
using FidPtr = std::unique_ptr<T, FidCloser>;

struct InfoDeleter {
  void operator()(fi_info* info) const { fi_freeinfo(info); }
};
using InfoPtr = std::unique_ptr<fi_info, InfoDeleter>;

// libfabric calls return negative fi_errno values.
inline std::string FiErrorText(long rc) {
  return fi_strerror(static_cast<int>(rc < 0 ? -rc : rc));
}

// "what: fi_strerror(rc)" with a code chosen for the caller: kUnavailable
// for transport failures, kUnimplemented for missing provider features.
inline absl::Status FiError(absl::string_view what, long rc) {
  const long err = rc < 0 ? -rc : rc;
  const std::string message = absl::StrCat(what, ": ", FiErrorText(rc));
  if (err == FI_ENODATA || err == FI_ENOSYS || err == FI_EOPNOTSUPP) {
    return absl::UnimplementedError(message);
  }
  if (err == FI_ENOMEM) return absl::ResourceExhaustedError(message);
  if (err == FI_EINVAL) return absl::InvalidArgumentError(message);
  return absl::UnavailableError(message);
}

}  // namespace medfs::fabric::internal
