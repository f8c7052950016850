#include "cli/ingest/source_walker.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/ingest/dicom_parser.h"
#include "cli/ingest/sniff.h"
#include "common/status.h"
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcmetinf.h"
#include "dcmtk/dcmdata/dcsequen.h"

namespace medfs::ingest {
namespace {

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveDeleter>;

struct Fd {
  int fd = -1;
  ~Fd() { if (fd >= 0) close(fd); }
};

std::span<const std::byte> Head(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()),
          std::min(s.size(), kSniffBytes)};
}

// "a/b.tar.gz" -> "a/b": where an archive's members are placed.
std::string StripArchiveExtension(const std::string& rel) {
  for (const char* ext : {".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".zip",
                          ".tar", ".gz"}) {
    if (absl::EndsWithIgnoreCase(rel, ext)) {
      return rel.substr(0, rel.size() - std::strlen(ext));
    }
  }
  return rel;
}

// Normalises an archive member name: no leading '/', no "." or ".."
// components (a member never escapes its archive's folder).
std::string CleanMemberPath(absl::string_view name) {
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(name, '/', absl::SkipEmpty())) {
    if (part == "." || part == "..") continue;
    parts.push_back(part);
  }
  return absl::StrJoin(parts, "/");
}

std::string JoinRel(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : absl::StrCat(prefix, "/", name);
}

class Walker {
 public:
  Walker(SourceSink* sink, const WalkOptions& options)
      : sink_(sink), options_(options) {}

  absl::Status WalkPath(const std::string& path, const std::string& rel,
                        bool is_root);

 private:
  absl::Status WalkDirectory(const std::string& path, const std::string& rel);
  absl::Status WalkFile(const std::string& path, const std::string& rel,
                        bool is_root);
  absl::Status WalkArchive(archive* a, const std::string& origin,
                           const std::string& rel, int depth);
  absl::Status WalkDicomDir(const std::string& path, std::string bytes);
  absl::Status Dispatch(std::string origin, std::string rel, std::string bytes,
                        int depth);
  absl::Status ReadWholeFile(const std::string& path, std::string* out);
  void Problem(std::string origin, std::string reason) {
    sink_->OnProblem({std::move(origin), std::move(reason)});
  }

  SourceSink* sink_;
  WalkOptions options_;
};

absl::Status Walker::WalkPath(const std::string& path, const std::string& rel,
                              bool is_root) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (is_root) return ErrnoToStatus(errno, absl::StrCat("ingest source ", path));
    Problem(path, absl::StrCat("cannot stat: ", strerror(errno)));
    return absl::OkStatus();
  }
  if (S_ISDIR(st.st_mode)) return WalkDirectory(path, rel);
  if (!S_ISREG(st.st_mode)) {
    Problem(path, "not a regular file");
    return absl::OkStatus();
  }
  return WalkFile(path, rel, is_root);
}

absl::Status Walker::WalkDirectory(const std::string& path,
                                   const std::string& rel) {
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) {
    Problem(path, absl::StrCat("cannot open folder: ", strerror(errno)));
    return absl::OkStatus();
  }
  std::vector<std::pair<std::string, bool>> entries;  // name, is symlink dir
  while (dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    entries.push_back({name, false});
  }
  closedir(dir);
  std::sort(entries.begin(), entries.end());
  for (const auto& [name, unused] : entries) {
    std::string child = absl::StrCat(path, "/", name);
    struct stat lst;
    if (lstat(child.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
      struct stat st;
      if (stat(child.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        Problem(child, "symbolic link to a folder: not followed");
        continue;
      }
    }
    RETURN_IF_ERROR(WalkPath(child, JoinRel(rel, name), false));
  }
  return absl::OkStatus();
}

absl::Status Walker::ReadWholeFile(const std::string& path, std::string* out) {
  Fd f{open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) return ErrnoToStatus(errno, "cannot open");
  struct stat st;
  if (fstat(f.fd, &st) != 0) return ErrnoToStatus(errno, "cannot stat");
  if (static_cast<size_t>(st.st_size) > options_.max_file_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "file of ", st.st_size, " bytes is over the limit of ",
        options_.max_file_bytes));
  }
  out->resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < out->size()) {
    ssize_t n = read(f.fd, out->data() + done, out->size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoToStatus(errno, "read failed");
    if (n == 0) break;  // shrank meanwhile
    done += static_cast<size_t>(n);
  }
  out->resize(done);
  return absl::OkStatus();
}

absl::Status Walker::WalkFile(const std::string& path, const std::string& rel,
                              bool is_root) {
  // Sniff first: an archive is streamed, never read whole.
  std::string head(kSniffBytes, '\0');
  {
    Fd f{open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (f.fd < 0) {
      Problem(path, absl::StrCat("cannot open: ", strerror(errno)));
      return absl::OkStatus();
    }
    ssize_t n = pread(f.fd, head.data(), head.size(), 0);
    head.resize(n > 0 ? static_cast<size_t>(n) : 0);
  }
  ContentKind kind = Sniff(Head(head));
  if (kind == ContentKind::kArchive) {
    ArchivePtr a(archive_read_new());
    archive_read_support_filter_all(a.get());
    archive_read_support_format_all(a.get());
    if (archive_read_open_filename(a.get(), path.c_str(), 1 << 20) != ARCHIVE_OK) {
      Problem(path, absl::StrCat("unreadable archive: ",
                                 archive_error_string(a.get())));
      return absl::OkStatus();
    }
    // Members of an archive named on the command line sit at the root.
    return WalkArchive(a.get(), path, is_root ? "" : StripArchiveExtension(rel), 1);
  }
  if (kind == ContentKind::kOther) {
    Problem(path, "not a DICOM file (no DICM preamble, no data set header)");
    return absl::OkStatus();
  }
  std::string bytes = sink_->TakeBuffer();
  absl::Status read = ReadWholeFile(path, &bytes);
  if (!read.ok()) {
    Problem(path, std::string(read.message()));
    return absl::OkStatus();
  }
  if (is_root) {
    // A DICOMDIR named on the command line is a source of files.
    DcmFileFormat ff;
    DcmInputBufferStream in;
    in.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
    in.setEos();
    ff.transferInit();
    OFCondition cond = ff.getMetaInfo()->read(in, EXS_Unknown, EGL_noChange,
                                               DCM_MaxReadLength);
    ff.transferEnd();
    OFString media_class;
    if (cond.good() &&
        ff.getMetaInfo()->findAndGetOFString(DCM_MediaStorageSOPClassUID,
                                             media_class).good() &&
        media_class == kMediaStorageDirectoryStorage) {
      return WalkDicomDir(path, std::move(bytes));
    }
  }
  return sink_->OnFile({path, rel, std::move(bytes)});
}

absl::Status Walker::Dispatch(std::string origin, std::string rel,
                              std::string bytes, int depth) {
  ContentKind kind = Sniff(Head(bytes));
  if (IsDicom(kind)) return sink_->OnFile({origin, rel, std::move(bytes)});
  if (kind == ContentKind::kArchive) {
    if (depth >= options_.max_archive_depth) {
      Problem(origin, absl::StrCat("archive nested deeper than ",
                                   options_.max_archive_depth));
      return absl::OkStatus();
    }
    ArchivePtr a(archive_read_new());
    archive_read_support_filter_all(a.get());
    archive_read_support_format_all(a.get());
    if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK) {
      Problem(origin, absl::StrCat("unreadable archive: ",
                                   archive_error_string(a.get())));
      return absl::OkStatus();
    }
    return WalkArchive(a.get(), origin, StripArchiveExtension(rel), depth + 1);
  }
  Problem(origin, "not a DICOM file (no DICM preamble, no data set header)");
  return absl::OkStatus();
}

absl::Status Walker::WalkArchive(archive* a, const std::string& origin,
                                 const std::string& rel, int depth) {
  archive_entry* entry = nullptr;
  size_t members = 0;
  while (true) {
    int rc = archive_read_next_header(a, &entry);
    if (rc == ARCHIVE_EOF) return absl::OkStatus();
    if (rc == ARCHIVE_FATAL || rc == ARCHIVE_RETRY) {
      Problem(origin, absl::StrCat("archive unreadable after ", members,
                                   " members: ", archive_error_string(a)));
      return absl::OkStatus();
    }
    if (archive_entry_filetype(entry) != AE_IFREG) continue;
    ++members;
    const char* raw_name = archive_entry_pathname(entry);
    std::string name = CleanMemberPath(raw_name ? raw_name : "");
    std::string member_origin = absl::StrCat(origin, "!", name);
    if (archive_entry_size_is_set(entry) &&
        static_cast<size_t>(archive_entry_size(entry)) > options_.max_file_bytes) {
      Problem(member_origin, "member over the size limit");
      continue;
    }
    std::string bytes = sink_->TakeBuffer();
    bytes.clear();
    std::string error;
    char block[1 << 16];
    while (true) {
      la_ssize_t n = archive_read_data(a, block, sizeof(block));
      if (n == 0) break;
      if (n < 0) {
        error = archive_error_string(a) ? archive_error_string(a) : "read error";
        break;
      }
      bytes.append(block, static_cast<size_t>(n));
    }
    if (!error.empty()) {
      Problem(member_origin, absl::StrCat("unreadable archive member: ", error));
      continue;
    }
    RETURN_IF_ERROR(Dispatch(member_origin, JoinRel(rel, name), std::move(bytes),
                             depth));
  }
}

// Finds `name` in `dir`, exactly or ignoring case (media written on
// ISO 9660 carry upper-case names; copies are often lower-case).
std::string FindCaseInsensitive(const std::string& dir, const std::string& name) {
  std::string exact = absl::StrCat(dir, "/", name);
  struct stat st;
  if (stat(exact.c_str(), &st) == 0) return exact;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return exact;
  std::string found = exact;
  while (dirent* e = readdir(d)) {
    if (absl::EqualsIgnoreCase(e->d_name, name)) {
      found = absl::StrCat(dir, "/", e->d_name);
      break;
    }
  }
  closedir(d);
  return found;
}

absl::Status Walker::WalkDicomDir(const std::string& path, std::string bytes) {
  DcmFileFormat ff;
  DcmInputBufferStream in;
  in.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  in.setEos();
  ff.transferInit();
  OFCondition cond = ff.read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
  ff.transferEnd();
  if (cond.bad()) {
    Problem(path, absl::StrCat("unreadable DICOMDIR: ", cond.text()));
    return absl::OkStatus();
  }
  std::string root = path.substr(0, path.find_last_of('/') == std::string::npos
                                        ? 0 : path.find_last_of('/'));
  if (root.empty()) root = path[0] == '/' ? "/" : ".";
  DcmSequenceOfItems* records = nullptr;
  if (ff.getDataset()->findAndGetSequence(DCM_DirectoryRecordSequence, records).bad()) {
    Problem(path, "DICOMDIR without a Directory Record Sequence");
    return absl::OkStatus();
  }
  for (unsigned long i = 0; i < records->card(); ++i) {
    OFString file_id;
    if (records->getItem(i)->findAndGetOFStringArray(DCM_ReferencedFileID, file_id).bad()) {
      continue;  // PATIENT/STUDY/SERIES records reference no file
    }
    std::vector<std::string> parts = absl::StrSplit(file_id.c_str(), '\\', absl::SkipEmpty());
    std::string file = root;
    for (std::string& part : parts) {
      part = std::string(absl::StripAsciiWhitespace(part));
      file = FindCaseInsensitive(file, part);
    }
    std::string rel = CleanMemberPath(absl::StrJoin(parts, "/"));
    std::string content = sink_->TakeBuffer();
    absl::Status read = ReadWholeFile(file, &content);
    if (!read.ok()) {
      Problem(file, absl::StrCat("referenced by DICOMDIR: ", read.message()));
      continue;
    }
    RETURN_IF_ERROR(Dispatch(file, rel, std::move(content), 0));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WalkSource(const std::string& path, SourceSink* sink,
                        const WalkOptions& options) {
  Walker walker(sink, options);
  std::string rel;
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
    rel = path.substr(path.find_last_of('/') + 1);  // npos + 1 == 0
  }
  return walker.WalkPath(path, rel, /*is_root=*/true);
}

}  // namespace medfs::ingest
