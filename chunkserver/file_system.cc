#include "chunkserver/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"

namespace medfs::chunkserver {
namespace {

absl::Status PathError(const char* call, const std::string& path) {
  return ErrnoToStatus(errno, absl::StrCat(call, " ", path));
}

class PosixFile final : public ChunkFile {
 public:
  PosixFile(int fd, std::string path, bool direct = false)
      : fd_(fd), path_(std::move(path)), direct_(direct) {}
  ~PosixFile() override {
    ::close(fd_);
    if (around_cache_fd_ >= 0) ::close(around_cache_fd_);
  }

  absl::StatusOr<bool> ReadAroundCacheAt(uint64_t offset, void* data, size_t length,
                                         size_t capacity) override {
    const size_t rounded = RoundUpToDirectIo(length);
    if (offset % kDirectIoAlignment != 0 || capacity < rounded ||
        reinterpret_cast<uintptr_t>(data) % kDirectIoAlignment != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "reading ", path_, " around the page cache: ", length, " bytes at ", offset,
          " into ", capacity, " are not aligned to ", kDirectIoAlignment));
    }
    const int fd = AroundCacheFd();
    if (fd < 0) return false;
    char* p = static_cast<char*>(data);
    size_t done = 0;
    while (done < length) {
      ssize_t n = ::pread(fd, p + done, rounded - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EINVAL && done == 0) return false;  // no direct I/O here
      if (n < 0) return PathError("pread (direct)", path_);
      if (n == 0 || (static_cast<size_t>(n) % kDirectIoAlignment != 0 &&
                     done + n < length)) {
        return absl::DataLossError(absl::StrCat("pread ", path_, ": short read at offset ",
                                                offset + done + n));
      }
      done += n;
    }
    return true;
  }

  absl::Status ReadAt(uint64_t offset, void* data, size_t length) override {
    char* p = static_cast<char*>(data);
    while (length > 0) {
      ssize_t n = ::pread(fd_, p, length, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return PathError("pread", path_);
      if (n == 0) {
        return absl::DataLossError(
            absl::StrCat("pread ", path_, ": short read at offset ", offset));
      }
      p += n;
      offset += n;
      length -= n;
    }
    return absl::OkStatus();
  }

  absl::Status WriteAt(uint64_t offset, const void* data,
                       size_t length) override {
    const char* p = static_cast<const char*>(data);
    while (length > 0) {
      ssize_t n = ::pwrite(fd_, p, length, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return PathError("pwrite", path_);
      p += n;
      offset += n;
      length -= n;
    }
    return absl::OkStatus();
  }

  absl::Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return PathError("ftruncate", path_);
    }
    return absl::OkStatus();
  }

  bool direct() const override { return direct_; }

  absl::Status StartWriteback(uint64_t offset, size_t length) override {
    if (::sync_file_range(fd_, static_cast<off_t>(offset),
                          static_cast<off_t>(length),
                          SYNC_FILE_RANGE_WRITE) != 0) {
      return PathError("sync_file_range", path_);
    }
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (::fdatasync(fd_) != 0) return PathError("fdatasync", path_);
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> Size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return PathError("fstat", path_);
    return static_cast<uint64_t>(st.st_size);
  }

  absl::StatusOr<std::unique_ptr<MappedFile>> MapInto(
      MappingArena& arena, size_t length) override {
    return arena.Map(fd_, length, path_.c_str());
  }

  const std::string& path() const override { return path_; }

 private:
  // A second descriptor of the file, opened with O_DIRECT on first use;
  // -1 when the file system refuses it.
  int AroundCacheFd() {
    absl::MutexLock lock(&around_cache_mu_);
    if (around_cache_fd_ == kNotOpened) {
      around_cache_fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
    }
    return around_cache_fd_;
  }

  static constexpr int kNotOpened = -2;
  const int fd_;
  const std::string path_;
  const bool direct_;
  absl::Mutex around_cache_mu_;
  int around_cache_fd_ ABSL_GUARDED_BY(around_cache_mu_) = kNotOpened;
};

class PosixFileSystemImpl final : public ChunkFileSystem {
 public:
  absl::StatusOr<std::unique_ptr<ChunkFile>> OpenForRead(
      const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PathError("open", path);
    return std::make_unique<PosixFile>(fd, path);
  }

  absl::StatusOr<std::unique_ptr<ChunkFile>> Create(
      const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return PathError("create", path);
    return std::make_unique<PosixFile>(fd, path);
  }

  absl::StatusOr<std::unique_ptr<ChunkFile>> CreateDirect(
      const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return PathError("create", path);
    // Memory-backed file systems have no device to bypass the cache for:
    // their direct writes only cost more. Elsewhere O_DIRECT when allowed.
    struct statfs fs;
    const bool memory = ::fstatfs(fd, &fs) == 0 && (fs.f_type == TMPFS_MAGIC ||
                                                    fs.f_type == RAMFS_MAGIC);
    const int flags = ::fcntl(fd, F_GETFL);
    const bool direct = !memory && flags >= 0 &&
                        ::fcntl(fd, F_SETFL, flags | O_DIRECT) == 0;
    return std::make_unique<PosixFile>(fd, path, direct);
  }

  absl::Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("rename ", from, " to ", to));
    }
    return absl::OkStatus();
  }

  absl::Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return PathError("unlink", path);
    return absl::OkStatus();
  }

  absl::Status CreateDir(const std::string& path) override {
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      return PathError("mkdir", path);
    }
    return absl::OkStatus();
  }

  absl::Status SyncDir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return PathError("open", path);
    int rc = ::fsync(fd);
    int saved = errno;
    ::close(fd);
    if (rc != 0) return ErrnoToStatus(saved, absl::StrCat("fsync ", path));
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& path) override {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return PathError("opendir", path);
    std::vector<std::string> names;
    while (struct dirent* entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(dir);
    return names;
  }

  absl::StatusOr<DiskSpace> Space(const std::string& path) override {
    struct statvfs st;
    if (::statvfs(path.c_str(), &st) != 0) return PathError("statvfs", path);
    DiskSpace space;
    space.capacity_bytes = uint64_t{st.f_blocks} * st.f_frsize;
    space.free_bytes = uint64_t{st.f_bavail} * st.f_frsize;
    space.fs_id = st.f_fsid;
    return space;
  }
};

}  // namespace

ChunkFileSystem* PosixFileSystem() {
  static ChunkFileSystem* const fs = new PosixFileSystemImpl();
  return fs;
}

}  // namespace medfs::chunkserver
