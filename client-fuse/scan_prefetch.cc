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
      return tasks_in_flight_ == 0;
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
  // Loaded ahead, or passed a moment ago (reader threads of one scan come
  // slightly out of order).
  for (const auto* window : {&dir->second.ahead, &dir->second.passed}) {
    for (const Ahead& ahead : *window) {
      if (ahead.name != name) continue;
      auto handle = handles_.find(ahead.inode);
      if (handle == handles_.end() || now - ahead.listed_at >= options_.entry_fresh_for) {
        return std::nullopt;
      }
      return handle->second->inode();
    }
  }
  for (const Listed& listed : dir->second.listed) {
    if (listed.entry.name() != name) continue;
    if (!listed.entry.has_attributes() || now - listed.listed_at >= options_.entry_fresh_for) {
      return std::nullopt;
    }
    return listed.entry.attributes();
  }
  return std::nullopt;
}

void ScanPrefetcher::Forget(uint64_t directory, uint64_t inode) {
  if (options_.files_ahead == 0) return;
  Handles dropped;  // destroyed after mu_ is released
  absl::MutexLock lock(&mu_);
  dropped.swap(retired_);
  ++forgets_;  // listings in flight drop what they bring
  if (inode != 0) {
    DropHandleLocked(inode, &dropped);
    // Its listed attributes are no longer current either.
    if (auto named = names_.find(inode); named != names_.end()) {
      if (auto dir = directories_.find(named->second.first); dir != directories_.end()) {
        std::erase_if(dir->second.listed,
                      [inode](const Listed& listed) { return listed.entry.inode() == inode; });
      }
    }
  }
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
    const bool late = std::any_of(dir.passed.begin(), dir.passed.end(),
                                  [&](const Ahead& p) { return p.inode == attributes.id(); });
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
    dir.passed.push_back(std::move(dir.ahead.front()));
    dir.ahead.pop_front();
  }
  while (dir.passed.size() > options_.files_ahead) {
    DropHandleLocked(dir.passed.front().inode, &dropped);
    dir.passed.pop_front();
  }
  // Listed files passed unloaded: remembered among the passed ones so that
  // a late reader thread opening one does not look like a new pass.
  while (!dir.listed.empty() && dir.listed.front().entry.name() <= name) {
    const Listed& listed = dir.listed.front();
    dir.passed.push_back({listed.entry.name(), listed.entry.inode(), listed.listed_at});
    dir.listed.pop_front();
    if (dir.passed.size() > options_.files_ahead) {
      DropHandleLocked(dir.passed.front().inode, &dropped);
      dir.passed.pop_front();
    }
  }
  // Refill the window in batches of at least half of it: from the entries
  // listed already, else with a listing of the next list_ahead entries.
  const size_t missing =
      options_.files_ahead - std::min(options_.files_ahead, dir.ahead.size());
  const size_t run_needed = options_.scan_after << std::min<size_t>(dir.fruitless, 4);
  if (dir.run < run_needed || dir.busy ||
      missing < std::max<size_t>(1, options_.files_ahead / 2)) {
    return taken;
  }
  if (!dir.listed.empty()) {
    std::vector<Listed> batch;
    batch.reserve(std::min(missing, dir.listed.size()));
    while (!dir.listed.empty() && batch.size() < missing) {
      batch.push_back(std::move(dir.listed.front()));
      dir.listed.pop_front();
    }
    dir.busy = true;
    ++tasks_in_flight_;
    // (std::function wants a copyable task: the batch travels in a shared_ptr.)
    auto shared = std::make_shared<std::vector<Listed>>(std::move(batch));
    loaders_->Schedule([this, parent, shared, forgets = forgets_] {
      LoadListed(parent, std::move(*shared), forgets);
    });
  } else if (!dir.end) {
    // None of the previous listing's files opened: the next needs a longer run.
    dir.fruitless = dir.listed_before && dir.hits == 0 ? dir.fruitless + 1 : 0;
    dir.hits = 0;
    dir.listed_before = true;
    dir.busy = true;
    ++tasks_in_flight_;
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

void ScanPrefetcher::ListAhead(uint64_t directory, std::string after, size_t load,
                               uint64_t forgets) {
  const absl::Time listed_at = absl::Now();
  const size_t count = std::max(options_.list_ahead, options_.files_ahead);
  absl::StatusOr<client::DirectoryPage> page =
      client_->ReadDir(directory, after, static_cast<uint32_t>(count),
                       /*with_attributes=*/true, kSmallFileExtents);
  std::vector<Listed> entries;
  if (page.ok()) {
    entries.reserve(page->entries.size());
    for (v1::ReadDirEntry& entry : page->entries) {
      entries.push_back({std::move(entry), listed_at, nullptr});
    }
  } else {
    MEDFS_LOG(WARNING) << "listing directory " << directory << " ahead of a reader "
                       << "after \"" << after << "\" failed: " << page.status();
  }
  const size_t started = StartLoads(entries, load);
  Admit(directory, std::move(entries), started, /*from_listing=*/true, page.ok(),
        page.ok() && page->end_of_directory, forgets);
}

void ScanPrefetcher::LoadListed(uint64_t directory, std::vector<Listed> batch,
                                uint64_t forgets) {
  const size_t started = StartLoads(batch, batch.size());
  Admit(directory, std::move(batch), started, /*from_listing=*/false,
        /*listing_ok=*/true, /*end_of_directory=*/false, forgets);
}

size_t ScanPrefetcher::StartLoads(std::vector<Listed>& entries, size_t want) {
  const size_t limit = std::min(want, entries.size());
  for (size_t i = 0; i < limit; ++i) {
    Listed& listed = entries[i];
    const v1::Inode& attributes = listed.entry.attributes();
    if (!listed.entry.has_extents() || attributes.size() == 0 ||
        attributes.size() > pool_->block_bytes()) {
      continue;  // not a small file: nothing to load
    }
    listed.handle = std::make_unique<ReadHandle>(client_, pool_, loaders_, attributes, readahead_);
    if (!listed.handle->StartPrefetch()) {
      listed.handle.reset();
      return i;  // the pool is out of spare blocks: this one waits
    }
  }
  return limit;
}

void ScanPrefetcher::Admit(uint64_t directory, std::vector<Listed> entries, size_t started,
                           bool from_listing, bool listing_ok, bool end_of_directory,
                           uint64_t forgets) {
  // A dropped handle's destructor waits for its loads, which are queued on
  // the loader threads this runs on: they are retired here and destroyed by
  // the next OnOpen or Forget, on a FUSE thread.
  absl::MutexLock lock(&mu_);
  Handles& dropped = retired_;
  --tasks_in_flight_;
  if (from_listing) ++stats_.listings;
  auto dir = directories_.find(directory);
  if (forgets != forgets_) {  // this mount changed something meanwhile
    for (Listed& listed : entries) {
      if (listed.handle == nullptr) continue;
      ++stats_.prefetched;
      ++stats_.dropped;
      dropped.push_back(std::move(listed.handle));
    }
    if (dir != directories_.end()) dir->second.busy = false;
    return;
  }
  for (Listed& listed : entries) {
    if (names_.size() >= options_.max_names) names_.clear();
    names_.insert_or_assign(listed.entry.inode(), std::make_pair(directory, listed.entry.name()));
  }
  for (size_t i = 0; i < started; ++i) {
    Listed& listed = entries[i];
    if (listed.handle == nullptr) continue;
    ++stats_.prefetched;
    if (dir == directories_.end()) {
      ++stats_.dropped;  // the scan was forgotten meanwhile
      dropped.push_back(std::move(listed.handle));
      continue;
    }
    const uint64_t inode = listed.entry.inode();
    if (listed.entry.name() <= dir->second.last_opened) {
      // The reader got there first.
      dir->second.passed.push_back({listed.entry.name(), inode, listed.listed_at});
    } else {
      dir->second.ahead.push_back({listed.entry.name(), inode, listed.listed_at});
    }
    auto [it, inserted] = handles_.try_emplace(inode);
    if (!inserted) {
      ++stats_.dropped;
      dropped.push_back(std::move(it->second));
    }
    it->second = std::move(listed.handle);
  }
  if (dir == directories_.end()) return;
  Directory& scan = dir->second;
  scan.busy = false;
  // Entries not loaded yet wait in the listed queue, those the reader has
  // passed meanwhile excepted.
  std::deque<Listed> waiting;
  for (size_t i = started; i < entries.size(); ++i) {
    if (entries[i].entry.name() > scan.last_opened) waiting.push_back(std::move(entries[i]));
  }
  if (from_listing) {
    for (Listed& listed : waiting) scan.listed.push_back(std::move(listed));
    if (!listing_ok) return;
    if (!entries.empty()) scan.listed_up_to = entries.back().entry.name();
    scan.end = end_of_directory;
  } else {
    for (Listed& listed : scan.listed) waiting.push_back(std::move(listed));
    scan.listed = std::move(waiting);
  }
}

void ScanPrefetcher::DropAheadLocked(Directory& dir, Handles* dropped) {
  for (const Ahead& ahead : dir.ahead) DropHandleLocked(ahead.inode, dropped);
  for (const Ahead& passed : dir.passed) DropHandleLocked(passed.inode, dropped);
  dir.ahead.clear();
  dir.passed.clear();
  dir.listed.clear();
}

void ScanPrefetcher::SweepLocked(absl::Time now, Handles* dropped) {
  last_sweep_ = now;
  for (auto it = directories_.begin(); it != directories_.end();) {
    Directory& dir = it->second;
    if (now - dir.last_open > options_.idle_drop && !dir.busy) {
      DropAheadLocked(dir, dropped);
      directories_.erase(it++);
    } else {
      ++it;
    }
  }
  while (directories_.size() > options_.max_directories) {
    auto oldest = directories_.end();
    for (auto it = directories_.begin(); it != directories_.end(); ++it) {
      if (it->second.busy) continue;
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
  stats.tasks_in_flight = tasks_in_flight_;
  return stats;
}

}  // namespace medfs::fuse
