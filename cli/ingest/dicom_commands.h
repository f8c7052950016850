// The DICOM commands of `medfs` (flags are parsed in cli/main.cc):
//
//   medfs ingest SRC... --dataset NAME [--jobs N] [--deidentify basic
//         [--retain-dates] [--retain-patient-characteristics] --key-file F]
//         [--report FILE.json] [--dry-run] [--keep-paths]
//   medfs query NAME 'Modality = CT and SliceThickness <= 1.5'
//         [--level instance|series|study] [--json]
//   medfs datasets
//   medfs info NAME
//
// ingest exits non-zero when anything was skipped (the summary and the
// report list each skipped file with its reason) or the run stopped early.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "cli/cli.h"

namespace medfs::cli {

struct DicomCommandOptions {
  std::string meta_address;          // host:port of medfs-meta
  // ingest
  std::string dataset;
  uint32_t jobs = 4;
  std::string deidentify;            // "" or "basic"
  bool retain_dates = false;
  bool retain_patient_characteristics = false;
  std::string key_file;
  std::string report;                // JSON report path; "" none
  bool dry_run = false;
  bool keep_paths = false;
  // query
  std::string level = "instance";    // instance | series | study
  bool json = false;
};

// Rewrites the dashed spellings of the DICOM flags in argv ("--key-file",
// "--dry-run", "--keep-paths", "--retain-dates",
// "--retain-patient-characteristics") to absl's underscore names, before
// flag parsing.
void NormalizeDicomFlagNames(int argc, char** argv);

absl::Status RunIngest(CommandContext& context, const DicomCommandOptions& options);
absl::Status RunQuery(CommandContext& context, const DicomCommandOptions& options);
absl::Status RunDatasets(CommandContext& context, const DicomCommandOptions& options);
absl::Status RunInfo(CommandContext& context, const DicomCommandOptions& options);

}  // namespace medfs::cli
