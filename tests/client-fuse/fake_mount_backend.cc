// The FUSE layer mounted in this process over an in-memory FakeClient.
#include <filesystem>
#include <thread>

#include "client-fuse/file_system.h"
#include "client-fuse/fuse_mount.h"
#include "common/status.h"
#include "tests/client-fuse/fake_client.h"
#include "tests/client-fuse/mount_backend.h"
#include "tests/client-fuse/mount_util.h"

namespace medfs::fuse::testing {
namespace {

class FakeMountBackend : public MountBackend {
 public:
  ~FakeMountBackend() override {
    (void)Unmount(path_);
    if (loop_.joinable()) loop_.join();
    mount_.reset();
    fs_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(std::filesystem::path(path_).parent_path(), ignored);
  }
  const std::string& mount_point() const override { return path_; }
  std::string Log() const override { return "(in-process mount: see test output)"; }

  absl::Status Start() {
    const std::string root = MakeTempDir("medfs-fake-mount");
    path_ = root + "/mnt";
    std::filesystem::create_directory(path_);
    FileSystemOptions options;
    options.write.temp_dir = root;
    options.read_cache_bytes = 64 << 20;
    fs_ = std::make_unique<FileSystem>(&client_, options);
    MountConfig config;
    config.mount_point = path_;
    config.allow_other = true;
    ASSIGN_OR_RETURN(mount_, FuseMount::Mount(fs_.get(), config));
    loop_ = std::thread([this] { (void)mount_->Loop(); });
    return WaitForMount(path_, nullptr, absl::Seconds(10));
  }

 private:
  FakeClient client_;
  std::string path_;
  std::unique_ptr<FileSystem> fs_;
  std::unique_ptr<FuseMount> mount_;
  std::thread loop_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MountBackend>> StartMountBackend() {
  auto backend = std::make_unique<FakeMountBackend>();
  RETURN_IF_ERROR(backend->Start());
  return backend;
}

}  // namespace medfs::fuse::testing
