// The real medfs-mount binary over a real cluster: medfs-meta and three
// medfs-chunkservers (replication 2) on loopback.
#include "common/status.h"
#include "tests/client-fuse/mount_backend.h"
#include "tests/client-fuse/mount_util.h"
#include "tests/integration/test_cluster.h"

namespace medfs::fuse::testing {
namespace {

class ClusterMountBackend : public MountBackend {
 public:
  ~ClusterMountBackend() override {
    mount_.reset();
    cluster_.reset();
  }
  const std::string& mount_point() const override { return mount_->path(); }
  std::string Log() const override { return mount_->LogTail(); }

  absl::Status Start() {
    medfs::testing::TestClusterOptions options;
    options.chunkservers = 3;
    options.replication = 2;
    ASSIGN_OR_RETURN(cluster_, medfs::testing::TestCluster::Start(options));
    ASSIGN_OR_RETURN(mount_, MountProcess::Start(cluster_->meta_address()));
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<medfs::testing::TestCluster> cluster_;
  std::unique_ptr<MountProcess> mount_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MountBackend>> StartMountBackend() {
  auto backend = std::make_unique<ClusterMountBackend>();
  RETURN_IF_ERROR(backend->Start());
  return backend;
}

}  // namespace medfs::fuse::testing
