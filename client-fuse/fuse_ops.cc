#include "client-fuse/fuse_ops.h"

#include <fcntl.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "common/logging.h"
#include "common/status.h"

namespace medfs::fuse {
namespace {

constexpr size_t kMaxIo = 1u << 20;  // max_read and max_write

MountState* State(fuse_req_t req) {
  return static_cast<MountState*>(fuse_req_userdata(req));
}
FileSystem* Fs(fuse_req_t req) { return State(req)->fs; }
OpenFile* File(fuse_file_info* fi) {
  return fi == nullptr ? nullptr : reinterpret_cast<OpenFile*>(fi->fh);
}
Caller CallerOf(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  return Caller{ctx->uid, ctx->gid};
}

// Replies with the errno of `status`; logs what the caller cannot see.
void ReplyError(fuse_req_t req, const absl::Status& status) {
  const int error = StatusToErrno(status);
  if (error == EIO) MEDFS_LOG(WARNING) << "I/O error returned to the kernel: " << status;
  fuse_reply_err(req, error);
}

fuse_entry_param EntryOf(fuse_req_t req, const v1::Inode& inode) {
  const FileSystemOptions& options = Fs(req)->options();
  fuse_entry_param entry{};
  entry.ino = inode.id();
  entry.generation = 1;
  entry.entry_timeout = options.entry_timeout_s;
  entry.attr_timeout = options.attr_timeout_s;
  Fs(req)->FillStat(inode, &entry.attr);
  return entry;
}

void ReplyEntry(fuse_req_t req, const absl::StatusOr<v1::Inode>& inode) {
  if (!inode.ok()) return ReplyError(req, inode.status());
  fuse_entry_param entry = EntryOf(req, *inode);
  fuse_reply_entry(req, &entry);
}

void ReplyAttr(fuse_req_t req, const absl::StatusOr<v1::Inode>& inode,
               double timeout) {
  if (!inode.ok()) return ReplyError(req, inode.status());
  struct stat st;
  Fs(req)->FillStat(*inode, &st);
  fuse_reply_attr(req, &st, timeout);
}

// Tells the kernel to drop what it cached of `ino` (attributes, and pages
// unless attributes_only). Called after the reply (so with the session, as
// the request is gone), never while the kernel may hold page locks of the
// inode for this request.
void Invalidate(fuse_session* session, fuse_ino_t ino, bool attributes_only) {
  if (session == nullptr) return;
  int rc = fuse_lowlevel_notify_inval_inode(session, ino, attributes_only ? -1 : 0, 0);
  if (rc != 0 && rc != -ENOENT) {
    MEDFS_LOG(WARNING) << "invalidate kernel cache of inode " << ino << ": "
                       << std::strerror(-rc);
  }
}

void Init(void* userdata, fuse_conn_info* conn) {
  auto* state = static_cast<MountState*>(userdata);
  conn->max_write = kMaxIo;
  conn->max_read = kMaxIo;
  conn->max_readahead = std::max<unsigned>(conn->max_readahead, kMaxIo);
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;  // plus always: meta sends attrs free
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA) conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
  if (state->read_only && (conn->capable & FUSE_CAP_CACHE_SYMLINKS)) {
    conn->want |= FUSE_CAP_CACHE_SYMLINKS;
  }
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;  // close-to-open: no dirty pages
}

void Destroy(void* userdata) {
  auto* state = static_cast<MountState*>(userdata);
  const ScanPrefetchStats scans = state->fs->scan_prefetch_stats();
  MEDFS_LOG(INFO) << "file system unmounted (" << state->fs->open_files()
                  << " files still open); folder scans: " << scans.listings
                  << " listings ahead, " << scans.prefetched << " files prefetched, "
                  << scans.used << " used, " << scans.dropped << " dropped";
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  absl::StatusOr<v1::Inode> inode = Fs(req)->Lookup(parent, name);
  if (absl::IsNotFound(inode.status()) && Fs(req)->options().negative_timeout_s > 0) {
    fuse_entry_param negative{};
    negative.entry_timeout = Fs(req)->options().negative_timeout_s;
    fuse_reply_entry(req, &negative);
    return;
  }
  ReplyEntry(req, inode);
}

void Forget(fuse_req_t req, fuse_ino_t, uint64_t) {
  fuse_reply_none(req);  // no per-inode state: nothing to count
}

void ForgetMulti(fuse_req_t req, size_t, fuse_forget_data*) { fuse_reply_none(req); }

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  OpenFile* file = File(fi);
  absl::StatusOr<v1::Inode> inode = Fs(req)->GetAttr(ino, file);
  double timeout = Fs(req)->options().attr_timeout_s;
  // A reader of an older version than the committed one: its size must not
  // stick for others (a newer reader's view is refreshed at once).
  if (file != nullptr && file->reader != nullptr && inode.ok() &&
      inode->content_version() != file->reader->inode().content_version()) {
    timeout = 0;
  }
  ReplyAttr(req, inode, timeout);
}

void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
             fuse_file_info* fi) {
  ReplyAttr(req, Fs(req)->SetAttr(ino, *attr, to_set, File(fi)),
            Fs(req)->options().attr_timeout_s);
}

void ReadLink(fuse_req_t req, fuse_ino_t ino) {
  absl::StatusOr<std::string> target = Fs(req)->ReadLink(ino);
  if (!target.ok()) return ReplyError(req, target.status());
  fuse_reply_readlink(req, target->c_str());
}

void MkNod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
           dev_t) {
  ReplyEntry(req, Fs(req)->MkNod(parent, name, mode, CallerOf(req)));
}

void MkDir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  ReplyEntry(req, Fs(req)->MkDir(parent, name, mode, CallerOf(req)));
}

void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  fuse_reply_err(req, StatusToErrno(Fs(req)->Unlink(parent, name)));
}

void RmDir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  fuse_reply_err(req, StatusToErrno(Fs(req)->RmDir(parent, name)));
}

void Symlink(fuse_req_t req, const char* target, fuse_ino_t parent,
             const char* name) {
  ReplyEntry(req, Fs(req)->Symlink(parent, name, target, CallerOf(req)));
}

void Rename(fuse_req_t req, fuse_ino_t parent, const char* name,
            fuse_ino_t new_parent, const char* new_name, unsigned int flags) {
  fuse_reply_err(req, StatusToErrno(
                          Fs(req)->Rename(parent, name, new_parent, new_name, flags)));
}

void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent,
          const char* new_name) {
  absl::Status status = Fs(req)->Link(ino, new_parent, new_name);
  MEDFS_LOG(INFO) << status;
  fuse_reply_err(req, StatusToErrno(status));
}

void FillOpenInfo(const OpenResult& opened, fuse_file_info* fi) {
  fi->fh = reinterpret_cast<uint64_t>(opened.file);
  fi->keep_cache = opened.keep_cache;
  fi->direct_io = opened.direct_io;
  // A read handle has nothing to commit on close: the kernel (FOPEN_NOFLUSH,
  // Linux >= 5.16) then skips the FLUSH round trip of every close(2).
  fi->noflush = opened.file->reader != nullptr;
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  absl::StatusOr<OpenResult> opened = Fs(req)->Open(ino, fi->flags);
  if (!opened.ok()) return ReplyError(req, opened.status());
  if (opened->invalidate_attributes) {
    Invalidate(State(req)->session.load(), ino, /*attributes_only=*/true);
  }
  FillOpenInfo(*opened, fi);
  if (fuse_reply_open(req, fi) == -ENOENT) Fs(req)->Release(opened->file);
}

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
            fuse_file_info* fi) {
  auto created = Fs(req)->Create(parent, name, mode, fi->flags, CallerOf(req));
  if (!created.ok()) return ReplyError(req, created.status());
  FillOpenInfo(created->second, fi);
  fuse_entry_param entry = EntryOf(req, created->first);
  if (fuse_reply_create(req, &entry, fi) == -ENOENT) Fs(req)->Release(created->second.file);
}

void Read(fuse_req_t req, fuse_ino_t, size_t size, off_t offset,
          fuse_file_info* fi) {
  absl::StatusOr<ReadResult> result = Fs(req)->Read(File(fi), offset, size);
  if (!result.ok()) return ReplyError(req, result.status());
  if (result->iov.empty()) {
    fuse_reply_buf(req, nullptr, 0);
    return;
  }
  fuse_reply_iov(req, result->iov.data(), static_cast<int>(result->iov.size()));
}

void Write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size,
           off_t offset, fuse_file_info* fi) {
  absl::Status status = Fs(req)->Write(
      File(fi), offset, std::span<const std::byte>(reinterpret_cast<const std::byte*>(buf), size));
  if (!status.ok()) return ReplyError(req, status);
  fuse_reply_write(req, size);
}

void Flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  OpenFile* file = File(fi);
  if (file != nullptr && file->writer == nullptr) {  // a reader: nothing to do
    fuse_reply_err(req, 0);
    return;
  }
  fuse_session* session = State(req)->session.load();
  absl::StatusOr<bool> committed = Fs(req)->Flush(file);
  if (!committed.ok()) return ReplyError(req, committed.status());
  fuse_reply_err(req, 0);  // `req` is gone from here on
  if (*committed) Invalidate(session, ino, /*attributes_only=*/false);
}

void Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  fuse_session* session = State(req)->session.load();
  const bool committed = Fs(req)->Release(File(fi));
  fuse_reply_err(req, 0);  // `req` is gone from here on
  if (committed) Invalidate(session, ino, /*attributes_only=*/false);
}

void Fsync(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info* fi) {
  Flush(req, ino, fi);
}

void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  absl::StatusOr<OpenDirectory*> dir = Fs(req)->OpenDir(ino);
  if (!dir.ok()) return ReplyError(req, dir.status());
  fi->fh = reinterpret_cast<uint64_t>(*dir);
  fi->keep_cache = 0;
  if (fuse_reply_open(req, fi) == -ENOENT) Fs(req)->ReleaseDir(*dir);
}

mode_t TypeMode(const v1::ReadDirEntry* entry) {
  if (entry == nullptr || entry->type() == v1::FILE_TYPE_DIRECTORY) return S_IFDIR;
  if (entry->type() == v1::FILE_TYPE_SYMLINK) return S_IFLNK;
  return S_IFREG;
}

// Adds one entry to `buf` at `used`; returns false when it does not fit.
bool AddEntry(fuse_req_t req, bool plus, std::vector<char>& buf, size_t& used,
              const char* name, const v1::ReadDirEntry* entry, fuse_ino_t dot_ino,
              off_t next) {
  char* at = buf.data() + used;
  const size_t room = buf.size() - used;
  size_t needed;
  if (plus) {
    fuse_entry_param param{};
    if (entry != nullptr && entry->attributes().id() != 0) {
      param = EntryOf(req, entry->attributes());
    } else {  // "." and "..", or no attributes: the kernel will look it up
      param.attr.st_ino = entry != nullptr ? entry->inode() : dot_ino;
      param.attr.st_mode = TypeMode(entry);
    }
    needed = fuse_add_direntry_plus(req, at, room, name, &param, next);
  } else {
    struct stat st{};
    st.st_ino = entry != nullptr ? entry->inode() : dot_ino;
    st.st_mode = TypeMode(entry);
    needed = fuse_add_direntry(req, at, room, name, &st, next);
  }
  if (needed > room) return false;
  used += needed;
  return true;
}

// Offsets: 0 start, 1 after ".", 2 after "..", 2 + i + 1 after entry i.
void DoReadDir(fuse_req_t req, size_t size, off_t offset, fuse_file_info* fi,
               bool plus) {
  auto* dir = reinterpret_cast<OpenDirectory*>(fi->fh);
  std::vector<char> buf(size);
  size_t used = 0;
  if (offset == 0 && !AddEntry(req, plus, buf, used, ".", nullptr, dir->inode, 1)) {
    return (void)fuse_reply_buf(req, buf.data(), used);
  }
  if (offset <= 1 && !AddEntry(req, plus, buf, used, "..", nullptr, dir->parent, 2)) {
    return (void)fuse_reply_buf(req, buf.data(), used);
  }
  size_t index = offset <= 2 ? 0 : static_cast<size_t>(offset) - 2;
  // Roughly as many entries as can fit in `size`.
  const size_t want = std::max<size_t>(16, size / (plus ? 160 : 40));
  absl::StatusOr<std::vector<v1::ReadDirEntry>> entries =
      Fs(req)->ReadDir(dir, index, want, plus);
  if (!entries.ok()) {
    if (used > 0) return (void)fuse_reply_buf(req, buf.data(), used);
    return ReplyError(req, entries.status());
  }
  for (const v1::ReadDirEntry& entry : *entries) {
    const off_t next = static_cast<off_t>(index + 3);
    if (!AddEntry(req, plus, buf, used, entry.name().c_str(), &entry, 0, next)) break;
    ++index;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void ReadDir(fuse_req_t req, fuse_ino_t, size_t size, off_t offset,
             fuse_file_info* fi) {
  DoReadDir(req, size, offset, fi, /*plus=*/false);
}

void ReadDirPlus(fuse_req_t req, fuse_ino_t, size_t size, off_t offset,
                 fuse_file_info* fi) {
  DoReadDir(req, size, offset, fi, /*plus=*/true);
}

void ReleaseDir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  Fs(req)->ReleaseDir(reinterpret_cast<OpenDirectory*>(fi->fh));
  fuse_reply_err(req, 0);
}

void FsyncDir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) {
  fuse_reply_err(req, 0);  // every metadata change is durable when it returns
}

void StatFs(fuse_req_t req, fuse_ino_t) {
  absl::StatusOr<v1::StatFsReply> reply = Fs(req)->StatFs();
  if (!reply.ok()) return ReplyError(req, reply.status());
  struct statvfs st{};
  const uint64_t block = reply->block_size() != 0 ? reply->block_size() : 4096;
  st.f_bsize = block;
  st.f_frsize = block;
  st.f_blocks = reply->capacity_bytes() / block;
  st.f_bfree = reply->free_bytes() / block;
  st.f_bavail = st.f_bfree;
  st.f_files = reply->inode_count() + (1ull << 32);
  st.f_ffree = 1ull << 32;
  st.f_favail = st.f_ffree;
  st.f_namemax = reply->max_name_length() != 0 ? reply->max_name_length()
                                               : Fs(req)->options().max_name_length;
  fuse_reply_statfs(req, &st);
}

// Extended attributes are not stored: ENOSYS once makes the kernel stop asking.
void GetXattr(fuse_req_t req, fuse_ino_t, const char*, size_t) {
  fuse_reply_err(req, ENOSYS);
}
void ListXattr(fuse_req_t req, fuse_ino_t, size_t) { fuse_reply_err(req, ENOSYS); }

fuse_lowlevel_ops MakeOperations() {
  fuse_lowlevel_ops ops{};
  ops.init = Init;
  ops.destroy = Destroy;
  ops.lookup = Lookup;
  ops.forget = Forget;
  ops.forget_multi = ForgetMulti;
  ops.getattr = GetAttr;
  ops.setattr = SetAttr;
  ops.readlink = ReadLink;
  ops.mknod = MkNod;
  ops.mkdir = MkDir;
  ops.unlink = Unlink;
  ops.rmdir = RmDir;
  ops.symlink = Symlink;
  ops.rename = Rename;
  ops.link = Link;
  ops.open = Open;
  ops.create = Create;
  ops.read = Read;
  ops.write = Write;
  ops.flush = Flush;
  ops.release = Release;
  ops.fsync = Fsync;
  ops.opendir = OpenDir;
  ops.readdir = ReadDir;
  ops.readdirplus = ReadDirPlus;
  ops.releasedir = ReleaseDir;
  ops.fsyncdir = FsyncDir;
  ops.statfs = StatFs;
  ops.getxattr = GetXattr;
  ops.listxattr = ListXattr;
  return ops;
}

}  // namespace

const fuse_lowlevel_ops& Operations() {
  static const fuse_lowlevel_ops ops = MakeOperations();
  return ops;
}

}  // namespace medfs::fuse
