#include "common/fabric/registration_cache.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace medfs::fabric::internal {

Region::Region(FidPtr<fid_mr> mr, void* data, size_t size,
               bool virtual_addressing)
    : mr_(std::move(mr)),
      data_(data),
      size_(size),
      descriptor_(fi_mr_desc(mr_.get())),
      key_(fi_mr_key(mr_.get())),
      virtual_addressing_(virtual_addressing) {}

RemoteBuffer Region::Remote(size_t offset, size_t length) const {
  RemoteBuffer remote;
  remote.address = virtual_addressing_
                       ? reinterpret_cast<uint64_t>(data_) + offset
                       : static_cast<uint64_t>(offset);
  remote.key = key_;
  remote.length = length;
  return remote;
}

RegistrationCache::RegistrationCache(fid_domain* domain, uint64_t mr_mode)
    : domain_(domain),
      provider_keys_((mr_mode & FI_MR_PROV_KEY) != 0),
      virtual_addressing_((mr_mode & FI_MR_VIRT_ADDR) != 0) {}

const Region* RegistrationCache::FindContaining(uintptr_t start,
                                                size_t length) const {
  // Walk regions starting at or before `start`, nearest first.
  auto it = regions_.upper_bound(start);
  while (it != regions_.begin()) {
    --it;
    const Region& region = *it->second;
    if (start + length <= it->first + region.size()) return &region;
  }
  return nullptr;
}

absl::StatusOr<const MemoryRegion*> RegistrationCache::Register(
    void* data, size_t length) {
  if (data == nullptr || length == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("registering memory: empty range of ", length, " bytes"));
  }
  const auto start = reinterpret_cast<uintptr_t>(data);
  absl::MutexLock lock(&mu_);
  if (const Region* found = FindContaining(start, length)) return found;
  const uint64_t requested_key = provider_keys_ ? 0 : next_key_++;
  fid_mr* raw = nullptr;
  const uint64_t access = FI_SEND | FI_RECV | FI_READ | FI_WRITE |
                          FI_REMOTE_READ | FI_REMOTE_WRITE;
  int rc = fi_mr_reg(domain_, data, length, access, 0, requested_key, 0, &raw,
                     nullptr);
  if (rc != 0) {
    return FiError(absl::StrFormat("registering %u bytes at %p", length, data),
                   rc);
  }
  auto region = std::make_unique<Region>(FidPtr<fid_mr>(raw), data, length,
                                         virtual_addressing_);
  const Region* result = region.get();
  regions_.emplace(start, std::move(region));
  return result;
}

void RegistrationCache::Deregister(const MemoryRegion* region) {
  if (region == nullptr) return;
  absl::MutexLock lock(&mu_);
  const auto start = reinterpret_cast<uintptr_t>(region->data());
  auto [begin, end] = regions_.equal_range(start);
  for (auto it = begin; it != end; ++it) {
    if (it->second.get() == region) {
      regions_.erase(it);
      return;
    }
  }
}

size_t RegistrationCache::size() const {
  absl::MutexLock lock(&mu_);
  return regions_.size();
}

}  // namespace medfs::fabric::internal
