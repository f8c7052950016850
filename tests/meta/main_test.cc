// The real medfs-meta binary: mutations stream from gRPC clients, the
// server is killed with SIGKILL mid-stream, restarted on the same database,
// and every acknowledged mutation must be there, none half-applied, and the
// namespace consistent (entry counts, link counts, parent pointers, inode
// count). Then a clean SIGTERM shutdown.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "client/meta_client.h"
#include "common/proto/medfs.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "meta/store/keys.h"
#include "tests/meta/store/test_util.h"

namespace medfs::meta {
namespace {

namespace v1 = ::medfs::v1;

// A child process killed (SIGKILL) on destruction if still running.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& log_path) {
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~Process() {
    if (pid_ > 0) Kill(SIGKILL);
  }
  // Sends `signal` and reaps the process; returns its wait status.
  int Kill(int signal) {
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
};

class MetaServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin_dir = std::getenv("MEDFS_BIN_DIR");
    ASSERT_NE(bin_dir, nullptr) << "MEDFS_BIN_DIR is not set";
    binary_ = absl::StrCat(bin_dir, "/medfs-meta");
    ASSERT_EQ(access(binary_.c_str(), X_OK), 0) << binary_ << " is missing";
    address_ = absl::StrCat("unix:", dir_.path(), "/meta.sock");
  }

  // Starts the server and waits until it answers StatFs.
  void Start() {
    server_ = std::make_unique<Process>(
        std::vector<std::string>{binary_, "--db=" + dir_.path() + "/db",
                                 "--listen=" + address_},
        dir_.path() + "/meta.log");
    auto channel = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
    stub_ = v1::MetaService::NewStub(channel);
    absl::Time give_up = absl::Now() + absl::Seconds(60);
    for (;;) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::milliseconds(500));
      context.set_wait_for_ready(true);
      v1::StatFsReply reply;
      if (stub_->StatFs(&context, v1::Empty(), &reply).ok()) return;
      ASSERT_LT(absl::Now(), give_up) << "medfs-meta did not become ready";
    }
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return context;
  }

  absl::StatusOr<v1::Inode> Lookup(uint64_t parent, const std::string& name) {
    v1::LookupRequest request;
    request.set_parent(parent);
    request.set_name(name);
    v1::InodeReply reply;
    grpc::Status status = stub_->Lookup(Context().get(), request, &reply);
    if (!status.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          status.error_message());
    }
    return reply.inode();
  }

  uint64_t MustMkDir(uint64_t parent, const std::string& name) {
    v1::MkDirRequest request;
    request.set_parent(parent);
    request.set_name(name);
    request.set_mode(0755);
    v1::InodeReply reply;
    grpc::Status status = stub_->MkDir(Context().get(), request, &reply);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return reply.inode().id();
  }

  testing::TempDir dir_;
  std::string binary_, address_;
  std::unique_ptr<Process> server_;
  std::unique_ptr<v1::MetaService::Stub> stub_;
};

// One client thread's stream: iteration i is (create a/x<i>, rename it to
// b/x<i>, mkdir d<i>) in directory `home`. `acked` counts acknowledged ops.
struct Stream {
  uint64_t home = 0, a = 0, b = 0;
  std::string home_name;
  int acked = 0;
};

// Notifies `enough` when the acknowledged ops of all streams reach `target`.
struct Progress {
  std::atomic<int> acked{0};
  int target = 0;
  absl::Notification enough;
  void Ack() {
    if (acked.fetch_add(1) + 1 == target) enough.Notify();
  }
};

void RunStream(v1::MetaService::Stub* stub, Stream* stream, Progress* progress,
               int max_iterations) {
  auto deadline = [] {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return c;
  };
  for (int i = 0; i < max_iterations; ++i) {
    for (int step = 0; step < 3; ++step) {
      grpc::Status status;
      std::string x = absl::StrCat("x", i);
      if (step == 0) {
        v1::CreateFileRequest r;
        r.set_parent(stream->a);
        r.set_name(x);
        r.set_exclusive(true);
        v1::InodeReply reply;
        status = stub->CreateFile(deadline().get(), r, &reply);
      } else if (step == 1) {
        v1::RenameRequest r;
        r.set_src_parent(stream->a);
        r.set_src_name(x);
        r.set_dst_parent(stream->b);
        r.set_dst_name(x);
        v1::Empty reply;
        status = stub->Rename(deadline().get(), r, &reply);
      } else {
        v1::MkDirRequest r;
        r.set_parent(stream->home);
        r.set_name(absl::StrCat("d", i));
        v1::InodeReply reply;
        status = stub->MkDir(deadline().get(), r, &reply);
      }
      if (!status.ok()) return;  // the server died: this op is in doubt
      ++stream->acked;
      progress->Ack();
    }
  }
}

// Per thread: ops before `acked` are applied, the one at `acked` may or
// may not be, later ones are not.
void VerifyStream(MetaServerTest* test,
                  const std::function<absl::StatusOr<v1::Inode>(uint64_t, const std::string&)>& lookup,
                  const Stream& s, int max_iterations) {
  SCOPED_TRACE(s.home_name);
  for (int i = 0; i <= s.acked / 3 && i < max_iterations; ++i) {
    std::string x = absl::StrCat("x", i);
    bool in_a = lookup(s.a, x).ok(), in_b = lookup(s.b, x).ok();
    bool dir = lookup(s.home, absl::StrCat("d", i)).ok();
    int create = 3 * i, rename = 3 * i + 1, mkdir = 3 * i + 2;
    auto must = [&](int op) { return op < s.acked; };
    auto may = [&](int op) { return op <= s.acked; };
    EXPECT_FALSE(in_a && in_b) << x << " is in both directories: half a rename";
    if (must(rename)) {
      EXPECT_TRUE(in_b && !in_a) << x << " rename acknowledged";
    } else if (must(create)) {
      EXPECT_TRUE(in_a || (may(rename) && in_b)) << x << " create acknowledged";
    } else {
      EXPECT_TRUE(!in_b && (may(create) || !in_a)) << x << " never sent";
    }
    if (must(mkdir)) {
      EXPECT_TRUE(dir) << "d" << i << " acknowledged";
    }
    if (!may(mkdir)) {
      EXPECT_FALSE(dir) << "d" << i << " never sent";
    }
  }
}

TEST_F(MetaServerTest, SurvivesKillNineMidStream) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const int kThreads = 8, kMaxIterations = 5000, kRounds = 2;
  std::vector<Stream> streams;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<Stream> batch(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      Stream& s = batch[t];
      s.home_name = absl::StrCat("r", round, "t", t);
      s.home = MustMkDir(kRootInode, s.home_name);
      s.a = MustMkDir(s.home, "a");
      s.b = MustMkDir(s.home, "b");
    }
    Progress progress;
    progress.target = 1500;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back(RunStream, stub_.get(), &batch[t], &progress,
                           kMaxIterations);
    }
    // Kill once enough has been acknowledged; the streams are still going.
    progress.enough.WaitForNotification();
    server_->Kill(SIGKILL);
    for (auto& thread : threads) thread.join();
    int acked = progress.acked.load();
    EXPECT_LT(acked, kThreads * kMaxIterations * 3) << "killed after the end";
    streams.insert(streams.end(), batch.begin(), batch.end());

    ASSERT_NO_FATAL_FAILURE(Start());
    auto lookup = [this](uint64_t p, const std::string& n) { return Lookup(p, n); };
    for (const Stream& s : streams) VerifyStream(this, lookup, s, kMaxIterations);
  }
  // The namespace is consistent: counts, links and parents agree with the
  // entries, and the inode count with the number of inodes.
  uint64_t inodes = 0;
  std::vector<uint64_t> dirs = {kRootInode};
  while (!dirs.empty()) {
    uint64_t dir = dirs.back();
    dirs.pop_back();
    ++inodes;
    uint64_t entries = 0, subdirs = 0;
    v1::ReadDirRequest request;
    request.set_dir(dir);
    request.set_with_attributes(true);
    request.set_limit(10000);
    for (;;) {
      v1::ReadDirReply reply;
      ASSERT_TRUE(stub_->ReadDir(Context().get(), request, &reply).ok());
      for (const auto& entry : reply.entries()) {
        ++entries;
        if (entry.type() == v1::FILE_TYPE_DIRECTORY) {
          ++subdirs;
          EXPECT_EQ(entry.attributes().parent(), dir) << entry.name();
          dirs.push_back(entry.inode());
        } else {
          ++inodes;
        }
        request.set_start_after(entry.name());
      }
      if (reply.end_of_directory()) break;
    }
    v1::GetAttrRequest get;
    get.set_inode(dir);
    v1::InodeReply attr;
    ASSERT_TRUE(stub_->GetAttr(Context().get(), get, &attr).ok());
    EXPECT_EQ(attr.inode().entry_count(), entries) << "directory " << dir;
    EXPECT_EQ(attr.inode().nlink(), 2 + subdirs) << "directory " << dir;
  }
  v1::StatFsReply statfs;
  ASSERT_TRUE(stub_->StatFs(Context().get(), v1::Empty(), &statfs).ok());
  EXPECT_EQ(statfs.inode_count(), inodes);
  int status = server_->Kill(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "clean shutdown on SIGTERM, wait status " << status;
}

v1::CreateFileRequest CreateItem(uint64_t parent, const std::string& name) {
  v1::CreateFileRequest request;
  request.set_parent(parent);
  request.set_name(name);
  request.set_mode(0644);
  request.set_exclusive(true);
  return request;
}

// Item i of `reply` as an absl::StatusOr of its inode.
absl::StatusOr<v1::Inode> ItemOutcome(const v1::InodeBatchReply& reply, int i) {
  const v1::InodeBatchItem& item = reply.items(i);
  if (item.code() != 0) {
    return absl::Status(static_cast<absl::StatusCode>(item.code()), item.message());
  }
  return item.reply().inode();
}

// Batched RPCs against the real server: items run in request order, each
// answered exactly as its single call (code and message), acknowledged
// items survive SIGKILL, and oversized batches are refused whole.
TEST_F(MetaServerTest, BatchesAnswerEachItemAsItsSingleCallAndAreDurable) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const uint64_t dir = MustMkDir(kRootInode, "batch");
  v1::CreateFileBatchRequest creates;
  *creates.add_items() = CreateItem(dir, "x");
  *creates.add_items() = CreateItem(dir, "x");        // after the first: exists
  *creates.add_items() = CreateItem(987654321, "y");  // no such parent
  *creates.add_items() = CreateItem(dir, "z");
  *creates.add_items() = CreateItem(dir, "");         // bad name
  v1::InodeBatchReply created;
  ASSERT_TRUE(stub_->CreateFileBatch(Context().get(), creates, &created).ok());
  ASSERT_EQ(created.items_size(), 5);
  // What the single calls answer now (x and z exist): the same codes and
  // messages as the batch items that ran after their creation.
  for (int i : {1, 2, 4}) {
    SCOPED_TRACE(i);
    v1::InodeReply single;
    grpc::Status status = stub_->CreateFile(Context().get(), creates.items(i), &single);
    absl::StatusOr<v1::Inode> item = ItemOutcome(created, i);
    EXPECT_EQ(static_cast<int>(item.status().code()), static_cast<int>(status.error_code()));
    EXPECT_EQ(item.status().message(), status.error_message());
  }
  EXPECT_EQ(ItemOutcome(created, 1).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ItemOutcome(created, 2).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ItemOutcome(created, 4).status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<v1::Inode> x = ItemOutcome(created, 0), z = ItemOutcome(created, 3);
  ASSERT_TRUE(x.ok()) << x.status();
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_NE(x->id(), z->id());

  v1::CommitFileBatchRequest commits;
  commits.add_items()->set_inode(x->id());
  commits.add_items()->set_inode(987654321);
  v1::InodeBatchReply committed;
  ASSERT_TRUE(stub_->CommitFileBatch(Context().get(), commits, &committed).ok());
  ASSERT_EQ(committed.items_size(), 2);
  EXPECT_TRUE(ItemOutcome(committed, 0).ok()) << ItemOutcome(committed, 0).status();
  EXPECT_EQ(ItemOutcome(committed, 1).status().code(), absl::StatusCode::kNotFound);

  // SIGKILL: everything acknowledged is there after the restart.
  server_->Kill(SIGKILL);
  ASSERT_NO_FATAL_FAILURE(Start());
  v1::GetAttrBatchRequest gets;
  gets.add_items()->set_inode(x->id());
  gets.add_items()->set_inode(987654321);
  gets.add_items()->set_inode(z->id());
  v1::InodeBatchReply got;
  ASSERT_TRUE(stub_->GetAttrBatch(Context().get(), gets, &got).ok());
  ASSERT_EQ(got.items_size(), 3);
  absl::StatusOr<v1::Inode> got_x = ItemOutcome(got, 0), got_z = ItemOutcome(got, 2);
  ASSERT_TRUE(got_x.ok()) << got_x.status();
  EXPECT_EQ(got_x->id(), x->id());
  EXPECT_GT(got_x->content_version(), x->content_version()) << "commit acknowledged";
  ASSERT_TRUE(got_z.ok()) << got_z.status();
  EXPECT_EQ(got_z->id(), z->id());
  v1::InodeReply missing;
  grpc::Status single = stub_->GetAttr(Context().get(), gets.items(1), &missing);
  EXPECT_EQ(ItemOutcome(got, 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ItemOutcome(got, 1).status().message(), single.error_message());
  absl::StatusOr<v1::Inode> looked_up = Lookup(dir, "z");
  ASSERT_TRUE(looked_up.ok()) << looked_up.status();
  EXPECT_EQ(looked_up->id(), z->id());

  v1::GetAttrBatchRequest oversized;
  for (int i = 0; i < 1025; ++i) oversized.add_items()->set_inode(x->id());
  v1::InodeBatchReply refused;
  grpc::Status status = stub_->GetAttrBatch(Context().get(), oversized, &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::CreateFileBatchRequest oversized_creates;
  for (int i = 0; i < 1025; ++i) {
    *oversized_creates.add_items() = CreateItem(dir, absl::StrCat("o", i));
  }
  status = stub_->CreateFileBatch(Context().get(), oversized_creates, &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Lookup(dir, "o0").status().code(), absl::StatusCode::kNotFound);
}

// Creates from 16 threads through the client library, which coalesces them
// into CreateFileBatch RPCs; meta is killed (SIGKILL) mid-stream. Every
// create the library acknowledged is there after the restart.
TEST_F(MetaServerTest, CoalescedCreatesAcknowledgedBeforeKillNineSurvive) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const uint64_t dir = MustMkDir(kRootInode, "coalesced");
  client::MetaClientOptions options;
  options.address = address_;
  options.call_timeout = absl::Seconds(20);
  options.retry_budget = absl::ZeroDuration();  // fail at once once meta is gone
  client::MetaClient meta(client::NewMetaChannel(options), options);
  const int kThreads = 16, kMaxEach = 100000;
  std::vector<std::vector<std::string>> acked(kThreads);
  Progress progress;
  progress.target = 3000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kMaxEach; ++i) {
        std::string name = absl::StrCat("t", t, "-", i);
        if (!meta.CreateFile(CreateItem(dir, name)).ok()) return;  // in doubt
        acked[t].push_back(name);
        progress.Ack();
      }
    });
  }
  progress.enough.WaitForNotification();
  server_->Kill(SIGKILL);
  for (auto& thread : threads) thread.join();
  EXPECT_GT(meta.stats().batched_calls, 0u) << "the creates were coalesced";

  ASSERT_NO_FATAL_FAILURE(Start());
  size_t checked = 0;
  for (const auto& names : acked) {
    for (const std::string& name : names) {
      absl::StatusOr<v1::Inode> inode = Lookup(dir, name);
      EXPECT_TRUE(inode.ok()) << name << " was acknowledged: " << inode.status();
      ++checked;
    }
  }
  EXPECT_GE(checked, 3000u);
}

}  // namespace
}  // namespace medfs::meta
