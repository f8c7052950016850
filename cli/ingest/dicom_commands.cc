#include "cli/ingest/dicom_commands.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/ingest/cluster_store.h"
#include "cli/ingest/memory_store.h"
#include "cli/ingest/pipeline.h"
#include "common/status.h"
#include "google/protobuf/util/json_util.h"

namespace medfs::cli {
namespace {

using ingest::IngestProgress;

std::atomic<bool> g_interrupted{false};  // set by SIGINT during ingest

void OnInterrupt(int) { g_interrupted.store(true); }

std::string Rate(uint64_t bytes, absl::Duration elapsed) {
  double seconds = std::max(absl::ToDoubleSeconds(elapsed), 1e-3);
  return absl::StrFormat("%.1f MB/s", bytes / seconds / 1e6);
}

std::string ProgressLine(const IngestProgress& p) {
  std::string eta = "ETA --";
  double seconds = absl::ToDoubleSeconds(p.elapsed);
  if (p.walk_done && p.bytes_done > 0 && p.bytes_found > p.bytes_done) {
    double left = (p.bytes_found - p.bytes_done) * seconds / p.bytes_done;
    eta = absl::StrFormat("ETA %d:%02d", static_cast<int>(left) / 60,
                          static_cast<int>(left) % 60);
  } else if (p.walk_done) {
    eta = "ETA 0:00";
  }
  return absl::StrFormat("%d/%d%s files, %.1f MB, %s, %s, %d skipped", p.files_done,
                         p.files_found, p.walk_done ? "" : "+", p.bytes_done / 1e6,
                         Rate(p.bytes_done, p.elapsed), eta, p.skipped);
}

absl::StatusOr<std::string> ReadKey(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("key file ", path, ": cannot open"));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string key = ss.str();
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  return key;
}

void PrintSummary(FILE* out, const ingest::IngestReport& r, const std::string& dataset,
                  bool dry_run) {
  const IngestProgress& t = r.totals;
  std::fprintf(out, "%s %lu instances (%.1f MB) into %s in %.1f s (%s); %lu already "
               "present; %lu skipped\n",
               dry_run ? "would ingest" : "ingested",
               static_cast<unsigned long>(t.instances_stored), t.bytes_stored / 1e6,
               dataset.c_str(), absl::ToDoubleSeconds(t.elapsed),
               Rate(t.bytes_done, t.elapsed).c_str(),
               static_cast<unsigned long>(t.already_present),
               static_cast<unsigned long>(t.skipped));
  size_t shown = 0;
  for (const ingest::SkippedFile& f : r.skipped) {
    if (++shown > 50) {
      std::fprintf(out, "  ... %zu more (see --report)\n", r.skipped.size() - 50);
      break;
    }
    std::fprintf(out, "  skipped %s: %s\n", f.origin.c_str(), f.reason.c_str());
  }
  if (!r.fatal.ok()) std::fprintf(out, "stopped early: %s\n", r.fatal.ToString().c_str());
}

absl::StatusOr<std::unique_ptr<ingest::Deidentifier>> MakeDeidentifier(
    const DicomCommandOptions& o) {
  if (o.deidentify.empty()) return std::unique_ptr<ingest::Deidentifier>();
  if (o.deidentify != "basic") {
    return absl::InvalidArgumentError("usage: --deidentify takes 'basic'");
  }
  if (o.key_file.empty()) {
    return absl::InvalidArgumentError("usage: --deidentify basic needs --key-file F");
  }
  ASSIGN_OR_RETURN(std::string key, ReadKey(o.key_file));
  ASSIGN_OR_RETURN(ingest::Deidentifier deid,
                   ingest::Deidentifier::Create(
                       {key, o.retain_dates, o.retain_patient_characteristics}));
  return std::make_unique<ingest::Deidentifier>(std::move(deid));
}

}  // namespace

void NormalizeDicomFlagNames(int argc, char** argv) {
  static constexpr const char* kDashed[] = {
      "key-file", "dry-run", "keep-paths", "retain-dates", "retain-patient-characteristics"};
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    for (const char* name : kDashed) {
      std::string flag = absl::StrCat("--", name);
      if (arg == flag || absl::StartsWith(arg, flag + "=")) {
        for (char* c = argv[i] + 2; *c != '\0' && *c != '='; ++c) {
          if (*c == '-') *c = '_';
        }
      }
    }
  }
}

absl::Status RunIngest(CommandContext& context, const DicomCommandOptions& o) {
  if (context.args.empty() || o.dataset.empty()) {
    return absl::InvalidArgumentError(
        "usage: ingest SRC... --dataset NAME [--jobs N] [--deidentify basic "
        "--key-file F [--retain-dates] [--retain-patient-characteristics]] "
        "[--report FILE.json] [--dry-run] [--keep-paths]");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<ingest::Deidentifier> deid, MakeDeidentifier(o));
  ingest::IngestOptions options;
  options.sources = context.args;
  options.jobs = std::max<uint32_t>(1, o.jobs);
  options.deidentifier = deid.get();
  options.keep_paths = o.keep_paths;
  options.cancel = &g_interrupted;
  bool tty = isatty(fileno(context.err));
  options.progress_interval = tty ? absl::Seconds(0.5) : absl::Seconds(5);
  FILE* err = context.err;
  options.on_progress = [err, tty](const IngestProgress& p) {
    if (tty) {
      std::fprintf(err, "\r\033[K%s", ProgressLine(p).c_str());
    } else {
      std::fprintf(err, "ingest: %s\n", ProgressLine(p).c_str());
    }
    std::fflush(err);
  };
  std::unique_ptr<ingest::InstanceStore> store;
  if (o.dry_run) {
    store = std::make_unique<ingest::MemoryInstanceStore>(false);
  } else {
    ingest::ClusterStoreOptions cluster;
    cluster.meta_address = o.meta_address;
    cluster.dataset = o.dataset;
    cluster.deidentification = deid ? deid->Description() : "";
    store = std::make_unique<ingest::ClusterInstanceStore>(context.client, cluster);
  }
  struct sigaction action = {}, previous = {};
  action.sa_handler = OnInterrupt;
  sigaction(SIGINT, &action, &previous);
  absl::StatusOr<ingest::IngestReport> report = ingest::RunIngest(options, store.get());
  sigaction(SIGINT, &previous, nullptr);
  if (tty) std::fputs("\n", err);
  if (!report.ok()) return report.status();
  PrintSummary(context.out, *report, o.dataset, o.dry_run);
  if (!o.report.empty()) {
    std::ofstream out(o.report, std::ios::trunc);
    out << report->ToJson();
    if (!out) return absl::InternalError(absl::StrCat("writing report ", o.report));
  }
  if (!report->fatal.ok()) return report->fatal;
  if (!report->skipped.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(report->skipped.size(), " files skipped (listed above)"));
  }
  return absl::OkStatus();
}

absl::Status RunQuery(CommandContext& context, const DicomCommandOptions& o) {
  if (context.args.empty() || context.args.size() > 2) {
    return absl::InvalidArgumentError(
        "usage: query NAME ['EXPRESSION'] [--level instance|series|study] [--json]");
  }
  v1::QueryDicomRequest request;
  request.set_dataset(context.args[0]);
  if (context.args.size() == 2) request.set_expression(context.args[1]);
  if (o.level == "series") {
    request.set_level(v1::DICOM_LEVEL_SERIES);
  } else if (o.level == "study") {
    request.set_level(v1::DICOM_LEVEL_STUDY);
  } else if (o.level != "instance") {
    return absl::InvalidArgumentError("usage: --level instance|series|study");
  }
  auto stub = ingest::NewDicomStub(o.meta_address);
  google::protobuf::util::JsonPrintOptions json;
  json.preserve_proto_field_names = true;
  do {
    v1::QueryDicomReply reply;
    RETURN_IF_ERROR(ingest::CallWithRetries(
        absl::Seconds(60), absl::Seconds(10),
        [&](grpc::ClientContext* c) { return stub->QueryDicom(c, request, &reply); }));
    for (const v1::DicomInstance& r : reply.instances()) {
      std::string line;
      if (o.json) {
        (void)google::protobuf::util::MessageToJsonString(r, &line, json);
      } else {
        line = absl::StrCat("/", request.dataset(), "/", r.path());
      }
      std::fprintf(context.out, "%s\n", line.c_str());
    }
    for (const v1::DicomGroup& g : reply.groups()) {
      std::string line;
      if (o.json) {
        (void)google::protobuf::util::MessageToJsonString(g, &line, json);
      } else {
        line = absl::StrCat(g.uid(), "\t", g.instances(), " instances\t",
                            HumanBytes(g.bytes()));
      }
      std::fprintf(context.out, "%s\n", line.c_str());
    }
    request.set_cursor(reply.cursor());
  } while (!request.cursor().empty());
  return absl::OkStatus();
}

namespace {

std::string Modalities(const v1::DatasetStats& s) {
  std::vector<std::string> parts;
  std::map<std::string, uint64_t> sorted(s.modalities().begin(), s.modalities().end());
  for (const auto& [m, n] : sorted) parts.push_back(absl::StrCat(m.empty() ? "?" : m, ":", n));
  return absl::StrJoin(parts, ",");
}

}  // namespace

absl::Status RunDatasets(CommandContext& context, const DicomCommandOptions& o) {
  auto stub = ingest::NewDicomStub(o.meta_address);
  v1::ListDatasetsReply reply;
  RETURN_IF_ERROR(ingest::CallWithRetries(
      absl::Seconds(30), absl::Seconds(10), [&](grpc::ClientContext* c) {
        return stub->ListDatasets(c, v1::Empty(), &reply);
      }));
  std::fprintf(context.out, "%-24s %8s %8s %8s %10s %12s  %s\n", "DATASET", "PATIENTS",
               "STUDIES", "SERIES", "INSTANCES", "BYTES", "MODALITIES");
  for (const v1::DatasetInfo& d : reply.datasets()) {
    const v1::DatasetStats& s = d.stats();
    std::fprintf(context.out, "%-24s %8lu %8lu %8lu %10lu %12s  %s\n", d.name().c_str(),
                 static_cast<unsigned long>(s.patients()), static_cast<unsigned long>(s.studies()),
                 static_cast<unsigned long>(s.series()), static_cast<unsigned long>(s.instances()),
                 HumanBytes(s.bytes()).c_str(), Modalities(s).c_str());
  }
  return absl::OkStatus();
}

absl::Status RunInfo(CommandContext& context, const DicomCommandOptions& o) {
  if (context.args.size() != 1) return absl::InvalidArgumentError("usage: info NAME");
  auto stub = ingest::NewDicomStub(o.meta_address);
  v1::DatasetInfoRequest request;
  request.set_dataset(context.args[0]);
  v1::DatasetInfo info;
  RETURN_IF_ERROR(ingest::CallWithRetries(
      absl::Seconds(30), absl::Seconds(10), [&](grpc::ClientContext* c) {
        return stub->GetDatasetInfo(c, request, &info);
      }));
  const v1::DatasetStats& s = info.stats();
  std::fprintf(context.out,
               "dataset:          %s\npatients:         %lu\nstudies:          %lu\n"
               "series:           %lu\ninstances:        %lu\nbytes:            %lu (%s)\n"
               "modalities:       %s\nde-identification: %s\n",
               info.name().c_str(), static_cast<unsigned long>(s.patients()),
               static_cast<unsigned long>(s.studies()), static_cast<unsigned long>(s.series()),
               static_cast<unsigned long>(s.instances()), static_cast<unsigned long>(s.bytes()),
               HumanBytes(s.bytes()).c_str(), Modalities(s).c_str(),
               info.deidentification().empty() ? "none" : info.deidentification().c_str());
  return absl::OkStatus();
}

}  // namespace medfs::cli
