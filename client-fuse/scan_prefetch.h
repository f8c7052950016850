// Loads the next files of a directory that a reader goes through in name
// order, before the reader opens them.
//
// Reading a folder file by file (a DICOM series slice after slice, a
// dataset walked in listing order) costs each file one round trip to a
// chunkserver, and when the servers' page cache is cold one disk read, in
// turn. The ScanPrefetcher notices such a scan: opens of files of one
// directory in ascending name order, the order readdir returns. Then one
// ReadDir asks meta for the next `list_ahead` entries with their extents and
// chunk replicas, and a ReadHandle per small file (at most one read block)
// starts loading the bytes of the next `files_ahead` of them on the loader
// threads, so that their reads overlap. The listed entries answer the
// lookups of their names (for as long as the kernel's own entry cache
// would), and the files further down the listing are loaded as the reader
// comes closer: one metadata round trip per `list_ahead` files of a scan,
// not one or two per file.
//
// Consistency: Open hands over a prefetched handle only when it holds the
// content version Open itself got for the inode; chunks are immutable, so
// the bytes are exactly those of that version. Any other prefetched handle
// is dropped unused, as is everything of a scan idle for `idle_drop`. An
// open of a name before the last one ends the run (out-of-order readers
// still find what was loaded); a listing none of whose files was opened
// doubles the run needed before the next (random access stops costing
// reads).
//
// Bounds: `files_ahead` handles per directory; each holds one block of the
// read pool, taken only past the pool's reserve for synchronous reads (no
// spare block: no prefetch); `list_ahead` listed entries per directory;
// `max_directories` scans followed at once; `max_names` names remembered to
// place an open in its directory.
//
// Thread safety: thread safe. Its mutex is never held while calling the
// client or destroying a handle.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client-fuse/block_pool.h"
#include "client-fuse/read_handle.h"
#include "client-fuse/thread_pool.h"
#include "client/client.h"

namespace medfs::fuse {

struct ScanPrefetchOptions {
  // Files kept loaded ahead of a scanning reader. Default 8; 0: off.
  size_t files_ahead = 8;
  // Entries listed per ReadDir ahead of a scan (at least files_ahead are).
  // Default 64.
  size_t list_ahead = 64;
  // Opens in ascending name order in a row before prefetching. Default 3.
  size_t scan_after = 3;
  // Directories followed at once (the least recently opened is forgotten).
  // Default 64.
  size_t max_directories = 64;
  // inode -> (directory, name) entries remembered; cleared when full.
  // Default 65536.
  size_t max_names = 1 << 16;
  // A scan with no open for this long drops its prefetched files. Default 5 s.
  absl::Duration idle_drop = absl::Seconds(5);
  // How long a listed entry may answer a lookup of its name (as the
  // kernel's own entry cache would). Default 1 s, as the mount's entry and
  // attribute timeouts; zero: never.
  absl::Duration entry_fresh_for = absl::Seconds(1);
};

struct ScanPrefetchStats {
  uint64_t listings = 0;    // ReadDir calls made ahead of a reader
  uint64_t prefetched = 0;  // files whose first block was loaded ahead
  uint64_t used = 0;        // of those, handed to an open of that version
  uint64_t dropped = 0;     // of those, dropped unused or stale
  uint64_t tasks_in_flight = 0;  // listings and loads scheduled, not done
};

class ScanPrefetcher {
 public:
  // REQUIRES: the pointers outlive the prefetcher.
  ScanPrefetcher(client::Client* client, BlockPool* pool, ThreadPool* loaders,
                 ReadaheadOptions readahead, ScanPrefetchOptions options);
  // Waits for listings in flight, then drops what is still prefetched.
  ~ScanPrefetcher();
  ScanPrefetcher(const ScanPrefetcher&) = delete;
  ScanPrefetcher& operator=(const ScanPrefetcher&) = delete;

  // Remembers that `inode` is `name` in `directory` (from lookups and
  // directory listings).
  void NoteName(uint64_t directory, const std::string& name, uint64_t inode);

  // The attributes (with extents when it is a small file) of `name` in
  // `directory` when a scan listed it less than entry_fresh_for ago and it
  // is still ahead of the reader: the lookup before its open needs no meta
  // round trip. Otherwise nullopt.
  std::optional<v1::Inode> ListedEntry(uint64_t directory, const std::string& name) const;

  // This mount changed names in `directory` (unlink, rename: 0 for none)
  // or the content or attributes of `inode` (0 for none): what was listed
  // or loaded for them no longer answers a lookup or an open.
  void Forget(uint64_t directory, uint64_t inode);

  // An open for reading got `attributes` (with extents). Returns the
  // prefetched handle of that inode and content version, or null; advances
  // the scan of the file's directory, which may start listing and loading
  // the next files (in the background).
  std::unique_ptr<ReadHandle> OnOpen(const v1::Inode& attributes);

  ScanPrefetchStats stats() const;

 private:
  struct Ahead {
    std::string name;
    uint64_t inode = 0;
    absl::Time listed_at;
  };
  // An entry of a listing ahead of a scan, and its handle once loading.
  struct Listed {
    v1::ReadDirEntry entry;
    absl::Time listed_at;
    std::unique_ptr<ReadHandle> handle;
  };
  struct Directory {
    std::string last_opened;
    size_t run = 0;             // opens in ascending name order in a row, this one included
    std::string listed_up_to;   // last name listed ahead
    bool busy = false;          // a listing or a load for it is in flight
    bool end = false;           // the listing reached the end
    std::deque<Ahead> ahead;    // prefetched files not reached yet, in name order
    // Listed after `ahead`, not loaded yet, in name order (handles null).
    std::deque<Listed> listed;
    // Files the scan went past unopened (loaded or only listed), oldest
    // first; kept a while (at most files_ahead) for readers that open
    // slightly out of order (several threads of one scan).
    std::deque<Ahead> passed;
    bool listed_before = false;  // a listing was made (and not forgotten)
    size_t hits = 0;            // prefetched files opened since the last listing
    size_t fruitless = 0;       // listings in a row none of whose files was opened
    absl::Time last_open;
  };
  using Handles = std::vector<std::unique_ptr<ReadHandle>>;

  // Lists up to list_ahead entries after `after` and starts the loads of
  // the first `load` of them; drops them if a Forget came after `forgets`
  // (the count when scheduled). On a loader thread.
  void ListAhead(uint64_t directory, std::string after, size_t load, uint64_t forgets);
  // Starts the loads of `batch` (taken from the front of the directory's
  // listed entries). On a loader thread.
  void LoadListed(uint64_t directory, std::vector<Listed> batch, uint64_t forgets);
  // Starts the loads of the small files among entries[0, want) (null
  // handles for the others); returns how many entries it went through, fewer
  // than `want` when the pool had no block to spare. Without mu_.
  size_t StartLoads(std::vector<Listed>& entries, size_t want);
  // Takes the outcome of a listing (`from_listing`) or a load back under
  // mu_: entries[0, started) into the window, the rest into the listed
  // entries (appended after a listing, put back in front after a load).
  void Admit(uint64_t directory, std::vector<Listed> entries, size_t started,
             bool from_listing, bool listing_ok, bool end_of_directory, uint64_t forgets);
  // Moves the prefetched handle of `inode`, if any, into `dropped`.
  void DropHandleLocked(uint64_t inode, Handles* dropped) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves the handles of `dir`'s prefetched files into `dropped`.
  void DropAheadLocked(Directory& dir, Handles* dropped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets idle scans and, past max_directories, the least recent one.
  void SweepLocked(absl::Time now, Handles* dropped) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  client::Client* const client_;
  BlockPool* const pool_;
  ThreadPool* const loaders_;
  const ReadaheadOptions readahead_;
  const ScanPrefetchOptions options_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::pair<uint64_t, std::string>> names_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, Directory> directories_ ABSL_GUARDED_BY(mu_);
  // Prefetched handles by inode.
  absl::flat_hash_map<uint64_t, std::unique_ptr<ReadHandle>> handles_
      ABSL_GUARDED_BY(mu_);
  // Handles dropped on a loader thread, destroyed on the next FUSE thread
  // that comes by (their destructors wait for loads on the loader threads).
  Handles retired_ ABSL_GUARDED_BY(mu_);
  int tasks_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t forgets_ ABSL_GUARDED_BY(mu_) = 0;  // Forget calls so far
  absl::Time last_sweep_ ABSL_GUARDED_BY(mu_);
  ScanPrefetchStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace medfs::fuse
