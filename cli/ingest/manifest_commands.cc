#include "cli/ingest/manifest_commands.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/dicom_client.h"
#include "common/status.h"
#include "google/protobuf/util/json_util.h"

namespace medfs::cli {
namespace {

constexpr const char* kUsage =
    "usage: manifest freeze NAME DATASET ['EXPRESSION'] [--level instance|series|study] | "
    "manifest list DATASET | manifest show DATASET NAME[@VERSION] [--json]";

absl::StatusOr<v1::DicomLevel> ParseLevel(const std::string& level) {
  if (level == "instance") return v1::DICOM_LEVEL_INSTANCE;
  if (level == "series") return v1::DICOM_LEVEL_SERIES;
  if (level == "study") return v1::DICOM_LEVEL_STUDY;
  return absl::InvalidArgumentError("usage: --level instance|series|study");
}

const char* LevelName(v1::DicomLevel level) {
  switch (level) {
    case v1::DICOM_LEVEL_SERIES: return "series";
    case v1::DICOM_LEVEL_STUDY: return "study";
    default: return "instance";
  }
}

std::string Created(int64_t ns) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixNanos(ns), absl::UTCTimeZone());
}

// main prints only "not found" for kNotFound unless the status names a
// path: meta's message (which manifest, which versions exist) is that path.
absl::Status Failed(const absl::Status& status) {
  if (!absl::IsNotFound(status)) return status;
  return PathError(std::string(status.message()), status);
}

client::DicomClient Connect(const DicomCommandOptions& o) {
  client::DicomClientOptions options;
  options.meta.address = o.meta_address;
  options.meta.retry_budget = absl::Seconds(10);
  return client::DicomClient(options);
}

absl::Status Freeze(CommandContext& context, const DicomCommandOptions& o) {
  const std::vector<std::string>& a = context.args;
  if (a.size() < 3 || a.size() > 4) return absl::InvalidArgumentError(kUsage);
  ASSIGN_OR_RETURN(v1::DicomLevel level, ParseLevel(o.level));
  const std::string expression = a.size() == 4 ? a[3] : "";
  client::DicomClient dicom = Connect(o);
  absl::StatusOr<v1::ManifestRecord> m = dicom.FreezeManifest(a[2], a[1], expression, level);
  if (!m.ok()) return Failed(m.status());
  std::fprintf(context.out, "%s@%lu: %lu instances, %lu series, %lu studies, %s\n",
               m->name().c_str(), static_cast<unsigned long>(m->version()),
               static_cast<unsigned long>(m->instances()),
               static_cast<unsigned long>(m->series()),
               static_cast<unsigned long>(m->studies()), HumanBytes(m->bytes()).c_str());
  return absl::OkStatus();
}

absl::Status List(CommandContext& context, const DicomCommandOptions& o) {
  if (context.args.size() != 2) return absl::InvalidArgumentError(kUsage);
  const std::string& dataset = context.args[1];
  client::DicomClient dicom = Connect(o);
  auto manifests = dicom.ListManifests(dataset);
  if (!manifests.ok()) return Failed(manifests.status());
  std::fprintf(context.out, "%-24s %7s %10s %8s %-8s  %-23s  %s\n", "NAME", "VERSION",
               "INSTANCES", "SERIES", "LEVEL", "CREATED", "QUERY");
  for (const v1::ManifestRecord& m : *manifests) {
    std::fprintf(context.out, "%-24s %7lu %10lu %8lu %-8s  %-23s  %s\n", m.name().c_str(),
                 static_cast<unsigned long>(m.version()),
                 static_cast<unsigned long>(m.instances()),
                 static_cast<unsigned long>(m.series()), LevelName(m.level()),
                 Created(m.created_ns()).c_str(), m.expression().c_str());
  }
  return absl::OkStatus();
}

absl::Status Show(CommandContext& context, const DicomCommandOptions& o) {
  if (context.args.size() != 3) return absl::InvalidArgumentError(kUsage);
  const std::string& dataset = context.args[1];
  ASSIGN_OR_RETURN(client::ManifestRef ref, client::ParseManifestRef(context.args[2]));
  client::DicomClient dicom = Connect(o);
  auto manifest = dicom.GetManifest(dataset, ref, /*with_records=*/true);
  if (!manifest.ok()) return Failed(manifest.status());
  const v1::ManifestRecord& h = manifest->header;
  if (o.json) {
    google::protobuf::util::JsonPrintOptions json;
    json.preserve_proto_field_names = true;
    for (const v1::DicomInstance& r : manifest->records) {
      std::string line;
      (void)google::protobuf::util::MessageToJsonString(r, &line, json);
      std::fprintf(context.out, "%s\n", line.c_str());
    }
    return absl::OkStatus();
  }
  std::fprintf(context.out,
               "manifest:  %s@%lu\ndataset:   %s\nquery:     %s\nlevel:     %s\n"
               "created:   %s\ninstances: %lu\nseries:    %lu\nstudies:   %lu\nbytes:     %s\n",
               h.name().c_str(), static_cast<unsigned long>(h.version()), h.dataset().c_str(),
               h.expression().empty() ? "(every instance)" : h.expression().c_str(),
               LevelName(h.level()), Created(h.created_ns()).c_str(),
               static_cast<unsigned long>(h.instances()), static_cast<unsigned long>(h.series()),
               static_cast<unsigned long>(h.studies()), HumanBytes(h.bytes()).c_str());
  for (const v1::DicomInstance& r : manifest->records) {
    std::fprintf(context.out, "%s\t/%s/%s\n", r.sop_instance_uid().c_str(), dataset.c_str(),
                 r.path().c_str());
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunManifest(CommandContext& context, const DicomCommandOptions& o) {
  if (context.args.empty()) return absl::InvalidArgumentError(kUsage);
  const std::string& sub = context.args[0];
  if (sub == "freeze") return Freeze(context, o);
  if (sub == "list") return List(context, o);
  if (sub == "show") return Show(context, o);
  return absl::InvalidArgumentError(kUsage);
}

}  // namespace medfs::cli
