// The endpoint's memory registration cache (internal).
//
// Register() returns an existing region when [data, data+length) lies inside
// one registered before, otherwise registers the range once with
// fi_mr_reg for local use and remote read/write. Regions live until
// Deregister() or until the cache is destroyed (which must happen before
// the domain is closed).
//
// It adapts to the provider's MR mode: without FI_MR_PROV_KEY it picks a
// unique key per region; without FI_MR_VIRT_ADDR a RemoteBuffer's address
// is the offset from the region's start.
//
// Thread safe.
#pragma once

#include <rdma/fabric.h>
#include <rdma/fi_domain.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/fabric/endpoint.h"
#include "common/fabric/fi_util.h"

namespace medfs::fabric::internal {

class Region final : public MemoryRegion {
 public:
  Region(FidPtr<fid_mr> mr, void* data, size_t size, bool virtual_addressing);

  void* data() const override { return data_; }
  size_t size() const override { return size_; }
  void* descriptor() const override { return descriptor_; }
  RemoteBuffer Remote(size_t offset, size_t length) const override;
  uint64_t key() const { return key_; }

 private:
  FidPtr<fid_mr> mr_;
  void* data_;
  size_t size_;
  void* descriptor_;
  uint64_t key_;
  bool virtual_addressing_;
};

class RegistrationCache {
 public:
  // `mr_mode` is the returned info's domain_attr->mr_mode.
  RegistrationCache(fid_domain* domain, uint64_t mr_mode);
  RegistrationCache(const RegistrationCache&) = delete;
  RegistrationCache& operator=(const RegistrationCache&) = delete;

  // Errors: kInvalidArgument for a null or empty range; fi_mr_reg failures
  // as "registering N bytes at 0x...: <fi_strerror>".
  absl::StatusOr<const MemoryRegion*> Register(void* data, size_t length);
  // Closes `region` for everyone who obtained it. Unknown regions are ignored.
  void Deregister(const MemoryRegion* region);
  size_t size() const;

 private:
  const Region* FindContaining(uintptr_t start, size_t length) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  fid_domain* const domain_;
  const bool provider_keys_;
  const bool virtual_addressing_;

  mutable absl::Mutex mu_;
  // Regions by start address (several may share a start). Guarded by mu_.
  std::multimap<uintptr_t, std::unique_ptr<Region>> regions_
      ABSL_GUARDED_BY(mu_);
  uint64_t next_key_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace medfs::fabric::internal
