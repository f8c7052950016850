// The manifest commands of `medfs` (flags are parsed in cli/main.cc):
//
//   medfs manifest freeze NAME DATASET ['EXPRESSION'] [--level instance|series|study]
//   medfs manifest list DATASET
//   medfs manifest show DATASET NAME[@VERSION] [--json]
//
// freeze runs the query on meta and stores its instances as the next
// version of NAME (printing "NAME@VERSION"); list prints every version;
// show prints one version's header and its members (latest without
// @VERSION): "SOPInstanceUID  /DATASET/PATH" lines, or the index records
// as JSON lines with --json.
#pragma once

#include "absl/status/status.h"
#include "cli/cli.h"
#include "cli/ingest/dicom_commands.h"

namespace medfs::cli {

// Dispatches on context.args[0] (freeze, list, show); kInvalidArgument with
// a usage line for anything else.
absl::Status RunManifest(CommandContext& context, const DicomCommandOptions& options);

}  // namespace medfs::cli
