#include "loader/pipeline/cluster_source.h"

#include <grpcpp/grpcpp.h>

#include <functional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/client.h"
#include "client/dicom_client.h"
#include "common/logging.h"
#include "common/proto/medfs.grpc.pb.h"
#include "common/status.h"
#include "loader/decode/dicom_parser.h"

namespace medfs::loader {
namespace {

absl::Status FromGrpc(const grpc::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(what, ": ", s.error_message()));
}

class ClusterPixelSource : public PixelSource {
 public:
  ClusterPixelSource(std::unique_ptr<client::Client> client, std::string describe)
      : client_(std::move(client)), describe_(std::move(describe)) {}

  absl::Status Prepare(IoBuffer* buffer) override {
    return client_->RegisterBuffer(buffer->data(), buffer->capacity());
  }

  absl::Status Fetch(const v1::DicomInstance& record, IoBuffer* buffer) override {
    const uint64_t length = record.pixel_data_length();
    if (length == 0 || record.inode() == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "reading pixels of ", record.sop_instance_uid(), ": no inode or pixel data location"));
    }
    if (length > buffer->capacity()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "reading pixels of ", record.sop_instance_uid(), ": buffer too small"));
    }
    ASSIGN_OR_RETURN(std::shared_ptr<const v1::Inode> inode, InodeOf(record.inode()));
    auto n = client_->Read(*inode, record.pixel_data_offset(),
                           std::span<std::byte>(buffer->data(), length));
    if (!n.ok()) {
      return Annotate(n.status(), absl::StrCat("reading pixels of inode ", record.inode(),
                                               " (", record.sop_instance_uid(), ")"));
    }
    if (*n != length) {
      return absl::InvalidArgumentError(absl::StrCat(
          "reading pixels of inode ", record.inode(), ": short read, ", *n, " of ", length));
    }
    buffer->set_size(length);
    return absl::OkStatus();
  }

  std::string Describe() const override { return describe_; }
  // Reads wait on the network: keep several in flight per core.
  uint32_t PreferredWorkers() const override { return 8; }
  client::Client* client() { return client_.get(); }

 private:
  // Stored DICOM files are immutable once ingested: extents are cached.
  absl::StatusOr<std::shared_ptr<const v1::Inode>> InodeOf(uint64_t id) {
    {
      absl::MutexLock lock(&mu_);
      auto it = inodes_.find(id);
      if (it != inodes_.end()) return it->second;
    }
    ASSIGN_OR_RETURN(v1::Inode inode, client_->GetAttr(id, /*with_extents=*/true));
    auto shared = std::make_shared<const v1::Inode>(std::move(inode));
    absl::MutexLock lock(&mu_);
    inodes_[id] = shared;
    return shared;
  }

  std::unique_ptr<client::Client> client_;
  const std::string describe_;
  absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<const v1::Inode>> inodes_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<Catalog> QueryIndex(const ClusterSourceOptions& o) {
  auto channel = grpc::CreateChannel(o.meta_address, grpc::InsecureChannelCredentials());
  auto stub = v1::DicomService::NewStub(channel);
  Catalog catalog;
  v1::QueryDicomRequest request;
  request.set_dataset(o.dataset);
  request.set_expression(o.query);
  request.set_level(v1::DICOM_LEVEL_INSTANCE);
  do {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::QueryDicomReply reply;
    RETURN_IF_ERROR(FromGrpc(stub->QueryDicom(&ctx, request, &reply),
                             absl::StrCat("querying dataset ", o.dataset)));
    for (auto& r : *reply.mutable_instances()) {
      if (r.pixel_data_length() == 0) {
        ++catalog.skipped_files;
        continue;
      }
      catalog.records.push_back(std::move(r));
      catalog.planar_configuration.push_back(0);
    }
    request.set_cursor(reply.cursor());
  } while (!request.cursor().empty());
  return catalog;
}

// The members of a manifest with their index records: no query runs.
absl::StatusOr<Catalog> ReadManifest(const ClusterSourceOptions& o, uint64_t* version) {
  ASSIGN_OR_RETURN(client::ManifestRef ref, client::ParseManifestRef(o.manifest));
  client::DicomClientOptions options;
  options.meta.address = o.meta_address;
  client::DicomClient dicom(options);
  absl::StatusOr<client::Manifest> manifest = dicom.GetManifest(o.dataset, ref, true);
  if (!manifest.ok()) {
    return Annotate(manifest.status(), absl::StrCat("opening manifest ", o.manifest));
  }
  *version = manifest->header.version();
  Catalog catalog;
  for (v1::DicomInstance& r : manifest->records) {
    if (r.pixel_data_length() == 0) {
      ++catalog.skipped_files;
      continue;
    }
    catalog.records.push_back(std::move(r));
    catalog.planar_configuration.push_back(0);
  }
  MEDFS_LOG(INFO) << "dataset " << o.dataset << ": manifest " << ref.name << "@" << *version
                  << ", " << catalog.records.size() << " instances";
  return catalog;
}

// Parses the header of one file read over the data plane (its extents come
// from the attribute cache, which the listing filled for small files).
absl::Status ScanFile(client::Client* c, const v1::Inode& attrs, const std::string& rel,
                      std::vector<std::byte>* head, Catalog* catalog) {
  ASSIGN_OR_RETURN(v1::Inode inode, c->GetAttr(attrs.id(), true));
  size_t want = std::min<uint64_t>(inode.size(), 64 << 10);
  while (true) {
    head->resize(want);
    ASSIGN_OR_RETURN(size_t n, c->Read(inode, 0, *head));
    auto parsed = ParseDicom(std::span<const std::byte>(head->data(), n), inode.size(), rel);
    if (parsed.ok() && parsed->record.pixel_data_length() > 0) {
      parsed->record.set_inode(inode.id());
      catalog->records.push_back(std::move(parsed->record));
      catalog->planar_configuration.push_back(parsed->planar_configuration);
      return absl::OkStatus();
    }
    if (parsed.ok() || !absl::IsOutOfRange(parsed.status()) || want >= inode.size()) {
      ++catalog->skipped_files;
      return absl::OkStatus();
    }
    want = inode.size();
  }
}

absl::StatusOr<Catalog> ScanDataset(client::Client* c, const std::string& dataset) {
  std::string root = dataset.empty() || dataset[0] == '/' ? dataset : "/" + dataset;
  ASSIGN_OR_RETURN(v1::Inode top, c->ResolvePath(root));
  Catalog catalog;
  std::vector<std::byte> head;
  std::function<absl::Status(uint64_t, const std::string&)> walk =
      [&](uint64_t dir, const std::string& prefix) -> absl::Status {
    std::string after;
    while (true) {
      ASSIGN_OR_RETURN(client::DirectoryPage page, c->ReadDir(dir, after, 1000, true, /*extents_up_to=*/16));
      for (const v1::ReadDirEntry& e : page.entries) {
        std::string rel = prefix.empty() ? e.name() : prefix + "/" + e.name();
        if (e.type() == v1::FILE_TYPE_DIRECTORY) {
          RETURN_IF_ERROR(walk(e.inode(), rel));
        } else if (e.type() == v1::FILE_TYPE_REGULAR) {
          v1::Inode attrs = e.attributes();
          attrs.set_id(e.inode());
          RETURN_IF_ERROR(ScanFile(c, attrs, rel, &head, &catalog));
        }
        after = e.name();
      }
      if (page.end_of_directory || page.entries.empty()) break;
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(walk(top.id(), ""));
  return catalog;
}

}  // namespace

absl::StatusOr<ClusterDataset> OpenCluster(const ClusterSourceOptions& o) {
  client::ClientOptions co;
  co.meta_address = o.meta_address;
  co.fabric_provider = o.fabric_provider;
  co.io_buffer_count = o.io_buffers;
  ASSIGN_OR_RETURN(std::unique_ptr<client::Client> c, client::Client::Connect(co));
  ClusterDataset out;
  if (!o.manifest.empty()) {
    if (!o.query.empty()) {
      return absl::InvalidArgumentError("query and manifest are mutually exclusive");
    }
    ASSIGN_OR_RETURN(out.catalog, ReadManifest(o, &out.manifest_version));
    out.from_index = true;
    out.source = std::make_shared<ClusterPixelSource>(
        std::move(c), absl::StrCat("medfs:", o.meta_address, "/", o.dataset, "@manifest:",
                                   o.manifest));
    return out;
  }
  auto indexed = QueryIndex(o);
  if (indexed.ok() && !indexed->records.empty()) {
    out.catalog = *std::move(indexed);
    out.from_index = true;
  } else {
    if (!indexed.ok() && absl::IsInvalidArgument(indexed.status())) return indexed.status();
    MEDFS_LOG(INFO) << "dataset " << o.dataset << " has no DICOM index ("
                    << (indexed.ok() ? "empty" : indexed.status().ToString())
                    << "): scanning its files";
    ASSIGN_OR_RETURN(Catalog scanned, ScanDataset(c.get(), o.dataset));
    ASSIGN_OR_RETURN(RecordFilter filter, RecordFilter::Parse(o.query));
    out.catalog = FilterCatalog(std::move(scanned), filter, SplitOptions{});
  }
  out.source = std::make_shared<ClusterPixelSource>(
      std::move(c), absl::StrCat("medfs:", o.meta_address, "/", o.dataset));
  return out;
}

}  // namespace medfs::loader
