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
#include "cli/ingest/dicom_commands.h"
#include "cli/ingest/manifest_commands.h"
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
// DICOM commands (cli/ingest/dicom_commands.h); dashed spellings such as
// --key-file are accepted too (NormalizeDicomFlagNames).
ABSL_FLAG(std::string, dataset, "", "ingest: dataset (top-level folder) to load into");
ABSL_FLAG(uint32_t, jobs, 4, "ingest: parse and upload threads; put -r: files uploaded in parallel");
ABSL_FLAG(std::string, deidentify, "", "ingest: 'basic' = DICOM PS3.15 Basic Profile");
ABSL_FLAG(bool, retain_dates, false, "ingest: Retain Longitudinal Temporal Information (shifted dates)");
ABSL_FLAG(bool, retain_patient_characteristics, false, "ingest: Retain Patient Characteristics");
ABSL_FLAG(std::string, key_file, "", "ingest: secret key for UID remapping and date shifts");
ABSL_FLAG(std::string, report, "", "ingest: write a JSON report to this file");
ABSL_FLAG(bool, dry_run, false, "ingest: parse and report, store nothing");
ABSL_FLAG(bool, keep_paths, false, "ingest: store at the source's relative paths");
ABSL_FLAG(std::string, level, "instance", "query, manifest freeze: instance | series | study");
ABSL_FLAG(bool, json, false, "query, manifest show: JSON lines");

namespace {

using medfs::cli::CommandContext;
using Runner = absl::Status (*)(CommandContext&);

struct Command {
  const char* name;
  Runner run;
  const char* usage;
};

medfs::cli::DicomCommandOptions DicomOptions();
absl::Status RunIngestCommand(CommandContext& c) { return medfs::cli::RunIngest(c, DicomOptions()); }
absl::Status RunQueryCommand(CommandContext& c) { return medfs::cli::RunQuery(c, DicomOptions()); }
absl::Status RunDatasetsCommand(CommandContext& c) {
  return medfs::cli::RunDatasets(c, DicomOptions());
}
absl::Status RunInfoCommand(CommandContext& c) { return medfs::cli::RunInfo(c, DicomOptions()); }
absl::Status RunManifestCommand(CommandContext& c) {
  return medfs::cli::RunManifest(c, DicomOptions());
}

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
    {"ingest", RunIngestCommand,
     "ingest SRC... --dataset NAME [--jobs N] [--deidentify basic --key-file F "
     "[--retain-dates] [--retain-patient-characteristics]] [--report FILE.json] "
     "[--dry-run] [--keep-paths]"},
    {"query", RunQueryCommand, "query NAME 'EXPRESSION' [--level instance|series|study] [--json]"},
    {"datasets", RunDatasetsCommand, "datasets"},
    {"info", RunInfoCommand, "info NAME"},
    {"manifest", RunManifestCommand,
     "manifest freeze NAME DATASET ['EXPRESSION'] [--level instance|series|study] | "
     "list DATASET | show DATASET NAME[@VERSION] [--json]"},
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

medfs::cli::DicomCommandOptions DicomOptions() {
  medfs::cli::DicomCommandOptions o;
  o.meta_address = MetaAddress();
  o.dataset = absl::GetFlag(FLAGS_dataset);
  o.jobs = absl::GetFlag(FLAGS_jobs);
  o.deidentify = absl::GetFlag(FLAGS_deidentify);
  o.retain_dates = absl::GetFlag(FLAGS_retain_dates);
  o.retain_patient_characteristics = absl::GetFlag(FLAGS_retain_patient_characteristics);
  o.key_file = absl::GetFlag(FLAGS_key_file);
  o.report = absl::GetFlag(FLAGS_report);
  o.dry_run = absl::GetFlag(FLAGS_dry_run);
  o.keep_paths = absl::GetFlag(FLAGS_keep_paths);
  o.level = absl::GetFlag(FLAGS_level);
  o.json = absl::GetFlag(FLAGS_json);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(UsageText());
  medfs::cli::NormalizeDicomFlagNames(argc, argv);
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
  context.flags.jobs = static_cast<int>(absl::GetFlag(FLAGS_jobs));

  medfs::client::ClientOptions options;
  options.meta_address = MetaAddress();
  options.fabric_provider = absl::GetFlag(FLAGS_provider);
  options.fabric_node = absl::GetFlag(FLAGS_fabric_node);
  options.replication = absl::GetFlag(FLAGS_replication);
  options.meta_retry_budget = absl::Seconds(10);
  // Commands that only talk to meta (ls, stat, query, status) never open
  // the fabric endpoint: about 0.1 s less per command.
  options.open_fabric_at_connect = false;
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
