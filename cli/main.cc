// medfs: the command-line tool.
//
//   medfs [--meta=host:port] [--provider=tcp;ofi_rxm] COMMAND [flags] ARGS
//
// Parse flags, pick the command, connect, run it, print its error as
// "medfs: <command> <path>: <reason>" and exit non-zero on failure.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/cli.h"
#include "client/client.h"
#include "common/logging.h"

ABSL_FLAG(std::string, meta, "",
          "medfs-meta address host:port (default $MEDFS_META, else "
          "127.0.0.1:9400)");
ABSL_FLAG(std::string, provider, "tcp;ofi_rxm", "libfabric provider");
ABSL_FLAG(std::string, fabric_node, "127.0.0.1",
          "local address of this client's fabric endpoint");
ABSL_FLAG(uint32_t, replication, 0, "put: replicas per chunk (0: cluster default)");
ABSL_FLAG(bool, r, false, "put/get/rm: whole folder trees");
ABSL_FLAG(bool, l, false, "ls: long listing with attributes");
ABSL_FLAG(bool, p, false, "mkdir: create missing parents, no error if present");
ABSL_FLAG(bool, progress, true, "put/get: progress on stderr for big files");
ABSL_FLAG(bool, verbose, false, "log client warnings on stderr");

namespace {

using medfs::cli::CommandContext;
using Runner = absl::Status (*)(CommandContext&);

struct Command {
  const char* name;
  Runner run;
  const char* usage;
};

constexpr Command kCommands[] = {
    {"put", medfs::cli::RunPut, "put [-r] LOCAL REMOTE"},
    {"get", medfs::cli::RunGet, "get [-r] REMOTE LOCAL"},
    {"cat", medfs::cli::RunCat, "cat PATH..."},
    {"ls", medfs::cli::RunLs, "ls [-l] [PATH]"},
    {"stat", medfs::cli::RunStat, "stat PATH"},
    {"mkdir", medfs::cli::RunMkdir, "mkdir [-p] PATH"},
    {"rm", medfs::cli::RunRm, "rm [-r] PATH"},
    {"mv", medfs::cli::RunMv, "mv SRC DST"},
    {"status", medfs::cli::RunStatus, "status"},
};

std::string UsageText() {
  std::string text = "medfs [--meta=host:port] COMMAND ARGS\ncommands:\n";
  for (const Command& c : kCommands) absl::StrAppend(&text, "  medfs ", c.usage, "\n");
  return text;
}

std::string MetaAddress() {
  std::string address = absl::GetFlag(FLAGS_meta);
  if (address.empty()) {
    const char* env = std::getenv("MEDFS_META");
    address = (env != nullptr && *env != '\0') ? env : "127.0.0.1:9400";
  }
  return address;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(UsageText());
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  medfs::SetMinLogLevel(absl::GetFlag(FLAGS_verbose) ? medfs::LogLevel::INFO
                                                     : medfs::LogLevel::ERROR);
  if (positional.size() < 2) {
    std::fputs(UsageText().c_str(), stderr);
    return 2;
  }
  const std::string name = positional[1];
  const Command* command = nullptr;
  for (const Command& c : kCommands) {
    if (name == c.name) command = &c;
  }
  if (command == nullptr) {
    std::fprintf(stderr, "medfs: unknown command '%s'\n%s", name.c_str(),
                 UsageText().c_str());
    return 2;
  }
  CommandContext context;
  context.args.assign(positional.begin() + 2, positional.end());
  context.flags.recursive = absl::GetFlag(FLAGS_r);
  context.flags.long_format = absl::GetFlag(FLAGS_l);
  context.flags.parents = absl::GetFlag(FLAGS_p);
  context.flags.progress = absl::GetFlag(FLAGS_progress);

  medfs::client::ClientOptions options;
  options.meta_address = MetaAddress();
  options.fabric_provider = absl::GetFlag(FLAGS_provider);
  options.fabric_node = absl::GetFlag(FLAGS_fabric_node);
  options.replication = absl::GetFlag(FLAGS_replication);
  options.meta_retry_budget = absl::Seconds(10);
  auto client = medfs::client::Client::Connect(options);
  if (!client.ok()) {
    std::fprintf(stderr, "medfs: %s: %s\n", name.c_str(),
                 medfs::cli::DescribeError(client.status()).c_str());
    return 1;
  }
  context.client = client->get();
  absl::Status status = command->run(context);
  std::fflush(stdout);
  if (status.ok()) return 0;
  if (absl::IsInvalidArgument(status) &&
      absl::StartsWith(status.message(), "usage:")) {
    std::fprintf(stderr, "medfs: %s\n", std::string(status.message()).c_str());
    return 2;
  }
  std::fprintf(stderr, "medfs: %s %s\n", name.c_str(),
               medfs::cli::DescribeError(status).c_str());
  return 1;
}
