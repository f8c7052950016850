// The FUSE low-level operations table of medfs-mount: thin adaptors that
// call FileSystem (which does the work and returns a Status or a value)
// and reply to the kernel exactly once.
#pragma once

#include <fuse_lowlevel.h>

#include <atomic>

#include "client-fuse/file_system.h"

namespace medfs::fuse {

// The session's userdata: what every operation reaches through the request.
struct MountState {
  FileSystem* fs = nullptr;
  // Set once the session exists (for cache invalidation notices).
  std::atomic<fuse_session*> session{nullptr};
  // Kernel readahead wanted, in KiB (applied at init through sysfs by the
  // mount; 0: leave the kernel's default).
  bool read_only = false;
};

// The operations table (one static table; every entry assigned once).
const fuse_lowlevel_ops& Operations();

}  // namespace medfs::fuse
