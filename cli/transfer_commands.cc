// medfs put, get, cat: whole files and folder trees between the local file
// system and medfs.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "cli/cli.h"
#include "cli/transfer.h"
#include "common/status.h"

namespace medfs::cli {
namespace {

namespace fs = std::filesystem;

absl::Status Usage(const char* line) {
  return absl::InvalidArgumentError(absl::StrCat("usage: medfs ", line));
}

// Where `put LOCAL REMOTE` puts things: into REMOTE when it is an existing
// folder, else at REMOTE itself.
absl::StatusOr<std::string> PutTarget(client::Client* client,
                                      const std::string& local,
                                      const std::string& remote) {
  absl::StatusOr<v1::Inode> existing = client->ResolvePath(remote, true);
  if (existing.ok() && existing->type() == v1::FILE_TYPE_DIRECTORY) {
    const std::string base = fs::path(local).lexically_normal().filename();
    if (base.empty() || base == "." || base == "..") return remote;
    return JoinRemote(remote, base);
  }
  if (!existing.ok() && !absl::IsNotFound(existing.status())) {
    return PathError(remote, existing.status());
  }
  return remote;
}

// Creates folder `path` unless it exists as a folder.
absl::StatusOr<uint64_t> EnsureRemoteDir(client::Client* client,
                                         const std::string& path) {
  absl::StatusOr<v1::Inode> existing = client->ResolvePath(path, true);
  if (existing.ok()) {
    if (existing->type() != v1::FILE_TYPE_DIRECTORY) {
      return PathError(path, absl::FailedPreconditionError("not a directory"));
    }
    return existing->id();
  }
  if (!absl::IsNotFound(existing.status())) {
    return PathError(path, existing.status());
  }
  ASSIGN_OR_RETURN(v1::Inode parent, Resolve(client, RemoteDirname(path)));
  absl::StatusOr<v1::Inode> made = client->MkDir(
      parent.id(), RemoteBasename(path), 0755, getuid(), getgid());
  if (absl::IsAlreadyExists(made.status())) {
    made = client->ResolvePath(path, true);
  }
  if (!made.ok()) return PathError(path, made.status());
  return made->id();
}

// One file of a `put -r`.
struct PutJob {
  std::string local;
  uint64_t parent = 0;
  std::string name;
  std::string remote;
};

// Creates the remote folders of the tree under `local` and lists its files.
absl::Status WalkTree(CommandContext& c, const fs::path& local,
                      const std::string& remote, std::vector<PutJob>* jobs) {
  ASSIGN_OR_RETURN(uint64_t dir, EnsureRemoteDir(c.client, remote));
  std::error_code error;
  std::vector<fs::directory_entry> entries;
  for (const auto& entry : fs::directory_iterator(local, error)) {
    entries.push_back(entry);
  }
  if (error) {
    return PathError(local.string(),
                     ErrnoToStatus(error.value(), "list folder"));
  }
  std::sort(entries.begin(), entries.end());
  for (const fs::directory_entry& entry : entries) {
    const std::string name = entry.path().filename();
    const std::string child = JoinRemote(remote, name);
    if (entry.is_symlink()) {
      std::fprintf(c.err, "medfs: put %s: skipping symbolic link\n",
                   entry.path().c_str());
    } else if (entry.is_directory()) {
      RETURN_IF_ERROR(WalkTree(c, entry.path(), child, jobs));
    } else if (entry.is_regular_file()) {
      jobs->push_back(PutJob{entry.path().string(), dir, name, child});
    }
  }
  return absl::OkStatus();
}

// Uploads a folder tree: folders first, then the files by c.flags.jobs
// threads (small files are bound by round trips, not bandwidth). Stops at
// the first error, which it returns.
absl::Status PutTree(CommandContext& c, const fs::path& local,
                     const std::string& remote) {
  std::vector<PutJob> jobs;
  RETURN_IF_ERROR(WalkTree(c, local, remote, &jobs));
  std::atomic<size_t> next{0};
  absl::Mutex mu;
  absl::Status first_error;
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < jobs.size();) {
      const PutJob& job = jobs[i];
      absl::Status s = PutFile(c, job.local, job.parent, job.name, job.remote);
      if (!s.ok()) {
        absl::MutexLock lock(&mu);
        if (first_error.ok()) first_error = s;
        next.store(jobs.size());
      }
    }
  };
  const size_t threads =
      std::clamp<size_t>(c.flags.jobs, 1, std::max<size_t>(1, jobs.size()));
  std::vector<std::thread> workers;
  for (size_t t = 1; t < threads; ++t) workers.emplace_back(work);
  work();
  for (std::thread& w : workers) w.join();
  return first_error;
}

absl::Status GetTree(CommandContext& c, Downloader& downloader,
                     const v1::Inode& dir, const std::string& remote,
                     const fs::path& local) {
  std::error_code error;
  fs::create_directories(local, error);
  if (error) {
    return PathError(local.string(),
                     ErrnoToStatus(error.value(), "create folder"));
  }
  std::string after;
  while (true) {
    absl::StatusOr<client::DirectoryPage> page =
        c.client->ReadDir(dir.id(), after, 1000, true, 0);
    if (!page.ok()) return PathError(remote, page.status());
    for (const v1::ReadDirEntry& e : page->entries) {
      const std::string child = JoinRemote(remote, e.name());
      if (e.type() == v1::FILE_TYPE_DIRECTORY) {
        RETURN_IF_ERROR(GetTree(c, downloader, e.attributes(), child,
                                local / e.name()));
      } else if (e.type() == v1::FILE_TYPE_REGULAR) {
        RETURN_IF_ERROR(downloader.ToFile(e.inode(), child,
                                          (local / e.name()).string()));
      }
    }
    if (page->end_of_directory || page->entries.empty()) break;
    after = page->entries.back().name();
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunPut(CommandContext& c) {
  if (c.args.size() != 2) return Usage("put [-r] LOCAL REMOTE");
  const std::string& local = c.args[0];
  ASSIGN_OR_RETURN(std::string remote, NormalizeRemote(c.args[1]));
  struct stat st;
  if (stat(local.c_str(), &st) != 0) {
    return PathError(local, ErrnoToStatus(errno, "stat"));
  }
  ASSIGN_OR_RETURN(std::string target, PutTarget(c.client, local, remote));
  if (S_ISDIR(st.st_mode)) {
    if (!c.flags.recursive) {
      return PathError(local, absl::FailedPreconditionError(
                                  "is a directory (use put -r)"));
    }
    return PutTree(c, local, target);
  }
  if (target == "/") {
    return PathError(target, absl::FailedPreconditionError("is a directory"));
  }
  ASSIGN_OR_RETURN(v1::Inode parent, Resolve(c.client, RemoteDirname(target)));
  return PutFile(c, local, parent.id(), RemoteBasename(target), target);
}

absl::Status RunGet(CommandContext& c) {
  if (c.args.size() != 2) return Usage("get [-r] REMOTE LOCAL");
  ASSIGN_OR_RETURN(std::string remote, NormalizeRemote(c.args[0]));
  fs::path local = c.args[1];
  ASSIGN_OR_RETURN(v1::Inode inode, Resolve(c.client, remote));
  std::error_code error;
  const bool local_is_dir = fs::is_directory(local, error);
  if (local_is_dir && remote != "/") local /= RemoteBasename(remote);
  ASSIGN_OR_RETURN(auto downloader, Downloader::Create(c));
  if (inode.type() == v1::FILE_TYPE_DIRECTORY) {
    if (!c.flags.recursive) {
      return PathError(remote, absl::FailedPreconditionError(
                                   "is a directory (use get -r)"));
    }
    return GetTree(c, *downloader, inode, remote, local);
  }
  return downloader->ToFile(inode.id(), remote, local.string());
}

absl::Status RunCat(CommandContext& c) {
  if (c.args.empty()) return Usage("cat PATH...");
  ASSIGN_OR_RETURN(auto downloader, Downloader::Create(c));
  for (const std::string& arg : c.args) {
    ASSIGN_OR_RETURN(std::string path, NormalizeRemote(arg));
    ASSIGN_OR_RETURN(v1::Inode inode, Resolve(c.client, path));
    if (inode.type() == v1::FILE_TYPE_DIRECTORY) {
      return PathError(path, absl::FailedPreconditionError("is a directory"));
    }
    std::fflush(c.out);
    RETURN_IF_ERROR(downloader->ToFd(inode.id(), path, fileno(c.out)));
  }
  return absl::OkStatus();
}

}  // namespace medfs::cli
