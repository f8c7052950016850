// What the POSIX behaviour suite runs against: a mounted medfs. Two
// implementations, one per test binary:
//   fake_mount_backend.cc     the FUSE layer mounted in-process over an
//                             in-memory FakeClient (no cluster needed);
//   cluster_mount_backend.cc  the real medfs-mount binary over a real
//                             TestCluster (meta + 3 chunkservers).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace medfs::fuse::testing {

class MountBackend {
 public:
  virtual ~MountBackend() = default;  // unmounts and stops what it started
  virtual const std::string& mount_point() const = 0;
  // Log tail for failure messages.
  virtual std::string Log() const = 0;
};

absl::StatusOr<std::unique_ptr<MountBackend>> StartMountBackend();

}  // namespace medfs::fuse::testing
