// Namespace operations of MetaStore: outcomes and error codes, table-driven,
// and the counters they maintain (entry_count, nlink, inode count).
#include <functional>

#include "absl/strings/match.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "common/status.h"
#include "gtest/gtest.h"
#include "tests/meta/store/test_util.h"

namespace medfs::meta {
namespace {

using testing::StoreTest;

class NamespaceTest : public StoreTest {
 protected:
  // /dir/{file, sub/}, /full/x, /link -> /dir, /file2
  void SetUp() override {
    StoreTest::SetUp();
    dir_id_ = MkDir(kRootInode, "dir").id();
    file_id_ = CreateFile(dir_id_, "file").id();
    sub_id_ = MkDir(dir_id_, "sub").id();
    full_id_ = MkDir(kRootInode, "full").id();
    CreateFile(full_id_, "x");
    v1::SymlinkRequest link;
    link.set_parent(kRootInode);
    link.set_name("link");
    link.set_target("/dir");
    ASSERT_TRUE(store_->Symlink(link).ok());
    CreateFile(kRootInode, "file2");
  }


 public:  // the error table's lambdas read them
  uint64_t dir_id_ = 0, file_id_ = 0, sub_id_ = 0, full_id_ = 0;
};

struct ErrorCase {
  std::string name;
  std::function<absl::Status(NamespaceTest*, MetaStore*)> op;
  absl::StatusCode code;
  std::string message;  // substring the message must contain
  int errno_value;      // StatusToErrno of the result
};

v1::MkDirRequest MkDirReq(uint64_t parent, std::string name) {
  v1::MkDirRequest r;
  r.set_parent(parent);
  r.set_name(std::move(name));
  return r;
}

v1::CreateFileRequest CreateReq(uint64_t parent, std::string name,
                                bool exclusive = false) {
  v1::CreateFileRequest r;
  r.set_parent(parent);
  r.set_name(std::move(name));
  r.set_exclusive(exclusive);
  return r;
}

TEST_F(NamespaceTest, ErrorsTable) {
  const uint64_t kMissing = 999999;
  std::vector<ErrorCase> cases = {
      {"mkdir exists", [](auto* t, auto* s) { return s->MkDir(MkDirReq(kRootInode, "dir")).status(); },
       absl::StatusCode::kAlreadyExists, "exists", EEXIST},
      {"mkdir missing parent", [&](auto* t, auto* s) { return s->MkDir(MkDirReq(kMissing, "a")).status(); },
       absl::StatusCode::kNotFound, "999999", ENOENT},
      {"mkdir parent is file", [](auto* t, auto* s) { return s->MkDir(MkDirReq(t->file_id_, "a")).status(); },
       absl::StatusCode::kFailedPrecondition, "not a directory", ENOTDIR},
      {"mkdir name too long", [](auto* t, auto* s) { return s->MkDir(MkDirReq(kRootInode, std::string(256, 'a'))).status(); },
       absl::StatusCode::kInvalidArgument, "name too long", ENAMETOOLONG},
      {"mkdir empty name", [](auto* t, auto* s) { return s->MkDir(MkDirReq(kRootInode, "")).status(); },
       absl::StatusCode::kInvalidArgument, "empty name", EINVAL},
      {"mkdir slash", [](auto* t, auto* s) { return s->MkDir(MkDirReq(kRootInode, "a/b")).status(); },
       absl::StatusCode::kInvalidArgument, "'/'", EINVAL},
      {"mkdir nul", [](auto* t, auto* s) { return s->MkDir(MkDirReq(kRootInode, std::string("a\0b", 3))).status(); },
       absl::StatusCode::kInvalidArgument, "NUL", EINVAL},
      {"mkdir dot", [](auto* t, auto* s) { return s->MkDir(MkDirReq(kRootInode, ".")).status(); },
       absl::StatusCode::kInvalidArgument, "reserved", EINVAL},
      {"mkdir dotdot", [](auto* t, auto* s) { return s->MkDir(MkDirReq(kRootInode, "..")).status(); },
       absl::StatusCode::kInvalidArgument, "reserved", EINVAL},
      {"create exclusive exists", [](auto* t, auto* s) { return s->CreateFile(CreateReq(t->dir_id_, "file", true)).status(); },
       absl::StatusCode::kAlreadyExists, "exists", EEXIST},
      {"create over directory", [](auto* t, auto* s) { return s->CreateFile(CreateReq(t->dir_id_, "sub")).status(); },
       absl::StatusCode::kFailedPrecondition, "is a directory", EISDIR},
      {"create in file", [](auto* t, auto* s) { return s->CreateFile(CreateReq(t->file_id_, "a")).status(); },
       absl::StatusCode::kFailedPrecondition, "not a directory", ENOTDIR},
      {"unlink missing", [](auto* t, auto* s) { return s->Unlink(t->dir_id_, "nope"); },
       absl::StatusCode::kNotFound, "no such entry", ENOENT},
      {"unlink directory", [](auto* t, auto* s) { return s->Unlink(t->dir_id_, "sub"); },
       absl::StatusCode::kFailedPrecondition, "is a directory", EISDIR},
      {"rmdir file", [](auto* t, auto* s) { return s->RmDir(t->dir_id_, "file"); },
       absl::StatusCode::kFailedPrecondition, "not a directory", ENOTDIR},
      {"rmdir not empty", [](auto* t, auto* s) { return s->RmDir(kRootInode, "full"); },
       absl::StatusCode::kFailedPrecondition, "not empty", ENOTEMPTY},
      {"rmdir missing", [](auto* t, auto* s) { return s->RmDir(kRootInode, "nope"); },
       absl::StatusCode::kNotFound, "no such entry", ENOENT},
      {"rmdir dot", [](auto* t, auto* s) { return s->RmDir(kRootInode, "."); },
       absl::StatusCode::kInvalidArgument, "reserved", EINVAL},
      {"lookup missing", [](auto* t, auto* s) { return s->Lookup(kRootInode, "nope").status(); },
       absl::StatusCode::kNotFound, "nope", ENOENT},
      {"lookup in file", [](auto* t, auto* s) { return s->Lookup(t->file_id_, "a").status(); },
       absl::StatusCode::kFailedPrecondition, "not a directory", ENOTDIR},
      {"lookup too long", [](auto* t, auto* s) { return s->Lookup(kRootInode, std::string(300, 'x')).status(); },
       absl::StatusCode::kInvalidArgument, "name too long", ENAMETOOLONG},
      {"getattr missing", [&](auto* t, auto* s) { return s->GetAttr(kMissing, false).status(); },
       absl::StatusCode::kNotFound, "999999", ENOENT},
      {"readdir of file", [](auto* t, auto* s) {
         v1::ReadDirRequest r; r.set_dir(t->file_id_); return s->ReadDir(r).status(); },
       absl::StatusCode::kFailedPrecondition, "not a directory", ENOTDIR},
      {"readlink of file", [](auto* t, auto* s) { return s->ReadLink(t->file_id_).status(); },
       absl::StatusCode::kInvalidArgument, "not a symlink", EINVAL},
      {"resolve relative", [](auto* t, auto* s) { return s->ResolvePath("dir/file", false).status(); },
       absl::StatusCode::kInvalidArgument, "not absolute", EINVAL},
      {"resolve missing", [](auto* t, auto* s) { return s->ResolvePath("/dir/nope", false).status(); },
       absl::StatusCode::kNotFound, "nope", ENOENT},
      {"resolve through file", [](auto* t, auto* s) { return s->ResolvePath("/dir/file/x", false).status(); },
       absl::StatusCode::kFailedPrecondition, "not a directory", ENOTDIR},
      {"symlink exists", [](auto* t, auto* s) {
         v1::SymlinkRequest r; r.set_parent(kRootInode); r.set_name("dir"); r.set_target("x");
         return s->Symlink(r).status(); },
       absl::StatusCode::kAlreadyExists, "exists", EEXIST},
      {"symlink empty target", [](auto* t, auto* s) {
         v1::SymlinkRequest r; r.set_parent(kRootInode); r.set_name("l2");
         return s->Symlink(r).status(); },
       absl::StatusCode::kInvalidArgument, "target", EINVAL},
      {"commit directory", [](auto* t, auto* s) {
         v1::CommitFileRequest r; r.set_inode(t->dir_id_); return s->CommitFile(r).status(); },
       absl::StatusCode::kFailedPrecondition, "is a directory", EISDIR},
      {"commit missing", [&](auto* t, auto* s) {
         v1::CommitFileRequest r; r.set_inode(kMissing); return s->CommitFile(r).status(); },
       absl::StatusCode::kNotFound, "999999", ENOENT},
      {"commit stale version", [](auto* t, auto* s) {
         v1::CommitFileRequest r; r.set_inode(t->file_id_); r.set_expected_content_version(7);
         return s->CommitFile(r).status(); },
       absl::StatusCode::kAborted, "expected 7", EIO},
      {"setattr size of directory", [](auto* t, auto* s) {
         v1::SetAttrRequest r; r.set_inode(t->dir_id_); r.set_set_size(true);
         return s->SetAttr(r).status(); },
       absl::StatusCode::kFailedPrecondition, "is a directory", EISDIR},
      {"setattr missing", [&](auto* t, auto* s) {
         v1::SetAttrRequest r; r.set_inode(kMissing); return s->SetAttr(r).status(); },
       absl::StatusCode::kNotFound, "999999", ENOENT},
  };
  uint64_t inodes_before = store_->stats().inode_count;
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::Status status = c.op(this, store_.get());
    EXPECT_EQ(status.code(), c.code) << status;
    EXPECT_TRUE(absl::StrContains(status.message(), c.message)) << status;
    EXPECT_EQ(StatusToErrno(status), c.errno_value) << status;
  }
  EXPECT_EQ(store_->stats().inode_count, inodes_before) << "a failed op wrote";
}

TEST_F(NamespaceTest, RootIsCreatedOnFirstStart) {
  v1::Inode root = Get(kRootInode);
  EXPECT_EQ(root.type(), v1::FILE_TYPE_DIRECTORY);
  EXPECT_EQ(root.mode(), 0755u);
  EXPECT_EQ(root.uid(), 0u);
  EXPECT_EQ(root.gid(), 0u);
  EXPECT_EQ(root.parent(), kRootInode);
  // dir, full, link, file2; two subdirectories.
  EXPECT_EQ(root.entry_count(), 4u);
  EXPECT_EQ(root.nlink(), 4u);
}

TEST_F(NamespaceTest, MkDirAndRmDirMaintainCounts) {
  v1::Inode before = Get(dir_id_);
  clock_.Advance(1000);
  v1::Inode made = MkDir(dir_id_, "new");
  EXPECT_EQ(made.nlink(), 2u);
  EXPECT_EQ(made.parent(), dir_id_);
  v1::Inode after = Get(dir_id_);
  EXPECT_EQ(after.entry_count(), before.entry_count() + 1);
  EXPECT_EQ(after.nlink(), before.nlink() + 1);
  EXPECT_GT(after.mtime_ns(), before.mtime_ns());
  ASSERT_TRUE(store_->RmDir(dir_id_, "new").ok());
  v1::Inode removed = Get(dir_id_);
  EXPECT_EQ(removed.entry_count(), before.entry_count());
  EXPECT_EQ(removed.nlink(), before.nlink());
  EXPECT_EQ(store_->GetAttr(made.id(), false).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(NamespaceTest, CreateFileModes) {
  uint64_t inodes = store_->stats().inode_count;
  // Plain create of an existing name returns the existing inode.
  auto again = store_->CreateFile(CreateReq(dir_id_, "file"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->id(), file_id_);
  // replace_existing puts a new inode in place.
  v1::CreateFileRequest replace = CreateReq(dir_id_, "file");
  replace.set_replace_existing(true);
  replace.set_size(10);
  auto replaced = store_->CreateFile(replace);
  ASSERT_TRUE(replaced.ok()) << replaced.status();
  EXPECT_NE(replaced->id(), file_id_);
  EXPECT_EQ(replaced->size(), 10u);
  EXPECT_EQ(store_->GetAttr(file_id_, false).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Lookup(dir_id_, "file")->id(), replaced->id());
  EXPECT_EQ(Get(dir_id_).entry_count(), 2u);
  EXPECT_EQ(store_->stats().inode_count, inodes);
}

TEST_F(NamespaceTest, UnlinkRemovesFilesAndSymlinks) {
  uint64_t inodes = store_->stats().inode_count;
  ASSERT_TRUE(store_->Unlink(kRootInode, "link").ok());
  ASSERT_TRUE(store_->Unlink(dir_id_, "file").ok());
  EXPECT_EQ(store_->stats().inode_count, inodes - 2);
  EXPECT_EQ(Get(kRootInode).entry_count(), 3u);
  EXPECT_EQ(Get(dir_id_).entry_count(), 1u);
  EXPECT_EQ(store_->GetAttr(file_id_, false).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(NamespaceTest, LookupAndResolvePath) {
  EXPECT_EQ(store_->Lookup(kRootInode, "dir")->id(), dir_id_);
  EXPECT_EQ(store_->Lookup(dir_id_, ".")->id(), dir_id_);
  EXPECT_EQ(store_->Lookup(dir_id_, "..")->id(), kRootInode);
  struct Case { std::string path; bool follow; uint64_t want; };
  std::vector<Case> cases = {
      {"/", false, kRootInode},
      {"/dir/file", false, file_id_},
      {"//dir//./sub/..", false, dir_id_},
      {"/link/file", false, file_id_},   // intermediate symlink followed
      {"/link", true, dir_id_},
  };
  for (const Case& c : cases) {
    auto inode = store_->ResolvePath(c.path, c.follow);
    ASSERT_TRUE(inode.ok()) << c.path << ": " << inode.status();
    EXPECT_EQ(inode->id(), c.want) << c.path;
  }
  auto link = store_->ResolvePath("/link", false);
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->type(), v1::FILE_TYPE_SYMLINK);
  EXPECT_EQ(*store_->ReadLink(link->id()), "/dir");
}

TEST_F(NamespaceTest, SymlinkLoopIsBounded) {
  v1::SymlinkRequest r;
  r.set_parent(kRootInode);
  r.set_name("loop");
  r.set_target("/loop");
  ASSERT_TRUE(store_->Symlink(r).ok());
  auto result = store_->ResolvePath("/loop/x", false);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(result.status().message(), "symbolic links"));
}

TEST_F(NamespaceTest, ReadDirPagesInNameOrder) {
  uint64_t big = MkDir(kRootInode, "big").id();
  for (int i = 0; i < 2500; ++i) {
    CreateFile(big, absl::StrCat("f", 10000 + i), {}, i);
  }
  v1::ReadDirRequest request;
  request.set_dir(big);
  request.set_with_attributes(true);
  std::vector<std::string> names;
  int calls = 0;
  for (;;) {
    auto page = store_->ReadDir(request);
    ASSERT_TRUE(page.ok()) << page.status();
    ++calls;
    for (const auto& entry : page->entries()) {
      names.push_back(entry.name());
      EXPECT_EQ(entry.attributes().id(), entry.inode());
      EXPECT_EQ(entry.attributes().size(),
                static_cast<uint64_t>(std::stoi(entry.name().substr(1)) - 10000));
    }
    if (page->end_of_directory()) break;
    request.set_start_after(names.back());
  }
  EXPECT_EQ(calls, 3);  // 1000 + 1000 + 500 by default
  ASSERT_EQ(names.size(), 2500u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  request.set_start_after("");
  request.set_limit(2500);
  auto all = store_->ReadDir(request);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->entries_size(), 2500);
  EXPECT_TRUE(all->end_of_directory());
}

TEST_F(NamespaceTest, SetAttrChangesFields) {
  v1::SetAttrRequest r;
  r.set_inode(file_id_);
  r.set_set_mode(true);
  r.set_mode(0100600);  // only permission bits are kept
  r.set_set_uid(true);
  r.set_uid(7);
  r.set_set_gid(true);
  r.set_gid(8);
  r.set_set_mtime(true);
  r.set_mtime_ns(123);
  auto inode = store_->SetAttr(r);
  ASSERT_TRUE(inode.ok()) << inode.status();
  EXPECT_EQ(inode->mode(), 0600u);
  EXPECT_EQ(inode->uid(), 7u);
  EXPECT_EQ(inode->gid(), 8u);
  EXPECT_EQ(Get(file_id_).mtime_ns(), 123);
}

TEST_F(NamespaceTest, CommitFileBumpsVersion) {
  v1::CommitFileRequest r;
  r.set_inode(file_id_);
  r.set_size(4096);
  r.set_expected_content_version(1);
  auto first = store_->CommitFile(r);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->content_version(), 2u);
  EXPECT_EQ(first->size(), 4096u);
  EXPECT_EQ(store_->CommitFile(r).status().code(), absl::StatusCode::kAborted);
  r.set_expected_content_version(0);  // unconditional
  EXPECT_EQ(store_->CommitFile(r)->content_version(), 3u);
}

TEST_F(NamespaceTest, BadExtentsAreRejected) {
  struct Case { std::string name; std::vector<v1::Extent> extents; uint64_t size; };
  std::vector<Case> cases = {
      {"empty extent", {MakeExtent(0, 5, 0, 0)}, 10},
      {"no chunk", {MakeExtent(0, 0, 0, 10)}, 10},
      {"past size", {MakeExtent(0, 5, 0, 11)}, 10},
      {"overlap", {MakeExtent(0, 5, 0, 6), MakeExtent(5, 6, 0, 5)}, 10},
      {"out of order", {MakeExtent(5, 5, 0, 5), MakeExtent(0, 6, 0, 5)}, 10},
      {"past chunk", {MakeExtent(0, 5, (1 << 20) - 4, 8)}, 10},
  };
  for (const Case& c : cases) {
    v1::CommitFileRequest r;
    r.set_inode(file_id_);
    for (const auto& e : c.extents) *r.add_extents() = e;
    r.set_size(c.size);
    EXPECT_EQ(store_->CommitFile(r).status().code(),
              absl::StatusCode::kInvalidArgument) << c.name;
  }
}

// The batch form answers each create with the file and, when asked, its
// parent as that item left it (items run in order: the entry count climbs
// by one each).
TEST_F(NamespaceTest, CreatesAnswerTheParentAsTheyLeftIt) {
  auto parent = store_->GetAttr(dir_id_, false);
  ASSERT_TRUE(parent.ok()) << parent.status();
  MetaStore::Requests<v1::CreateFileRequest> requests;
  for (const char* name : {"c1", "c2", "c3"}) {
    *requests.Add() = CreateReq(dir_id_, name);
    requests.rbegin()->set_want_parent(true);
  }
  *requests.Add() = CreateReq(dir_id_, "c1", /*exclusive=*/true);  // exists now
  std::vector<absl::StatusOr<v1::InodeReply>> replies(requests.size());
  absl::BlockingCounter answered(requests.size());
  store_->CreateFilesAsync(requests, [&](int i) -> MetaStore::Callback<v1::InodeReply> {
    return [&, i](absl::StatusOr<v1::InodeReply> reply) {
      replies[i] = std::move(reply);
      answered.DecrementCount();
    };
  });
  answered.Wait();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(replies[i].ok()) << replies[i].status();
    EXPECT_EQ(replies[i]->inode().type(), v1::FILE_TYPE_REGULAR);
    EXPECT_EQ(replies[i]->parent().id(), dir_id_);
    EXPECT_EQ(replies[i]->parent().entry_count(), parent->entry_count() + i + 1) << i;
    EXPECT_GE(replies[i]->parent().mtime_ns(), parent->mtime_ns());
  }
  EXPECT_EQ(replies[3].status().code(), absl::StatusCode::kAlreadyExists);
  auto now = store_->GetAttr(dir_id_, false);
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_EQ(now->SerializeAsString(), replies[2]->parent().SerializeAsString());
  // Without want_parent, no parent.
  absl::Notification done;
  absl::StatusOr<v1::InodeReply> plain;
  store_->CreateFileAsync(CreateReq(dir_id_, "c4"), [&](absl::StatusOr<v1::InodeReply> reply) {
    plain = std::move(reply);
    done.Notify();
  });
  done.WaitForNotification();
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE(plain->has_parent());
}

}  // namespace
}  // namespace medfs::meta
