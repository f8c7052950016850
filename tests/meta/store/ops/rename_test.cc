// Rename: every outcome and error, and the counters of both parents.
#include "absl/strings/match.h"
#include "common/status.h"
#include "gtest/gtest.h"
#include "tests/meta/store/test_util.h"

namespace medfs::meta {
namespace {

using testing::StoreTest;

class RenameTest : public StoreTest {
 protected:
  // /a/{f, g, d/{inner/}, e/}, /b/{h, full/{x}}
  void SetUp() override {
    StoreTest::SetUp();
    a_ = MkDir(kRootInode, "a").id();
    b_ = MkDir(kRootInode, "b").id();
    f_ = CreateFile(a_, "f").id();
    g_ = CreateFile(a_, "g").id();
    d_ = MkDir(a_, "d").id();
    inner_ = MkDir(d_, "inner").id();
    e_ = MkDir(a_, "e").id();
    h_ = CreateFile(b_, "h").id();
    full_ = MkDir(b_, "full").id();
    CreateFile(full_, "x");
  }

  absl::Status Rename(uint64_t sp, std::string sn, uint64_t dp, std::string dn,
                      bool no_replace = false) {
    v1::RenameRequest r;
    r.set_src_parent(sp);
    r.set_src_name(std::move(sn));
    r.set_dst_parent(dp);
    r.set_dst_name(std::move(dn));
    r.set_no_replace(no_replace);
    return store_->Rename(r);
  }

  uint64_t a_, b_, f_, g_, d_, inner_, e_, h_, full_;
};

TEST_F(RenameTest, ErrorsTable) {
  struct Case {
    std::string name;
    uint64_t sp; std::string sn; uint64_t dp; std::string dn; bool no_replace;
    absl::StatusCode code; std::string message; int errno_value;
  };
  std::vector<Case> cases = {
      {"missing source", a_, "nope", b_, "x", false,
       absl::StatusCode::kNotFound, "no such source", ENOENT},
      {"missing dst parent", a_, "f", 99999, "x", false,
       absl::StatusCode::kNotFound, "99999", ENOENT},
      {"dst parent is a file", a_, "f", h_, "x", false,
       absl::StatusCode::kFailedPrecondition, "not a directory", ENOTDIR},
      {"no_replace", a_, "f", a_, "g", true,
       absl::StatusCode::kAlreadyExists, "exists", EEXIST},
      {"file over dir", a_, "f", a_, "e", false,
       absl::StatusCode::kFailedPrecondition, "is a directory", EISDIR},
      {"dir over file", a_, "d", a_, "g", false,
       absl::StatusCode::kFailedPrecondition, "not a directory", ENOTDIR},
      {"dir over non-empty dir", a_, "e", b_, "full", false,
       absl::StatusCode::kFailedPrecondition, "not empty", ENOTEMPTY},
      {"dir into itself", a_, "d", d_, "x", false,
       absl::StatusCode::kInvalidArgument, "own subtree", EINVAL},
      {"dir into its subtree", kRootInode, "a", inner_, "x", false,
       absl::StatusCode::kInvalidArgument, "own subtree", EINVAL},
      {"bad dst name", a_, "f", a_, "..", false,
       absl::StatusCode::kInvalidArgument, "reserved", EINVAL},
      {"dst name too long", a_, "f", a_, std::string(256, 'n'), false,
       absl::StatusCode::kInvalidArgument, "name too long", ENAMETOOLONG},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::Status status = Rename(c.sp, c.sn, c.dp, c.dn, c.no_replace);
    EXPECT_EQ(status.code(), c.code) << status;
    EXPECT_TRUE(absl::StrContains(status.message(), c.message)) << status;
    EXPECT_EQ(StatusToErrno(status), c.errno_value);
  }
  // Nothing moved.
  EXPECT_EQ(store_->Lookup(a_, "f")->id(), f_);
  EXPECT_EQ(store_->Lookup(a_, "d")->id(), d_);
  EXPECT_EQ(Get(a_).entry_count(), 4u);
}

TEST_F(RenameTest, OntoItselfIsANoOp) {
  v1::Inode before = Get(a_);
  ASSERT_TRUE(Rename(a_, "f", a_, "f").ok());
  ASSERT_TRUE(Rename(a_, "f", a_, "f", /*no_replace=*/true).ok());
  EXPECT_EQ(Get(a_).SerializeAsString(), before.SerializeAsString());
}

TEST_F(RenameTest, FileWithinDirectory) {
  ASSERT_TRUE(Rename(a_, "f", a_, "f2").ok());
  EXPECT_EQ(store_->Lookup(a_, "f2")->id(), f_);
  EXPECT_EQ(store_->Lookup(a_, "f").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Get(a_).entry_count(), 4u);
  EXPECT_EQ(Get(a_).nlink(), 4u);  // 2 + d + e
}

TEST_F(RenameTest, FileReplacesFileAcrossDirectories) {
  uint64_t inodes = store_->stats().inode_count;
  ASSERT_TRUE(Rename(a_, "f", b_, "h").ok());
  EXPECT_EQ(store_->Lookup(b_, "h")->id(), f_);
  EXPECT_EQ(store_->GetAttr(h_, false).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Get(a_).entry_count(), 3u);
  EXPECT_EQ(Get(b_).entry_count(), 2u);
  EXPECT_EQ(store_->stats().inode_count, inodes - 1);
}

TEST_F(RenameTest, DirectoryAcrossDirectories) {
  ASSERT_TRUE(Rename(a_, "d", b_, "d").ok());
  v1::Inode d = Get(d_);
  EXPECT_EQ(d.parent(), b_);
  EXPECT_EQ(Get(a_).nlink(), 3u);  // 2 + e
  EXPECT_EQ(Get(b_).nlink(), 4u);  // 2 + full + d
  EXPECT_EQ(Get(a_).entry_count(), 3u);
  EXPECT_EQ(Get(b_).entry_count(), 3u);
  EXPECT_EQ(store_->ResolvePath("/b/d/inner", false)->id(), inner_);
  EXPECT_EQ(store_->Lookup(d_, "..")->id(), b_);
}

TEST_F(RenameTest, DirectoryReplacesEmptyDirectory) {
  uint64_t inodes = store_->stats().inode_count;
  ASSERT_TRUE(Rename(a_, "d", a_, "e").ok());
  EXPECT_EQ(store_->Lookup(a_, "e")->id(), d_);
  EXPECT_EQ(store_->GetAttr(e_, false).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Get(a_).nlink(), 3u);  // 2 + the moved d
  EXPECT_EQ(Get(a_).entry_count(), 3u);
  EXPECT_EQ(store_->stats().inode_count, inodes - 1);
}

TEST_F(RenameTest, DirectoryReplacesEmptyDirectoryAcrossParents) {
  ASSERT_TRUE(Rename(a_, "e", b_, "new").ok());
  uint64_t empty = MkDir(a_, "empty").id();
  ASSERT_TRUE(Rename(b_, "new", a_, "empty").ok());
  EXPECT_EQ(store_->Lookup(a_, "empty")->id(), e_);
  EXPECT_EQ(store_->GetAttr(empty, false).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Get(a_).nlink(), 4u);  // 2 + d + e
  EXPECT_EQ(Get(b_).nlink(), 3u);  // 2 + full
  EXPECT_EQ(Get(e_).parent(), a_);
}

TEST_F(RenameTest, DirectoryUpwardsIsAllowed) {
  ASSERT_TRUE(Rename(d_, "inner", kRootInode, "top").ok());
  EXPECT_EQ(Get(inner_).parent(), kRootInode);
  EXPECT_EQ(Get(d_).nlink(), 2u);
  EXPECT_EQ(Get(kRootInode).nlink(), 5u);  // 2 + a + b + top
}

}  // namespace
}  // namespace medfs::meta
