#include "cli/transfer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <span>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"

namespace medfs::cli {
namespace {

constexpr size_t kPutReadBytes = 8u << 20;
constexpr size_t kGetBufferBytes = 32u << 20;

// Progress lines on stderr: rewritten in place on a terminal, one line
// every few seconds otherwise. Silent for small transfers.
class Progress {
 public:
  Progress(FILE* err, std::string label, uint64_t total, bool enabled)
      : err_(err), label_(std::move(label)), total_(total),
        enabled_(enabled && total >= kProgressBytes),
        tty_(isatty(fileno(err)) == 1), start_(absl::Now()),
        last_(start_) {}

  void Update(uint64_t done) {
    if (!enabled_) return;
    const absl::Time now = absl::Now();
    if (now - last_ < (tty_ ? absl::Milliseconds(250) : absl::Seconds(5))) {
      return;
    }
    last_ = now;
    Print(done, now, false);
  }
  void Finish(uint64_t done) {
    if (enabled_) Print(done, absl::Now(), true);
  }

 private:
  void Print(uint64_t done, absl::Time now, bool final) {
    const double seconds = std::max(1e-6, absl::ToDoubleSeconds(now - start_));
    const double mibps = static_cast<double>(done) / seconds / (1 << 20);
    const int percent = total_ == 0 ? 100 : static_cast<int>(100 * done / total_);
    std::fprintf(err_, "%s%s: %3d%% %s / %s, %.0f MiB/s%s",
                 tty_ ? "\r" : "", label_.c_str(), percent,
                 HumanBytes(done).c_str(), HumanBytes(total_).c_str(), mibps,
                 (final || !tty_) ? "\n" : "");
    std::fflush(err_);
  }

  FILE* const err_;
  const std::string label_;
  const uint64_t total_;
  const bool enabled_;
  const bool tty_;
  const absl::Time start_;
  absl::Time last_;
};

// Closes a file descriptor on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

absl::Status WriteAll(int fd, const std::byte* data, size_t length) {
  while (length > 0) {
    const ssize_t n = write(fd, data, length);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, "write");
    }
    data += n;
    length -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PutFile(CommandContext& c, const std::string& local,
                     uint64_t parent, const std::string& name,
                     const std::string& remote) {
  Fd file{open(local.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) return PathError(local, ErrnoToStatus(errno, "open"));
  struct stat st;
  if (fstat(file.fd, &st) != 0) {
    return PathError(local, ErrnoToStatus(errno, "stat"));
  }
  absl::StatusOr<std::unique_ptr<client::FileWriter>> writer =
      c.client->NewWriter();
  if (!writer.ok()) return PathError(remote, writer.status());
  std::vector<std::byte> buffer(
      std::min<size_t>(kPutReadBytes, std::max<off_t>(st.st_size, 1)));
  Progress progress(c.err, absl::StrCat("put ", remote), st.st_size,
                    c.flags.progress);
  while (true) {
    const ssize_t n = read(file.fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return PathError(local, ErrnoToStatus(errno, "read"));
    }
    if (n == 0) break;
    absl::Status appended = (*writer)->Append(
        std::span<const std::byte>(buffer.data(), static_cast<size_t>(n)));
    if (!appended.ok()) return PathError(remote, appended);
    progress.Update((*writer)->size());
  }
  absl::StatusOr<client::FileContent> content = (*writer)->Finish();
  if (!content.ok()) return PathError(remote, content.status());
  client::CreateFileOptions options;
  options.mode = st.st_mode & 07777;
  options.uid = getuid();
  options.gid = getgid();
  options.replace_existing = true;
  absl::StatusOr<v1::Inode> created =
      c.client->CreateFile(parent, name, *content, options);
  if (!created.ok()) return PathError(remote, created.status());
  progress.Finish(content->size);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Downloader>> Downloader::Create(
    CommandContext& c) {
  std::unique_ptr<Downloader> d(new Downloader(c));
  void* memory = mmap(nullptr, kGetBufferBytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    return ErrnoToStatus(errno, "allocate download buffer");
  }
  d->buffer_ = static_cast<std::byte*>(memory);
  d->buffer_bytes_ = kGetBufferBytes;
  RETURN_IF_ERROR(c.client->RegisterBuffer(memory, kGetBufferBytes));
  return d;
}

// The buffer stays registered with the client (there is no unregister),
// so it stays mapped until the process exits.
Downloader::~Downloader() = default;

absl::Status Downloader::ToFd(uint64_t inode_id, const std::string& remote,
                              int fd) {
  absl::StatusOr<v1::Inode> inode = c_.client->GetAttr(inode_id, true);
  if (!inode.ok()) return PathError(remote, inode.status());
  Progress progress(c_.err, absl::StrCat("get ", remote), inode->size(),
                    c_.flags.progress);
  uint64_t offset = 0;
  while (offset < inode->size()) {
    const size_t want = static_cast<size_t>(
        std::min<uint64_t>(buffer_bytes_, inode->size() - offset));
    absl::StatusOr<size_t> n =
        c_.client->Read(*inode, offset, std::span<std::byte>(buffer_, want));
    if (!n.ok()) return PathError(remote, n.status());
    if (*n == 0) break;
    absl::Status written = WriteAll(fd, buffer_, *n);
    if (!written.ok()) return PathError(remote, written);
    offset += *n;
    progress.Update(offset);
  }
  progress.Finish(offset);
  return absl::OkStatus();
}

absl::Status Downloader::ToFile(uint64_t inode, const std::string& remote,
                                const std::string& local) {
  const std::string temporary = absl::StrCat(local, ".medfs-part-", getpid());
  Fd file{open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
               0644)};
  if (file.fd < 0) return PathError(local, ErrnoToStatus(errno, "create"));
  absl::Status status = ToFd(inode, remote, file.fd);
  if (status.ok() && close(file.fd) != 0) {
    status = PathError(local, ErrnoToStatus(errno, "close"));
  }
  file.fd = -1;
  if (status.ok() && rename(temporary.c_str(), local.c_str()) != 0) {
    status = PathError(local, ErrnoToStatus(errno, "rename"));
  }
  if (!status.ok()) unlink(temporary.c_str());
  return status;
}

}  // namespace medfs::cli
