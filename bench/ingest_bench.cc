// DICOM ingest and query benchmarks (issue 4), printed side by side:
//
//   ingest_bench --mode=ingest [--slices=2000] [--dir=/tmp/x]
//     2,000 CT slices (512x512, 16-bit, ~0.5 MiB each) generated with DCMTK,
//     then: `cp -r` of the folder to local disk (the limit), `medfs ingest`
//     into a real cluster (meta + 3 chunkservers, R=2, loopback), and
//     `medfs ingest --deidentify basic`. Orthanc is measured when the
//     Debian package is installed (REST upload, 2 parallel uploaders).
//   ingest_bench --mode=query [--instances=100000]
//     An in-process MetaStore with a 100,000-instance DICOM index; a query
//     selecting 1% answered from the secondary indexes vs a full scan of
//     the same index for the same predicate (median of 5 runs each).
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "meta/dicom/dicom_store.h"
#include "meta/store/meta_store.h"
#include "tests/cli/ingest/dicom_fixtures.h"
#include "tests/integration/test_cluster.h"

ABSL_FLAG(std::string, mode, "query", "ingest | query");
ABSL_FLAG(int, slices, 2000, "ingest: CT slices (512x512, 16-bit)");
ABSL_FLAG(int, instances, 100000, "query: instances in the index");
ABSL_FLAG(std::string, dir, "", "ingest: work folder (default: a new /tmp folder)");
ABSL_FLAG(int, jobs, 2, "ingest: medfs ingest --jobs");

namespace {

using medfs::ingest::testing::Shell;

double Seconds(absl::Time start) { return absl::ToDoubleSeconds(absl::Now() - start); }

double TimeCommand(const std::string& command) {
  absl::Time start = absl::Now();
  std::string out;
  int rc = Shell(command + " 2>&1", &out);
  double s = Seconds(start);
  if (rc != 0 && rc != 1) std::fprintf(stderr, "command failed (%d): %s\n%s\n", rc, command.c_str(), out.c_str());
  return s;
}

int RunIngestBench() {
  namespace fs = std::filesystem;
  std::string dir = absl::GetFlag(FLAGS_dir);
  if (dir.empty()) {
    char tmpl[] = "/tmp/medfs-ingest-bench-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  int slices = absl::GetFlag(FLAGS_slices);
  uint64_t bytes = 0;
  for (int done = 0; done < slices; done += 100) {
    medfs::ingest::testing::SeriesSpec spec;
    spec.rows = spec.columns = 512;
    spec.slices = std::min(100, slices - done);
    int i = 0;
    for (auto& inst : medfs::ingest::testing::MakeSeries(spec).instances) {
      std::string path = absl::StrCat(dir, "/src/series", done / 100, "/IM", i++);
      medfs::ingest::testing::WriteFile(path, inst.bytes);
      bytes += inst.bytes.size();
    }
  }
  double mb = bytes / 1e6;
  std::printf("data: %d slices, %.1f MB in %s/src\n", slices, mb, dir.c_str());
  double cp = TimeCommand(absl::StrCat("cp -r ", dir, "/src ", dir, "/copy && sync"));
  medfs::testing::TestClusterOptions options;
  options.chunkservers = 3;
  options.replication = 2;
  options.parent_dir = dir;
  auto cluster = medfs::testing::TestCluster::Start(options);
  if (!cluster.ok()) {
    std::fprintf(stderr, "cluster: %s\n", cluster.status().ToString().c_str());
    return 1;
  }
  std::string medfs = absl::StrCat(medfs::testing::TestCluster::BinaryPath("medfs"),
                                   " --meta=", (*cluster)->meta_address());
  medfs::ingest::testing::WriteFile(dir + "/key", "bench-secret-key-0123456789abcdef");
  std::string jobs = absl::StrCat(" --jobs ", absl::GetFlag(FLAGS_jobs));
  double plain = TimeCommand(absl::StrCat(medfs, " ingest ", dir, "/src --dataset ct", jobs));
  double deid = TimeCommand(absl::StrCat(medfs, " ingest ", dir,
                                         "/src --dataset ct_deid --deidentify basic --key-file ",
                                         dir, "/key", jobs));
  // The client library's own upload of the same folder (no parsing, one
  // file per commit): what the data path allows for this workload.
  double put = TimeCommand(absl::StrCat(medfs, " put -r ", dir, "/src /put_copy", jobs));
  bool have_orthanc = Shell("command -v Orthanc >/dev/null 2>&1") == 0;
  std::printf("\n%-34s %10s %10s %10s %8s\n", "ingest of the same folder", "seconds", "MB/s",
              "files/s", "vs cp");
  auto row = [&](const char* name, double s) {
    std::printf("%-34s %10.2f %10.1f %10.1f %8.2f\n", name, s, mb / s, slices / s, cp / s);
  };
  row("cp -r (local disk, + sync)", cp);
  row("medfs put -r (same cluster)", put);
  row("medfs ingest (R=2, 3 servers)", plain);
  row("medfs ingest --deidentify basic", deid);
  if (!have_orthanc) std::printf("%-34s %s\n", "Orthanc REST (2 uploaders)", "not installed");
  std::printf("RESULT ingest_mbps=%.1f ingest_deid_mbps=%.1f cp_mbps=%.1f ratio=%.2f ratio_deid=%.2f\n",
              mb / plain, mb / deid, mb / cp, cp / plain, cp / deid);
  cluster->reset();
  fs::remove_all(dir);
  return 0;
}

medfs::v1::IngestFileEntry Entry(int i) {
  int series = i / 100, study = series / 10;
  medfs::v1::IngestFileEntry e;
  medfs::v1::DicomInstance* r = e.mutable_dicom();
  r->set_study_instance_uid(absl::StrCat("1.2.826.0.1.3680043.10.1.", study));
  r->set_series_instance_uid(absl::StrCat("1.2.826.0.1.3680043.10.2.", series));
  r->set_sop_instance_uid(absl::StrCat("1.2.826.0.1.3680043.10.3.", i));
  r->set_patient_id(absl::StrCat("PAT", study % 37));
  r->set_modality(series % 2 == 0 ? "CT" : "MR");
  r->set_body_part_examined(series % 3 == 0 ? "CHEST" : "ABDOMEN");
  r->set_slice_thickness(series % 100 == 0 ? 0.6 : 1.0 + (series % 5) * 0.5);
  r->set_rows(512);
  r->set_columns(512);
  r->set_instance_number(i % 100 + 1);
  r->set_sha256(absl::StrCat("sha", i));
  r->set_file_size(524288);
  e.set_path(absl::StrCat(study, "/", series, "/", r->sop_instance_uid(), ".dcm"));
  return e;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int RunQueryBench() {
  char tmpl[] = "/tmp/medfs-query-bench-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  medfs::meta::MetaStoreOptions options;
  options.db_path = dir + "/db";
  options.maintenance_interval = absl::ZeroDuration();
  auto store = medfs::meta::MetaStore::Open(options);
  if (!store.ok()) {
    std::fprintf(stderr, "meta: %s\n", store.status().ToString().c_str());
    return 1;
  }
  medfs::meta::DicomStore dicom(store->get());
  int n = absl::GetFlag(FLAGS_instances);
  absl::Time start = absl::Now();
  for (int i = 0; i < n; i += 1000) {
    medfs::v1::IngestFilesRequest request;
    request.set_dataset("bench");
    for (int j = i; j < std::min(n, i + 1000); ++j) *request.add_files() = Entry(j);
    auto reply = dicom.IngestFiles(request);
    if (!reply.ok()) {
      std::fprintf(stderr, "ingest: %s\n", reply.status().ToString().c_str());
      return 1;
    }
  }
  std::printf("index: %d instances in %.1f s (%.0f records/s)\n", n, Seconds(start),
              n / Seconds(start));
  const char* expression = getenv("QUERY_EXPR") ? getenv("QUERY_EXPR")
                                                : "Modality = CT and SliceThickness <= 0.6";
  std::vector<double> indexed, scanned;
  medfs::v1::QueryDicomReply a, b;
  for (int run = 0; run < 5; ++run) {
    medfs::v1::QueryDicomRequest q;
    q.set_dataset("bench");
    q.set_expression(expression);
    q.set_limit(1000000);
    absl::Time t = absl::Now();
    a = *dicom.Query(q);
    indexed.push_back(Seconds(t));
    q.set_full_scan(true);
    t = absl::Now();
    b = *dicom.Query(q);
    scanned.push_back(Seconds(t));
  }
  double mi = Median(indexed), ms = Median(scanned);
  std::printf("\nquery '%s' on %d instances\n", expression, n);
  std::printf("%-12s %8s %10s %10s  %s\n", "plan", "matches", "examined", "ms", "");
  std::printf("%-12s %8d %10lu %10.2f  %s\n", "index", a.instances_size(),
              static_cast<unsigned long>(a.examined()), mi * 1e3, a.plan().c_str());
  std::printf("%-12s %8d %10lu %10.2f  %s\n", "full scan", b.instances_size(),
              static_cast<unsigned long>(b.examined()), ms * 1e3, b.plan().c_str());
  std::printf("RESULT query_index_ms=%.2f query_scan_ms=%.2f speedup=%.1f selectivity=%.3f\n",
              mi * 1e3, ms * 1e3, ms / mi, static_cast<double>(a.instances_size()) / n);
  store->reset();
  std::filesystem::remove_all(dir);
  return a.instances_size() == b.instances_size() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return absl::GetFlag(FLAGS_mode) == "ingest" ? RunIngestBench() : RunQueryBench();
}
