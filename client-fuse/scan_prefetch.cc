#include "client-fuse/scan_prefetch.h"

#include <algorithm>
#include <utility>

#include "common/logging.h"

namespace medfs::fuse {
namespace {

// A file of more extents than this is not small: it is not prefetched.
constexpr uint32_t kSmallFileExtents = 16;

}  // namespace

ScanPrefetcher::ScanPrefetcher(client::Client* client, BlockPool* pool,
                               ThreadPool* loaders, ReadaheadOptions readahead,
                               ScanPrefetchOptions options)
    : client_(client),
      pool_(pool),
      loaders_(loaders),
      readahead_(readahead),
      options_(options) {}

ScanPrefetcher::~ScanPrefetcher() {
  absl::flat_hash_map<uint64_t, std::unique_ptr<ReadHandle>> handles;
  Handles retired;
  {
    absl::MutexLock lock(&mu_);
    auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return listings_in_flight_ == 0;
    };
    mu_.Await(absl::Condition(&idle));
    handles.swap(handles_);
    retired.swap(retired_);
  }
  // The handles' destructors wait for their loads, outside mu_.
}

void ScanPrefetcher::NoteName(uint64_t directory, const std::string& name,
                              uint64_t inode) {
  if (options_.files_ahead == 0) return;
  absl::MutexLock lock(&mu_);
  if (names_.size() >= options_.max_names) names_.clear();
  names_.insert_or_assign(inode, std::make_pair(directory, name));
}

std::optional<v1::Inode> ScanPrefetcher::ListedEntry(uint64_t directory,
                                                     const std::string& name) const {
  if (options_.files_ahead == 0) return std::nullopt;
  absl::MutexLock lock(&mu_);
  auto dir = directories_.find(directory);
  if (dir == directories_.end()) return std::nullopt;
  const absl::Time now = absl::Now();
  for (const Ahead& ahead : dir->second.ahead) {
    if (ahead.name != name) continue;
    auto handle = handles_.find(ahead.inode);
    if (handle == handles_.end() || now - ahead.listed_at >= options_.entry_fresh_for) {
      return std::nullopt;
    }
    return handle->second->inode();
  }
  return std::nullopt;
}

void ScanPrefetcher::Forget(uint64_t directory, uint64_t inode) {
  if (options_.files_ahead == 0) return;
  Handles dropped;  // destroyed after mu_ is released
  absl::MutexLock lock(&mu_);
  dropped.swap(retired_);
  ++forgets_;  // listings in flight drop what they bring
  if (inode != 0) DropHandleLocked(inode, &dropped);
  if (directory == 0) return;
  auto dir = directories_.find(directory);
  if (dir == directories_.end()) return;
  DropAheadLocked(dir->second, &dropped);
  dir->second.listed_up_to = dir->second.last_opened;  // list again from here
  dir->second.end = false;
  dir->second.listed_before = false;  // what it listed was not given a chance
}

std::unique_ptr<ReadHandle> ScanPrefetcher::OnOpen(const v1::Inode& attributes) {
  if (options_.files_ahead == 0) return nullptr;
  Handles dropped;  // destroyed after mu_ is released
  std::unique_ptr<ReadHandle> taken;
  absl::MutexLock lock(&mu_);
  dropped.swap(retired_);
  const absl::Time now = absl::Now();
  if (now - last_sweep_ > absl::Seconds(1)) SweepLocked(now, &dropped);
  if (auto it = handles_.find(attributes.id()); it != handles_.end()) {
    std::unique_ptr<ReadHandle> handle = std::move(it->second);
    handles_.erase(it);
    const v1::Inode& held = handle->inode();
    if (held.content_version() == attributes.content_version() &&
        held.size() == attributes.size()) {
      ++stats_.used;
      taken = std::move(handle);
    } else {
      ++stats_.dropped;
      dropped.push_back(std::move(handle));
    }
  }
  auto named = names_.find(attributes.id());
  if (named == names_.end()) return taken;
  const uint64_t parent = named->second.first;
  const std::string name = named->second.second;
  Directory& dir = directories_[parent];
  dir.last_open = now;
  if (taken != nullptr) ++dir.hits;
  if (name == dir.last_opened) return taken;  // the same file again
  if (name < dir.last_opened) {
    // A step back ends the run. Within the files just passed it is a reader
    // thread of the same scan a little late; further back a new pass, whose
    // listing starts afresh from here.
    const bool late = std::find(dir.passed.begin(), dir.passed.end(), attributes.id()) !=
                      dir.passed.end();
    if (!late) {
      DropAheadLocked(dir, &dropped);
      dir.listed_up_to.clear();
      dir.end = false;
    }
    dir.run = 1;  // this open starts the next run
  } else {
    ++dir.run;
  }
  dir.last_opened = name;
  // Files of the window up to this name are passed: kept a little longer
  // for out-of-order opens, the oldest dropped past files_ahead.
  while (!dir.ahead.empty() && dir.ahead.front().name <= name) {
    dir.passed.push_back(dir.ahead.front().inode);
    dir.ahead.pop_front();
  }
  while (dir.passed.size() > options_.files_ahead) {
    DropHandleLocked(dir.passed.front(), &dropped);
    dir.passed.pop_front();
  }
  // Refill the window in batches of at least half of it: one listing per
  // files_ahead / 2 files read.
  const size_t missing =
      options_.files_ahead - std::min(options_.files_ahead, dir.ahead.size());
  const size_t run_needed = options_.scan_after << std::min<size_t>(dir.fruitless, 4);
  if (dir.run >= run_needed && !dir.listing && !dir.end &&
      missing >= std::max<size_t>(1, options_.files_ahead / 2)) {
    // None of the previous listing's files opened: the next needs a longer run.
    dir.fruitless = dir.listed_before && dir.hits == 0 ? dir.fruitless + 1 : 0;
    dir.hits = 0;
    dir.listed_before = true;
    dir.listing = true;
    ++listings_in_flight_;
    std::string after = std::max(name, dir.listed_up_to);
    loaders_->Schedule([this, parent, after = std::move(after), missing,
                        forgets = forgets_] { ListAhead(parent, after, missing, forgets); });
  }
  return taken;
}

void ScanPrefetcher::DropHandleLocked(uint64_t inode, Handles* dropped) {
  auto it = handles_.find(inode);
  if (it == handles_.end()) return;  // opened meanwhile
  ++stats_.dropped;
  dropped->push_back(std::move(it->second));
  handles_.erase(it);
}

void ScanPrefetcher::ListAhead(uint64_t directory, std::string after,
                               size_t count, uint64_t forgets) {
  const absl::Time listed_at = absl::Now();
  absl::StatusOr<client::DirectoryPage> page =
      client_->ReadDir(directory, after, static_cast<uint32_t>(count),
                       /*with_attributes=*/true, kSmallFileExtents);
  std::vector<std::pair<v1::ReadDirEntry, std::unique_ptr<ReadHandle>>> loading;
  // Entries listed and dealt with: where the pool runs out, the files from
  // there on wait for a later listing.
  size_t listed = 0;
  if (page.ok()) {
    listed = page->entries.size();
    for (size_t i = 0; i < page->entries.size(); ++i) {
      v1::ReadDirEntry& entry = page->entries[i];
      const v1::Inode& attributes = entry.attributes();
      std::unique_ptr<ReadHandle> handle;
      if (i < listed && entry.has_extents() && attributes.size() > 0 &&
          attributes.size() <= pool_->block_bytes()) {
        handle = std::make_unique<ReadHandle>(client_, pool_, loaders_, attributes,
                                              readahead_);
        if (!handle->StartPrefetch()) {
          handle.reset();
          listed = i;
        }
      }
      loading.emplace_back(std::move(entry), std::move(handle));
    }
  } else {
    MEDFS_LOG(WARNING) << "listing directory " << directory << " ahead of a reader "
                       << "after \"" << after << "\" failed: " << page.status();
  }
  // A dropped handle's destructor waits for its loads, which are queued on
  // the loader threads this listing runs on: they are retired here and
  // destroyed by the next OnOpen or Forget, on a FUSE thread.
  absl::MutexLock lock(&mu_);
  Handles& dropped = retired_;
  --listings_in_flight_;
  ++stats_.listings;
  auto dir = directories_.find(directory);
  if (forgets != forgets_) {  // this mount changed something meanwhile
    for (auto& [entry, handle] : loading) {
      if (handle == nullptr) continue;
      ++stats_.prefetched;
      ++stats_.dropped;
      dropped.push_back(std::move(handle));
    }
    if (dir != directories_.end()) dir->second.listing = false;
    return;
  }
  for (auto& [entry, handle] : loading) {
    if (names_.size() >= options_.max_names) names_.clear();
    names_.insert_or_assign(entry.inode(), std::make_pair(directory, entry.name()));
    if (handle == nullptr) continue;
    ++stats_.prefetched;
    if (dir == directories_.end()) {
      ++stats_.dropped;  // the scan was forgotten meanwhile
      dropped.push_back(std::move(handle));
      continue;
    }
    if (entry.name() <= dir->second.last_opened) {
      dir->second.passed.push_back(entry.inode());  // the reader got there first
    } else {
      dir->second.ahead.push_back({entry.name(), entry.inode(), listed_at});
    }
    auto [it, inserted] = handles_.try_emplace(entry.inode());
    if (!inserted) {
      ++stats_.dropped;
      dropped.push_back(std::move(it->second));
    }
    it->second = std::move(handle);
  }
  if (dir == directories_.end()) return;
  dir->second.listing = false;
  if (!page.ok()) return;
  if (listed > 0) dir->second.listed_up_to = loading[listed - 1].first.name();
  dir->second.end = page->end_of_directory && listed == loading.size();
}

void ScanPrefetcher::DropAheadLocked(Directory& dir, Handles* dropped) {
  for (const Ahead& ahead : dir.ahead) DropHandleLocked(ahead.inode, dropped);
  for (uint64_t inode : dir.passed) DropHandleLocked(inode, dropped);
  dir.ahead.clear();
  dir.passed.clear();
}

void ScanPrefetcher::SweepLocked(absl::Time now, Handles* dropped) {
  last_sweep_ = now;
  for (auto it = directories_.begin(); it != directories_.end();) {
    Directory& dir = it->second;
    if (now - dir.last_open > options_.idle_drop && !dir.listing) {
      DropAheadLocked(dir, dropped);
      directories_.erase(it++);
    } else {
      ++it;
    }
  }
  while (directories_.size() > options_.max_directories) {
    auto oldest = directories_.end();
    for (auto it = directories_.begin(); it != directories_.end(); ++it) {
      if (it->second.listing) continue;
      if (oldest == directories_.end() || it->second.last_open < oldest->second.last_open) {
        oldest = it;
      }
    }
    if (oldest == directories_.end()) break;
    DropAheadLocked(oldest->second, dropped);
    directories_.erase(oldest);
  }
}

ScanPrefetchStats ScanPrefetcher::stats() const {
  absl::MutexLock lock(&mu_);
  ScanPrefetchStats stats = stats_;
  stats.listings_in_flight = listings_in_flight_;
  return stats;
}

}  // namespace medfs::fuse
