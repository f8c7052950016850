#include "common/status.h"

#include "gtest/gtest.h"

namespace medfs {
namespace {

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int half, Half(x));
  ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

absl::Status CheckEven(int x) {
  RETURN_IF_ERROR(Half(x).status());
  return absl::OkStatus();
}

TEST(StatusMacrosTest, PropagateErrorsAndValues) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckEven(2).ok());
  EXPECT_EQ(CheckEven(3).code(), absl::StatusCode::kInvalidArgument);
}

TEST(StatusToErrnoTest, MapsPosixCases) {
  struct Case {
    absl::Status status;
    int expected;
  };
  const Case cases[] = {
      {absl::OkStatus(), 0},
      {absl::NotFoundError("lookup a"), ENOENT},
      {absl::AlreadyExistsError("mkdir a"), EEXIST},
      {absl::FailedPreconditionError("rmdir a: directory not empty"), ENOTEMPTY},
      {absl::FailedPreconditionError("lookup a/b: not a directory"), ENOTDIR},
      {absl::FailedPreconditionError("unlink a: is a directory"), EISDIR},
      {absl::InvalidArgumentError("create x: name too long"), ENAMETOOLONG},
      {absl::PermissionDeniedError("open a"), EACCES},
      {absl::ResourceExhaustedError("write chunk 7: no space"), ENOSPC},
      {absl::UnavailableError("read chunk 7: timeout"), EIO},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(StatusToErrno(c.status), c.expected) << c.status;
  }
}

TEST(ErrnoToStatusTest, NamesWhatFailed) {
  absl::Status status = ErrnoToStatus(ENOSPC, "write /data/chunk.7");
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(status.message().find("write /data/chunk.7"), std::string::npos);
}

TEST(AnnotateTest, PrefixesContext) {
  absl::Status status = Annotate(absl::NotFoundError("no such chunk"), "read chunk 9");
  EXPECT_EQ(status.message(), "read chunk 9: no such chunk");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "x").ok());
}

}  // namespace
}  // namespace medfs
