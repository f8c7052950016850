// medfs ls, stat, mkdir, rm, mv.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "cli/cli.h"
#include "common/status.h"

namespace medfs::cli {
namespace {

constexpr uint32_t kPageEntries = 1000;

absl::Status Usage(const char* line) {
  return absl::InvalidArgumentError(absl::StrCat("usage: medfs ", line));
}

std::string TimeString(int64_t ns) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixNanos(ns),
                          absl::LocalTimeZone());
}

const char* TypeName(v1::FileType type) {
  switch (type) {
    case v1::FILE_TYPE_REGULAR: return "regular file";
    case v1::FILE_TYPE_DIRECTORY: return "directory";
    case v1::FILE_TYPE_SYMLINK: return "symbolic link";
    default: return "unknown";
  }
}

void PrintLong(FILE* out, const v1::Inode& a, const std::string& name) {
  std::fprintf(out, "%s %3u %5u %5u %12" PRIu64 " %s %s", ModeString(a).c_str(),
               a.nlink(), a.uid(), a.gid(), a.size(),
               absl::FormatTime("%Y-%m-%d %H:%M", absl::FromUnixNanos(a.mtime_ns()),
                                absl::LocalTimeZone()).c_str(),
               name.c_str());
  if (a.type() == v1::FILE_TYPE_SYMLINK) {
    std::fprintf(out, " -> %s", a.symlink_target().c_str());
  }
  std::fputc('\n', out);
}

// Every entry of `dir`, page by page.
absl::StatusOr<std::vector<v1::ReadDirEntry>> ListAll(client::Client* client,
                                                      uint64_t dir,
                                                      bool with_attributes) {
  std::vector<v1::ReadDirEntry> all;
  std::string after;
  while (true) {
    ASSIGN_OR_RETURN(client::DirectoryPage page,
                     client->ReadDir(dir, after, kPageEntries, with_attributes, 0));
    for (auto& e : page.entries) all.push_back(std::move(e));
    if (page.end_of_directory || page.entries.empty()) break;
    after = all.back().name();
  }
  return all;
}

// Removes every entry under `dir` (at `path`), then nothing else.
absl::Status RemoveChildren(client::Client* client, uint64_t dir,
                            const std::string& path) {
  absl::StatusOr<std::vector<v1::ReadDirEntry>> entries =
      ListAll(client, dir, false);
  if (!entries.ok()) return PathError(path, entries.status());
  for (const v1::ReadDirEntry& e : *entries) {
    const std::string child = JoinRemote(path, e.name());
    if (e.type() == v1::FILE_TYPE_DIRECTORY) {
      RETURN_IF_ERROR(RemoveChildren(client, e.inode(), child));
      absl::Status s = client->RmDir(dir, e.name());
      if (!s.ok() && !absl::IsNotFound(s)) return PathError(child, s);
    } else {
      absl::Status s = client->Unlink(dir, e.name());
      if (!s.ok() && !absl::IsNotFound(s)) return PathError(child, s);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunLs(CommandContext& c) {
  if (c.args.size() > 1) return Usage("ls [-l] [PATH]");
  ASSIGN_OR_RETURN(std::string path,
                   NormalizeRemote(c.args.empty() ? "/" : c.args[0]));
  ASSIGN_OR_RETURN(v1::Inode inode, Resolve(c.client, path, false));
  if (inode.type() != v1::FILE_TYPE_DIRECTORY) {
    if (c.flags.long_format) {
      PrintLong(c.out, inode, path);
    } else {
      std::fprintf(c.out, "%s\n", path.c_str());
    }
    return absl::OkStatus();
  }
  std::string after;
  while (true) {
    absl::StatusOr<client::DirectoryPage> page =
        c.client->ReadDir(inode.id(), after, kPageEntries, c.flags.long_format, 0);
    if (!page.ok()) return PathError(path, page.status());
    for (const v1::ReadDirEntry& e : page->entries) {
      if (c.flags.long_format) {
        PrintLong(c.out, e.attributes(), e.name());
      } else {
        std::fprintf(c.out, "%s\n", e.name().c_str());
      }
    }
    if (page->end_of_directory || page->entries.empty()) break;
    after = page->entries.back().name();
  }
  return absl::OkStatus();
}

absl::Status RunStat(CommandContext& c) {
  if (c.args.size() != 1) return Usage("stat PATH");
  ASSIGN_OR_RETURN(std::string path, NormalizeRemote(c.args[0]));
  ASSIGN_OR_RETURN(v1::Inode resolved, Resolve(c.client, path, false));
  absl::StatusOr<v1::Inode> full = c.client->GetAttr(
      resolved.id(), resolved.type() == v1::FILE_TYPE_REGULAR);
  if (!full.ok()) return PathError(path, full.status());
  const v1::Inode& a = *full;
  std::vector<uint64_t> chunks;  // distinct, in file order
  for (const v1::Extent& e : a.extents()) {
    if (std::find(chunks.begin(), chunks.end(), e.chunk_id()) == chunks.end()) {
      chunks.push_back(e.chunk_id());
    }
  }
  std::fprintf(c.out, "  File: %s\n  Type: %s\n", path.c_str(),
               TypeName(a.type()));
  std::fprintf(c.out, " Inode: %" PRIu64 "  Links: %u\n", a.id(), a.nlink());
  std::fprintf(c.out, "  Size: %" PRIu64 " (%s)", a.size(),
               HumanBytes(a.size()).c_str());
  if (a.type() == v1::FILE_TYPE_REGULAR) {
    std::fprintf(c.out, "  Extents: %d  Chunks: %zu", a.extents_size(),
                 chunks.size());
  }
  if (a.type() == v1::FILE_TYPE_DIRECTORY) {
    std::fprintf(c.out, "  Entries: %" PRIu64, a.entry_count());
  }
  std::fprintf(c.out, "\n  Mode: %04o (%s)  Uid: %u  Gid: %u\n", a.mode(),
               ModeString(a).c_str(), a.uid(), a.gid());
  if (a.type() == v1::FILE_TYPE_SYMLINK) {
    std::fprintf(c.out, "Target: %s\n", a.symlink_target().c_str());
  }
  if (!chunks.empty()) {
    constexpr size_t kShown = 16;
    std::vector<uint64_t> shown(chunks.begin(),
                                chunks.begin() + std::min(kShown, chunks.size()));
    std::fprintf(c.out, "Chunk ids: %s%s\n", absl::StrJoin(shown, " ").c_str(),
                 chunks.size() > kShown ? " ..." : "");
  }
  std::fprintf(c.out, "Modify: %s\nChange: %s\n", TimeString(a.mtime_ns()).c_str(),
               TimeString(a.ctime_ns()).c_str());
  std::fprintf(c.out, "Content version: %" PRIu64 "  Replication: %u\n",
               a.content_version(), a.replication());
  return absl::OkStatus();
}

absl::Status RunMkdir(CommandContext& c) {
  if (c.args.size() != 1) return Usage("mkdir [-p] PATH");
  ASSIGN_OR_RETURN(std::string path, NormalizeRemote(c.args[0]));
  if (path == "/") {
    if (c.flags.parents) return absl::OkStatus();
    return PathError(path, absl::AlreadyExistsError("root"));
  }
  const uint32_t uid = getuid(), gid = getgid();
  if (!c.flags.parents) {
    ASSIGN_OR_RETURN(v1::Inode parent, Resolve(c.client, RemoteDirname(path)));
    absl::StatusOr<v1::Inode> made = c.client->MkDir(
        parent.id(), RemoteBasename(path), 0755, uid, gid);
    return made.ok() ? absl::OkStatus() : PathError(path, made.status());
  }
  // -p: walk from the root, creating what is missing. AlreadyExists from a
  // retried MkDir (lost reply) or a racing client is fine: look it up.
  uint64_t dir = client::kRootInode;
  std::string so_far;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    const std::string name(part);
    so_far = JoinRemote(so_far.empty() ? "/" : so_far, name);
    absl::StatusOr<v1::Inode> child = c.client->Lookup(dir, name);
    if (absl::IsNotFound(child.status())) {
      child = c.client->MkDir(dir, name, 0755, uid, gid);
      if (absl::IsAlreadyExists(child.status())) {
        child = c.client->Lookup(dir, name);
      }
    }
    if (!child.ok()) return PathError(so_far, child.status());
    if (child->type() != v1::FILE_TYPE_DIRECTORY) {
      return PathError(so_far,
                       absl::FailedPreconditionError("not a directory"));
    }
    dir = child->id();
  }
  return absl::OkStatus();
}

absl::Status RunRm(CommandContext& c) {
  if (c.args.size() != 1) return Usage("rm [-r] PATH");
  ASSIGN_OR_RETURN(std::string path, NormalizeRemote(c.args[0]));
  if (path == "/") {
    return PathError(path, absl::InvalidArgumentError("refusing to remove /"));
  }
  ASSIGN_OR_RETURN(v1::Inode target, Resolve(c.client, path, false));
  ASSIGN_OR_RETURN(v1::Inode parent, Resolve(c.client, RemoteDirname(path)));
  const std::string name = RemoteBasename(path);
  if (target.type() == v1::FILE_TYPE_DIRECTORY) {
    if (!c.flags.recursive) {
      return PathError(path, absl::FailedPreconditionError(
                                 "is a directory (use rm -r)"));
    }
    RETURN_IF_ERROR(RemoveChildren(c.client, target.id(), path));
    return PathError(path, c.client->RmDir(parent.id(), name));
  }
  return PathError(path, c.client->Unlink(parent.id(), name));
}

absl::Status RunMv(CommandContext& c) {
  if (c.args.size() != 2) return Usage("mv SRC DST");
  ASSIGN_OR_RETURN(std::string src, NormalizeRemote(c.args[0]));
  ASSIGN_OR_RETURN(std::string dst, NormalizeRemote(c.args[1]));
  ASSIGN_OR_RETURN(v1::Inode src_parent, Resolve(c.client, RemoteDirname(src)));
  // Into an existing folder, like mv(1).
  absl::StatusOr<v1::Inode> dst_inode = c.client->ResolvePath(dst, true);
  if (dst_inode.ok() && dst_inode->type() == v1::FILE_TYPE_DIRECTORY) {
    dst = JoinRemote(dst, RemoteBasename(src));
  } else if (!dst_inode.ok() && !absl::IsNotFound(dst_inode.status())) {
    return PathError(dst, dst_inode.status());
  }
  ASSIGN_OR_RETURN(v1::Inode dst_parent, Resolve(c.client, RemoteDirname(dst)));
  return PathError(src, c.client->Rename(src_parent.id(), RemoteBasename(src),
                                         dst_parent.id(), RemoteBasename(dst),
                                         /*no_replace=*/false));
}

absl::Status RunStatus(CommandContext& c) {
  if (!c.args.empty()) return Usage("status");
  absl::StatusOr<v1::ClusterStatusReply> status = c.client->ClusterStatus();
  if (!status.ok()) return PathError("cluster", status.status());
  std::fprintf(c.out, "%-4s %-24s %-9s %12s %12s %10s\n", "ID", "ADDRESS",
               "STATE", "CAPACITY", "FREE", "CHUNKS");
  int up = 0;
  for (const v1::ServerRecord& s : status->servers()) {
    const char* state = s.state() == v1::SERVER_STATE_UP         ? "up"
                        : s.state() == v1::SERVER_STATE_DEAD     ? "dead"
                        : s.state() == v1::SERVER_STATE_DRAINING ? "draining"
                                                                 : "unknown";
    if (s.state() == v1::SERVER_STATE_UP) ++up;
    std::fprintf(c.out, "%-4" PRIu64 " %-24s %-9s %12s %12s %10" PRIu64 "\n",
                 s.id(), s.data_endpoint().c_str(), state,
                 HumanBytes(s.capacity_bytes()).c_str(),
                 HumanBytes(s.free_bytes()).c_str(), s.chunk_count());
  }
  std::fprintf(c.out,
               "total: %d servers (%d up), capacity %s, free %s, %" PRIu64
               " chunks, %" PRIu64 " inodes, replication %u, max chunk %s\n",
               status->servers_size(), up,
               HumanBytes(status->capacity_bytes()).c_str(),
               HumanBytes(status->free_bytes()).c_str(), status->chunk_count(),
               status->inode_count(), status->default_replication(),
               HumanBytes(status->max_chunk_bytes()).c_str());
  return absl::OkStatus();
}

}  // namespace medfs::cli
