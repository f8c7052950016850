// DICOM ingest and query benchmarks (issue 4), printed side by side:
//
//   ingest_bench --mode=ingest [--slices=2000] [--dir=/tmp/x]
//     2,000 CT slices (512x512, 16-bit, ~0.5 MiB each) generated with DCMTK,
//     then: `cp -r` of the folder to local disk (the limit), `medfs ingest`
//     into a real cluster (meta + 3 chunkservers, R=2, loopback), and
//     `medfs ingest --deidentify basic` (and `medfs put -r`, the data path
//     alone). Then Orthanc from Debian's package (bench/setup-peers.sh
//     install-orthanc), started here with a private config and storage:
//     POST /instances of the same files from 2 parallel uploaders.
//     Each row also shows the CPU seconds of the client (CLI, uploaders)
//     and of the servers (meta + chunkservers, Orthanc).
//   ingest_bench --mode=query [--instances=100000]
//     An in-process MetaStore with a 100,000-instance DICOM index; a query
//     selecting 1% answered from the secondary indexes vs a full scan of
//     the same index for the same predicate (median of 5 runs each).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "meta/dicom/dicom_store.h"
#include "meta/store/meta_store.h"
#include "tests/cli/ingest/dicom_fixtures.h"
#include "tests/integration/test_cluster.h"

ABSL_FLAG(std::string, mode, "query", "ingest | query");
ABSL_FLAG(int, slices, 2000, "ingest: CT slices (512x512, 16-bit)");
ABSL_FLAG(int, instances, 100000, "query: instances in the index");
ABSL_FLAG(std::string, dir, "", "ingest: work folder (default: a new /tmp folder)");
ABSL_FLAG(int, jobs, 0, "ingest: medfs ingest --jobs (0: the CLI's default)");
ABSL_FLAG(bool, put, true, "ingest: also time `medfs put -r` of the folder");
ABSL_FLAG(std::string, variants, "",
          "ingest: ';'-separated extra `medfs ingest` argument sets, one row each "
          "(e.g. '--jobs 2;--jobs 8')");
ABSL_FLAG(bool, generate_only, false,
          "ingest: only write the slices to --dir/src and exit (for profiling by hand)");
ABSL_FLAG(bool, orthanc, true, "ingest: measure Orthanc when installed");
ABSL_FLAG(int, orthanc_uploaders, 2, "ingest: parallel REST uploaders to Orthanc");

namespace {

using medfs::ingest::testing::Shell;

double Seconds(absl::Time start) { return absl::ToDoubleSeconds(absl::Now() - start); }

// CPU seconds (user + system) of a running process, from /proc.
double ProcessCpu(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  std::getline(in, line);
  size_t paren = line.rfind(')');
  if (paren == std::string::npos) return 0;
  std::vector<std::string> f = absl::StrSplit(line.substr(paren + 2), ' ');
  // After "pid (comm) ": state is field 0, utime 11, stime 12.
  double ticks = 0, v = 0;
  if (f.size() > 12 && absl::SimpleAtod(f[11], &v)) ticks += v;
  if (f.size() > 12 && absl::SimpleAtod(f[12], &v)) ticks += v;
  return ticks / sysconf(_SC_CLK_TCK);
}

// CPU seconds of the children this process has waited for.
double ChildrenCpu() {
  struct rusage u;
  getrusage(RUSAGE_CHILDREN, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// One measured contender: wall seconds, the CPU of the client side (the
// command, or the uploaders) and of the servers it talks to.
struct Measure {
  bool ran = false;
  double seconds = 0;
  double client_cpu = 0;
  double server_cpu = 0;
  int files_ok = 0;
  std::string note;
};

Measure TimeCommand(const std::string& command, const std::vector<pid_t>& servers) {
  Measure m;
  double server_before = 0;
  for (pid_t pid : servers) server_before -= ProcessCpu(pid);
  double client_before = ChildrenCpu();
  absl::Time start = absl::Now();
  std::string out;
  int rc = Shell(command + " 2>&1", &out);
  m.seconds = Seconds(start);
  m.client_cpu = ChildrenCpu() - client_before;
  for (pid_t pid : servers) m.server_cpu += ProcessCpu(pid);
  m.server_cpu += server_before;
  m.ran = rc == 0;
  if (rc != 0) {
    std::fprintf(stderr, "command failed (%d): %s\n%s\n", rc, command.c_str(), out.c_str());
    m.note = absl::StrCat("FAILED (exit ", rc, ")");
  }
  return m;
}

std::vector<std::string> ListFiles(const std::string& root) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// ---- Orthanc peer: its own process, config, storage and port ----------

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = -1;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  if (fd >= 0) close(fd);
  return port;
}

// A blocking HTTP/1.1 client on one keep-alive loopback connection.
class HttpConnection {
 public:
  explicit HttpConnection(int port) : port_(port) {}
  ~HttpConnection() { Close(); }

  // Sends one request; returns the status code (-1 on a transport error)
  // and the body in *body.
  int Request(const std::string& method, const std::string& path,
              const std::string& content_type, absl::string_view payload,
              std::string* body) {
    for (int attempt = 0; attempt < 2; ++attempt) {  // once more on a stale connection
      if (fd_ < 0 && !Connect()) return -1;
      std::string head = absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                                      "Content-Length: ", payload.size(), "\r\n");
      if (!content_type.empty()) absl::StrAppend(&head, "Content-Type: ", content_type, "\r\n");
      head += "\r\n";
      if (SendAll(head) && SendAll(payload)) {
        int code = ReadResponse(body);
        if (code > 0) return code;
      }
      Close();
    }
    return -1;
  }

 private:
  bool Connect() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      Close();
      return false;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    buffer_.clear();
    return true;
  }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  bool SendAll(absl::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  // Reads until buffer_ holds `n` bytes (false at EOF or on an error).
  bool Fill(size_t n) {
    char chunk[65536];
    while (buffer_.size() < n) {
      ssize_t got = recv(fd_, chunk, sizeof(chunk), 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return false;
      buffer_.append(chunk, static_cast<size_t>(got));
    }
    return true;
  }
  // Reads a line ending in CRLF (without it) from the connection.
  bool Line(std::string* line) {
    size_t eol;
    while ((eol = buffer_.find("\r\n")) == std::string::npos) {
      if (!Fill(buffer_.size() + 1)) return false;
    }
    *line = buffer_.substr(0, eol);
    buffer_.erase(0, eol + 2);
    return true;
  }
  bool Take(size_t n, std::string* out) {
    if (!Fill(n)) return false;
    out->append(buffer_, 0, n);
    buffer_.erase(0, n);
    return true;
  }
  int ReadResponse(std::string* body) {
    std::string line;
    if (!Line(&line)) return -1;
    std::vector<std::string> status = absl::StrSplit(line, ' ');
    int code = 0;
    if (status.size() < 2 || !absl::SimpleAtoi(status[1], &code)) return -1;
    size_t length = 0;
    bool chunked = false, has_length = false, close_after = false;
    while (Line(&line) && !line.empty()) {
      std::string lower = absl::AsciiStrToLower(line);
      if (absl::StartsWith(lower, "content-length:")) {
        has_length = absl::SimpleAtoi(absl::StripAsciiWhitespace(lower.substr(15)), &length);
      } else if (absl::StartsWith(lower, "transfer-encoding:") && absl::StrContains(lower, "chunked")) {
        chunked = true;
      } else if (absl::StartsWith(lower, "connection:") && absl::StrContains(lower, "close")) {
        close_after = true;
      }
    }
    body->clear();
    if (chunked) {
      while (true) {
        size_t n = 0;
        if (!Line(&line) || !absl::SimpleHexAtoi(absl::StripAsciiWhitespace(line), &n)) return -1;
        if (n == 0) {
          while (Line(&line) && !line.empty()) {}
          break;
        }
        if (!Take(n, body) || !Line(&line)) return -1;
      }
    } else if (has_length) {
      if (!Take(length, body)) return -1;
    } else {
      while (Fill(buffer_.size() + 1)) {}
      body->swap(buffer_);
      buffer_.clear();
      close_after = true;
    }
    if (close_after) Close();
    return code;
  }

  const int port_;
  int fd_ = -1;
  std::string buffer_;  // received, not yet consumed
};

// Orthanc from Debian's package, run as our child with a private JSON
// configuration: storage and SQLite index in `dir`, HTTP on a free port
// (loopback clients only), the DICOM server off, no authentication, no
// plugins, no Lua, no jobs saved.
class OrthancPeer {
 public:
  static std::string Binary() {
    for (const char* path : {"/usr/sbin/Orthanc", "/usr/bin/Orthanc"}) {
      if (access(path, X_OK) == 0) return path;
    }
    return "";
  }

  // Starts Orthanc and polls GET /system until it answers (60 s at most).
  static std::unique_ptr<OrthancPeer> Start(const std::string& dir, std::string* error) {
    auto peer = std::unique_ptr<OrthancPeer>(new OrthancPeer);
    peer->port_ = FreeLoopbackPort();
    std::filesystem::create_directories(dir + "/storage");
    std::string config = dir + "/orthanc.json";
    std::ofstream(config) << absl::StrCat(
        "{\n  \"Name\": \"medfs-bench\",\n  \"StorageDirectory\": \"", dir, "/storage\",\n",
        "  \"IndexDirectory\": \"", dir, "/storage\",\n  \"HttpPort\": ", peer->port_, ",\n",
        "  \"RemoteAccessAllowed\": false,\n  \"AuthenticationEnabled\": false,\n",
        "  \"DicomServerEnabled\": false,\n  \"DicomPort\": ", FreeLoopbackPort(), ",\n",
        "  \"Plugins\": [],\n  \"LuaScripts\": [],\n  \"SaveJobs\": false,\n",
        "  \"WebDavEnabled\": false,\n  \"OrthancExplorerEnabled\": false\n}\n");
    std::string log = dir + "/orthanc.log";
    std::string binary = Binary();
    pid_t pid = fork();
    if (pid == 0) {
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execl(binary.c_str(), binary.c_str(), config.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    peer->pid_ = pid;
    HttpConnection http(peer->port_);
    absl::Time give_up = absl::Now() + absl::Seconds(60);
    std::string body;
    while (http.Request("GET", "/system", "", "", &body) != 200) {
      int status;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        peer->pid_ = -1;
        *error = absl::StrCat("Orthanc exited during start-up (see ", log, ")");
        return nullptr;
      }
      if (absl::Now() > give_up) {
        *error = absl::StrCat("Orthanc did not answer /system within 60 s (see ", log, ")");
        return nullptr;
      }
      absl::SleepFor(absl::Milliseconds(50));  // poll interval, not a wait for readiness
    }
    return peer;
  }

  ~OrthancPeer() { Stop(); }

  // SIGTERM, then SIGKILL if it has not exited within 30 s.
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    absl::Time give_up = absl::Now() + absl::Seconds(30);
    int status;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (absl::Now() > give_up) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    pid_ = -1;
  }

  int port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  OrthancPeer() = default;
  int port_ = -1;
  pid_t pid_ = -1;
};

// Uploads every file with POST /instances from `uploaders` threads, each
// on its own keep-alive connection; each thread reads its files from disk
// itself (as `medfs ingest` does).
Measure UploadToOrthanc(const std::string& dir, const std::vector<std::string>& files,
                        int uploaders) {
  Measure m;
  std::string error;
  std::unique_ptr<OrthancPeer> peer = OrthancPeer::Start(dir, &error);
  if (!peer) {
    m.note = error;
    return m;
  }
  std::atomic<size_t> next{0};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  double server_before = ProcessCpu(peer->pid());
  struct rusage self_before;
  getrusage(RUSAGE_SELF, &self_before);
  absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < uploaders; ++t) {
    threads.emplace_back([&, port = peer->port()] {
      HttpConnection http(port);
      std::string bytes, body;
      for (size_t i; (i = next.fetch_add(1)) < files.size();) {
        std::ifstream in(files[i], std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
        int code = http.Request("POST", "/instances", "application/dicom", bytes, &body);
        bool success = code == 200 && absl::StrContains(body, "Success");
        (success ? ok : failed).fetch_add(1);
        if (!success && failed.load() <= 3) {
          std::fprintf(stderr, "Orthanc upload of %s: HTTP %d %s\n", files[i].c_str(),
                       code, body.c_str());
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  m.seconds = Seconds(start);
  m.server_cpu = ProcessCpu(peer->pid()) - server_before;
  struct rusage self_after;
  getrusage(RUSAGE_SELF, &self_after);
  auto cpu = [](const struct rusage& u) {
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec +
           (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  };
  m.client_cpu = cpu(self_after) - cpu(self_before);
  peer->Stop();
  m.files_ok = ok.load();
  m.ran = failed.load() == 0;
  if (failed.load() > 0) m.note = absl::StrCat(failed.load(), " uploads FAILED");
  return m;
}

// ---- the ingest benchmark ---------------------------------------------

uint64_t GenerateSlices(const std::string& root, int slices) {
  uint64_t bytes = 0;
  for (int done = 0; done < slices; done += 100) {
    medfs::ingest::testing::SeriesSpec spec;
    spec.rows = spec.columns = 512;
    spec.slices = std::min(100, slices - done);
    int i = 0;
    for (auto& inst : medfs::ingest::testing::MakeSeries(spec).instances) {
      std::string path = absl::StrCat(root, "/series", done / 100, "/IM", i++);
      medfs::ingest::testing::WriteFile(path, inst.bytes);
      bytes += inst.bytes.size();
    }
  }
  return bytes;
}

// MEDFS_BIN_DIR defaults to the folder this benchmark runs from (build/bin).
void DefaultBinDir() {
  if (getenv("MEDFS_BIN_DIR") != nullptr) return;
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) setenv("MEDFS_BIN_DIR", self.parent_path().c_str(), 1);
}

int RunIngestBench() {
  namespace fs = std::filesystem;
  DefaultBinDir();
  std::string dir = absl::GetFlag(FLAGS_dir);
  if (dir.empty()) {
    char tmpl[] = "/tmp/medfs-ingest-bench-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  int slices = absl::GetFlag(FLAGS_slices);
  double mb = GenerateSlices(dir + "/src", slices) / 1e6;
  std::vector<std::string> files = ListFiles(dir + "/src");
  std::printf("data: %d slices, %.1f MB in %s/src\n", slices, mb, dir.c_str());
  if (absl::GetFlag(FLAGS_generate_only)) return 0;
  Measure cp = TimeCommand(absl::StrCat("cp -r ", dir, "/src ", dir, "/copy && sync"), {});
  fs::remove_all(dir + "/copy");
  medfs::testing::TestClusterOptions options;
  options.chunkservers = 3;
  options.replication = 2;
  options.parent_dir = dir;
  auto cluster = medfs::testing::TestCluster::Start(options);
  if (!cluster.ok()) {
    std::fprintf(stderr, "cluster: %s\n", cluster.status().ToString().c_str());
    return 1;
  }
  std::vector<pid_t> servers = {(*cluster)->meta()->pid()};
  for (int i = 0; i < (*cluster)->chunkserver_count(); ++i) {
    servers.push_back((*cluster)->chunkserver(i)->pid());
  }
  std::string medfs = absl::StrCat(medfs::testing::TestCluster::BinaryPath("medfs"),
                                   " --meta=", (*cluster)->meta_address());
  medfs::ingest::testing::WriteFile(dir + "/key", "bench-secret-key-0123456789abcdef");
  int jobs_flag = absl::GetFlag(FLAGS_jobs);
  std::string jobs = jobs_flag > 0 ? absl::StrCat(" --jobs ", jobs_flag) : "";
  Measure plain = TimeCommand(absl::StrCat(medfs, " ingest ", dir, "/src --dataset ct", jobs),
                              servers);
  Measure deid = TimeCommand(
      absl::StrCat(medfs, " ingest ", dir, "/src --dataset ct_deid --deidentify basic --key-file ",
                   dir, "/key", jobs),
      servers);
  // The client library's own upload of the same folder (no parsing, one
  // file per commit): what the data path allows for this workload.
  Measure put;
  if (absl::GetFlag(FLAGS_put)) {
    put = TimeCommand(absl::StrCat(medfs, " put -r ", dir, "/src /put_copy", jobs), servers);
  }
  std::vector<std::pair<std::string, Measure>> variants;
  for (absl::string_view args : absl::StrSplit(absl::GetFlag(FLAGS_variants), ';',
                                               absl::SkipWhitespace())) {
    variants.emplace_back(
        absl::StrCat("medfs ingest ", args),
        TimeCommand(absl::StrCat(medfs, " ingest ", dir, "/src --dataset v", variants.size(),
                                 " --key-file ", dir, "/key ", args),
                    servers));
  }
  cluster->reset();
  Measure orthanc;
  if (!absl::GetFlag(FLAGS_orthanc)) {
    orthanc.note = "not measured (--orthanc=false)";
  } else if (OrthancPeer::Binary().empty()) {
    orthanc.note = "not installed: run `bench/setup-peers.sh install-orthanc` (apt-get)";
  } else {
    orthanc = UploadToOrthanc(dir + "/orthanc", files, absl::GetFlag(FLAGS_orthanc_uploaders));
  }
  std::printf("\n%-36s %8s %8s %8s %7s %9s %9s\n", "ingest of the same folder", "seconds",
              "MB/s", "files/s", "vs cp", "cpu:cli", "cpu:srv");
  auto row = [&](const std::string& name, const Measure& m) {
    if (m.seconds <= 0) {
      std::printf("%-36s %s\n", name.c_str(), m.note.c_str());
      return;
    }
    std::printf("%-36s %8.2f %8.1f %8.1f %7.2f %9.2f %9.2f  %s\n", name.c_str(), m.seconds,
                mb / m.seconds, slices / m.seconds, cp.seconds / m.seconds, m.client_cpu,
                m.server_cpu, m.note.c_str());
  };
  row("cp -r (local disk, + sync)", cp);
  if (absl::GetFlag(FLAGS_put)) row("medfs put -r (same cluster)", put);
  row("medfs ingest (R=2, 3 servers)", plain);
  row("medfs ingest --deidentify basic", deid);
  for (const auto& [name, m] : variants) row(name, m);
  row(absl::StrCat("Orthanc REST (", absl::GetFlag(FLAGS_orthanc_uploaders), " uploaders)"),
      orthanc);
  std::printf("RESULT ingest_mbps=%.1f ingest_deid_mbps=%.1f cp_mbps=%.1f ratio=%.2f "
              "ratio_deid=%.2f",
              mb / plain.seconds, mb / deid.seconds, mb / cp.seconds, cp.seconds / plain.seconds,
              cp.seconds / deid.seconds);
  if (orthanc.seconds > 0) {
    std::printf(" orthanc_files_per_s=%.1f medfs_vs_orthanc=%.2f", slices / orthanc.seconds,
                orthanc.seconds / plain.seconds);
  } else {
    std::printf(" orthanc=missing");
  }
  std::printf("\n");
  fs::remove_all(dir);
  return plain.ran && deid.ran ? 0 : 1;
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
  // Each run's replies are kept until all runs are done, so that freeing
  // an earlier reply is not timed as part of the next query.
  constexpr int kRuns = 5;
  std::vector<medfs::v1::QueryDicomReply> index_replies(kRuns), scan_replies(kRuns);
  for (int run = 0; run < kRuns; ++run) {
    medfs::v1::QueryDicomRequest q;
    q.set_dataset("bench");
    q.set_expression(expression);
    q.set_limit(1000000);
    absl::Time t = absl::Now();
    absl::StatusOr<medfs::v1::QueryDicomReply> reply = dicom.Query(q);
    indexed.push_back(Seconds(t));
    if (!reply.ok()) {
      std::fprintf(stderr, "indexed query: %s\n", reply.status().ToString().c_str());
      return 1;
    }
    index_replies[run].Swap(&*reply);
    q.set_full_scan(true);
    t = absl::Now();
    reply = dicom.Query(q);
    scanned.push_back(Seconds(t));
    if (!reply.ok()) {
      std::fprintf(stderr, "full-scan query: %s\n", reply.status().ToString().c_str());
      return 1;
    }
    scan_replies[run].Swap(&*reply);
  }
  const medfs::v1::QueryDicomReply& a = index_replies.back();
  const medfs::v1::QueryDicomReply& b = scan_replies.back();
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
