// fuse_bench_workload: the file workloads of bench/fuse_bench.sh, run with
// plain syscalls against any mounted folder. Each prints one line
//   RESULT <workload> <value> <unit>
//
//   seqwrite FILE MIB            write MIB MiB in 1 MiB writes
//   seqread FILE                 read it back in 1 MiB reads
//   mkfiles DIR DIRS FILES KIB   FILES files of KIB KiB in DIRS folders
//   readfiles DIR THREADS [NAME] read every file of mkfiles' layout
//                                (NAME: the result's name, default readfiles)
//   evict DIR                    drop the page cache of every file of that
//                                layout through the mount (posix_fadvise
//                                DONTNEED): the client's cache only, while
//                                the servers' page cache stays warm
//   statall DIR                  ls -lR: readdir + lstat of every entry
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "fuse_bench_workload: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

void WriteAll(const std::string& path, const std::vector<char>& buf, size_t total) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) Die("create " + path);
  for (size_t done = 0; done < total;) {
    const size_t n = std::min(buf.size(), total - done);
    if (write(fd, buf.data(), n) != static_cast<ssize_t>(n)) Die("write " + path);
    done += n;
  }
  if (close(fd) != 0) Die("close " + path);
}

size_t ReadAll(const std::string& path, std::vector<char>& buf) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) Die("open " + path);
  size_t total = 0;
  ssize_t n;
  while ((n = read(fd, buf.data(), buf.size())) > 0) total += n;
  if (n < 0) Die("read " + path);
  close(fd);
  return total;
}

std::string FilePath(const std::string& dir, int files, int dirs, int i) {
  return dir + "/d" + std::to_string(i % dirs) + "/f" + std::to_string(i);
}

int SeqWrite(const std::string& path, size_t mib) {
  std::vector<char> buf(1 << 20);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<char>(i * 131 + 7);
  auto start = std::chrono::steady_clock::now();
  WriteAll(path, buf, mib << 20);
  std::printf("RESULT seqwrite %.1f MiB/s\n", mib / Seconds(start));
  return 0;
}

int SeqRead(const std::string& path) {
  std::vector<char> buf(1 << 20);
  auto start = std::chrono::steady_clock::now();
  const size_t total = ReadAll(path, buf);
  std::printf("RESULT seqread %.1f MiB/s\n", (total >> 20) / Seconds(start));
  return 0;
}

int MkFiles(const std::string& dir, int dirs, int files, size_t kib) {
  std::vector<char> buf(kib << 10, 'x');
  auto start = std::chrono::steady_clock::now();
  for (int d = 0; d < dirs; ++d) {
    std::string sub = dir + "/d" + std::to_string(d);
    if (mkdir(sub.c_str(), 0755) != 0 && errno != EEXIST) Die("mkdir " + sub);
  }
  for (int i = 0; i < files; ++i) WriteAll(FilePath(dir, files, dirs, i), buf, buf.size());
  std::printf("RESULT mkfiles %.1f files/s\n", files / Seconds(start));
  return 0;
}

// The layout of mkfiles: d<i % dirs>/f<i>; finds dirs and files by listing.
std::vector<std::string> ListFiles(const std::string& dir) {
  std::vector<std::string> paths;
  DIR* top = opendir(dir.c_str());
  if (top == nullptr) Die("opendir " + dir);
  while (dirent* d = readdir(top)) {
    if (d->d_name[0] == '.') continue;
    std::string sub = dir + "/" + d->d_name;
    DIR* inner = opendir(sub.c_str());
    if (inner == nullptr) Die("opendir " + sub);
    while (dirent* f = readdir(inner)) {
      if (f->d_name[0] != '.') paths.push_back(sub + "/" + f->d_name);
    }
    closedir(inner);
  }
  closedir(top);
  return paths;
}

int Evict(const std::string& dir) {
  const std::vector<std::string> paths = ListFiles(dir);
  for (const std::string& path : paths) {
    int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) Die("open " + path);
    if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0) Die("posix_fadvise " + path);
    close(fd);
  }
  std::printf("RESULT evict %zu files\n", paths.size());
  return 0;
}

int ReadFiles(const std::string& dir, int threads, const std::string& name) {
  const std::vector<std::string> paths = ListFiles(dir);
  std::atomic<size_t> next{0}, bytes{0};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      std::vector<char> buf(1 << 20);
      for (size_t i; (i = next++) < paths.size();) bytes += ReadAll(paths[i], buf);
    });
  }
  for (auto& w : workers) w.join();
  const double s = Seconds(start);
  std::printf("RESULT %s_t%d %.1f files/s (%.1f MiB/s)\n", name.c_str(), threads, paths.size() / s,
              (bytes >> 20) / s);
  return 0;
}

size_t StatTree(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) Die("opendir " + dir);
  size_t count = 0;
  std::vector<std::string> subdirs;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    std::string path = dir + "/" + e->d_name;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) Die("lstat " + path);
    ++count;
    if (S_ISDIR(st.st_mode)) subdirs.push_back(path);
  }
  closedir(d);
  for (const std::string& sub : subdirs) count += StatTree(sub);
  return count;
}

int StatAll(const std::string& dir) {
  auto start = std::chrono::steady_clock::now();
  const size_t count = StatTree(dir);
  std::printf("RESULT statall %.1f entries/s (%zu entries)\n", count / Seconds(start), count);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "seqwrite" && argc == 4) return SeqWrite(argv[2], std::stoul(argv[3]));
  if (cmd == "seqread" && argc == 3) return SeqRead(argv[2]);
  if (cmd == "mkfiles" && argc == 6) {
    return MkFiles(argv[2], std::stoi(argv[3]), std::stoi(argv[4]), std::stoul(argv[5]));
  }
  if (cmd == "readfiles" && (argc == 4 || argc == 5)) {
    return ReadFiles(argv[2], std::stoi(argv[3]), argc == 5 ? argv[4] : "readfiles");
  }
  if (cmd == "evict" && argc == 3) return Evict(argv[2]);
  if (cmd == "statall" && argc == 3) return StatAll(argv[2]);
  std::fprintf(stderr, "usage: see the comment at the top of fuse_bench_workload.cc\n");
  return 2;
}
