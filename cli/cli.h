// The `medfs` command-line tool: shared pieces of its commands.
//
// Each command is a function taking a CommandContext and returning an
// absl::Status; main.cc parses flags, connects and dispatches through one
// table. Errors come back as CommandError (the path the command was working
// on plus the cause) and main prints them as
//   medfs: <command> <path>: <reason>
// with a non-zero exit status.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/client.h"

namespace medfs::cli {

// Per-command switches parsed by main.cc.
struct CommandFlags {
  bool recursive = false;  // -r: put/get/rm folder trees
  bool long_format = false;  // -l: ls with attributes
  bool parents = false;    // -p: mkdir creates missing parents
  bool progress = true;    // progress lines on stderr for big transfers
  int jobs = 4;            // put -r: files uploaded in parallel
};

struct CommandContext {
  client::Client* client = nullptr;
  std::vector<std::string> args;  // positional arguments after the command
  CommandFlags flags;
  FILE* out = stdout;
  FILE* err = stderr;
};

// A failed command: `path` is what it was working on (may be empty).
absl::Status PathError(const std::string& path, const absl::Status& cause);
// "<path>: <reason>" for a status made by PathError (or any status): the
// reason is short for well-known codes ("not found", "already exists",
// "server unreachable: ...", "no space left: ...", "checksum mismatch on
// all replicas: ...").
std::string DescribeError(const absl::Status& status);

// Remote paths: absolute, normalised ("/a/b"; "/" for the root).
absl::StatusOr<std::string> NormalizeRemote(const std::string& path);
// The parent folder and last name of a normalised non-root path.
std::string RemoteDirname(const std::string& path);
std::string RemoteBasename(const std::string& path);
std::string JoinRemote(const std::string& dir, const std::string& name);

// The inode at `path` (symlinks followed except the last component unless
// follow_last), errors wrapped with PathError.
absl::StatusOr<v1::Inode> Resolve(client::Client* client,
                                  const std::string& path,
                                  bool follow_last = true);

// Human-readable byte count: "1.5 GiB".
std::string HumanBytes(uint64_t bytes);
// "drwxr-xr-x" for an inode.
std::string ModeString(const v1::Inode& inode);

// The commands. Each validates its own argument count (kInvalidArgument
// with a usage line).
absl::Status RunPut(CommandContext& context);
absl::Status RunGet(CommandContext& context);
absl::Status RunCat(CommandContext& context);
absl::Status RunLs(CommandContext& context);
absl::Status RunStat(CommandContext& context);
absl::Status RunMkdir(CommandContext& context);
absl::Status RunRm(CommandContext& context);
absl::Status RunMv(CommandContext& context);
absl::Status RunStatus(CommandContext& context);

}  // namespace medfs::cli
