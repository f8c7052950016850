// fuse_bench_passthrough: a minimal FUSE passthrough of a local folder, the
// "FUSE limit" baseline of bench/fuse_bench.sh. Same kernel path as
// medfs-mount (1 MiB max_read/max_write, multi-threaded loop, page cache
// kept, kernel readahead raised the same way), but every operation is a
// plain syscall on the backing folder.
//
//   fuse_bench_passthrough BACKING_DIR MOUNT_POINT   (stays in foreground)
#define FUSE_USE_VERSION 312
#include <dirent.h>
#include <fcntl.h>
#include <fuse.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

std::string g_backing;

std::string Real(const char* path) { return g_backing + path; }
int Rc(int rc) { return rc < 0 ? -errno : 0; }

void* Init(fuse_conn_info* conn, fuse_config* cfg) {
  conn->max_write = 1 << 20;
  conn->max_read = 1 << 20;
  conn->max_background = 64;
  cfg->kernel_cache = 1;
  cfg->use_ino = 1;
  cfg->entry_timeout = 1;
  cfg->attr_timeout = 1;
  return nullptr;
}
int GetAttr(const char* path, struct stat* st, fuse_file_info* fi) {
  if (fi != nullptr) return Rc(fstat(static_cast<int>(fi->fh), st));
  return Rc(lstat(Real(path).c_str(), st));
}
int ReadDir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*,
            fuse_readdir_flags) {
  DIR* dir = opendir(Real(path).c_str());
  if (dir == nullptr) return -errno;
  while (dirent* e = readdir(dir)) {
    struct stat st {};
    st.st_ino = e->d_ino;
    st.st_mode = static_cast<mode_t>(DTTOIF(e->d_type));
    fill(buf, e->d_name, &st, 0, static_cast<fuse_fill_dir_flags>(0));
  }
  closedir(dir);
  return 0;
}
int Open(const char* path, fuse_file_info* fi) {
  int fd = open(Real(path).c_str(), fi->flags);
  if (fd < 0) return -errno;
  fi->fh = static_cast<uint64_t>(fd);
  fi->keep_cache = 1;
  return 0;
}
int Create(const char* path, mode_t mode, fuse_file_info* fi) {
  int fd = open(Real(path).c_str(), fi->flags, mode);
  if (fd < 0) return -errno;
  fi->fh = static_cast<uint64_t>(fd);
  return 0;
}
int Read(const char*, char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  ssize_t n = pread(static_cast<int>(fi->fh), buf, size, offset);
  return n < 0 ? -errno : static_cast<int>(n);
}
int Write(const char*, const char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  ssize_t n = pwrite(static_cast<int>(fi->fh), buf, size, offset);
  return n < 0 ? -errno : static_cast<int>(n);
}
int Release(const char*, fuse_file_info* fi) { return Rc(close(static_cast<int>(fi->fh))); }
int MkDir(const char* path, mode_t mode) { return Rc(mkdir(Real(path).c_str(), mode)); }
int Unlink(const char* path) { return Rc(unlink(Real(path).c_str())); }
int RmDir(const char* path) { return Rc(rmdir(Real(path).c_str())); }
int Truncate(const char* path, off_t size, fuse_file_info* fi) {
  if (fi != nullptr) return Rc(ftruncate(static_cast<int>(fi->fh), size));
  return Rc(truncate(Real(path).c_str(), size));
}
int StatFs(const char* path, struct statvfs* st) { return Rc(statvfs(Real(path).c_str(), st)); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s BACKING_DIR MOUNT_POINT\n", argv[0]);
    return 2;
  }
  char resolved[PATH_MAX];
  if (realpath(argv[1], resolved) == nullptr) {
    std::perror(argv[1]);
    return 1;
  }
  g_backing = resolved;
  fuse_operations ops{};
  ops.init = Init;
  ops.getattr = GetAttr;
  ops.readdir = ReadDir;
  ops.open = Open;
  ops.create = Create;
  ops.read = Read;
  ops.write = Write;
  ops.release = Release;
  ops.mkdir = MkDir;
  ops.unlink = Unlink;
  ops.rmdir = RmDir;
  ops.truncate = Truncate;
  ops.statfs = StatFs;
  char arg0[] = "fuse_bench_passthrough";
  char fg[] = "-f";
  char opts_flag[] = "-o";
  char opts[] = "fsname=passthrough,default_permissions,allow_other,max_read=1048576";
  char* fuse_argv[] = {arg0, fg, opts_flag, opts, argv[2], nullptr};
  return fuse_main(5, fuse_argv, &ops, nullptr);
}
