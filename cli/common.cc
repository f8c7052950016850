#include <cinttypes>
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/cli.h"
#include "common/status.h"

namespace medfs::cli {

// The path rides in a payload-free prefix: "<path>\x1f<message>".
constexpr char kPathSeparator = '\x1f';

absl::Status PathError(const std::string& path, const absl::Status& cause) {
  if (cause.ok()) return cause;
  return absl::Status(cause.code(),
                      absl::StrCat(path, std::string(1, kPathSeparator),
                                   cause.message()));
}

namespace {

std::string Reason(const absl::Status& status, absl::string_view message) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return "not found";
    case absl::StatusCode::kAlreadyExists:
      return "already exists";
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return absl::StrCat("server unreachable: ", message);
    case absl::StatusCode::kResourceExhausted:
      return absl::StrCat("no space left: ", message);
    case absl::StatusCode::kDataLoss:
      return absl::StrCat("checksum mismatch on all replicas: ", message);
    default:
      return std::string(message);
  }
}

}  // namespace

std::string DescribeError(const absl::Status& status) {
  absl::string_view message = status.message();
  std::string path;
  const size_t separator = message.find(kPathSeparator);
  if (separator != absl::string_view::npos) {
    path = std::string(message.substr(0, separator));
    message = message.substr(separator + 1);
  }
  std::string reason = Reason(status, message);
  return path.empty() ? reason : absl::StrCat(path, ": ", reason);
}

absl::StatusOr<std::string> NormalizeRemote(const std::string& path) {
  if (!absl::StartsWith(path, "/")) {
    return PathError(path, absl::InvalidArgumentError(
                               "remote paths are absolute (start with /)"));
  }
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.emplace_back(part);
  }
  return absl::StrCat("/", absl::StrJoin(parts, "/"));
}

std::string RemoteDirname(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string RemoteBasename(const std::string& path) {
  return path.substr(path.rfind('/') + 1);
}

std::string JoinRemote(const std::string& dir, const std::string& name) {
  return dir == "/" ? absl::StrCat("/", name) : absl::StrCat(dir, "/", name);
}

absl::StatusOr<v1::Inode> Resolve(client::Client* client,
                                  const std::string& path, bool follow_last) {
  absl::StatusOr<v1::Inode> inode = client->ResolvePath(path, follow_last);
  if (!inode.ok()) return PathError(path, inode.status());
  return inode;
}

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 5) {
    value /= 1024;
    ++unit;
  }
  if (unit == 0) return absl::StrCat(bytes, " B");
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f %s", value, kUnits[unit]);
  return text;
}

std::string ModeString(const v1::Inode& inode) {
  std::string s = "-rwxrwxrwx";
  if (inode.type() == v1::FILE_TYPE_DIRECTORY) s[0] = 'd';
  if (inode.type() == v1::FILE_TYPE_SYMLINK) s[0] = 'l';
  for (int i = 0; i < 9; ++i) {
    if ((inode.mode() & (1u << (8 - i))) == 0) s[i + 1] = '-';
  }
  return s;
}

}  // namespace medfs::cli
