#include "loader/pipeline/open.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#ifdef MEDFS_LOADER_HAVE_CLIENT
#include "loader/pipeline/cluster_source.h"
#endif

namespace medfs::loader {

bool HaveClusterSupport() {
#ifdef MEDFS_LOADER_HAVE_CLIENT
  return true;
#else
  return false;
#endif
}

absl::StatusOr<std::unique_ptr<Loader>> OpenLoader(const OpenOptions& o) {
  RETURN_IF_ERROR(ValidateSplit(o.split));
  if (!o.manifest.empty() && !o.query.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "opening dataset ", o.dataset, ": query and manifest are mutually exclusive (the "
        "manifest '", o.manifest, "' already holds its query's result)"));
  }
  if (!o.manifest.empty() && IsLocal(o)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "opening folder ", o.dataset, ": manifests are stored in a medfs cluster; pass meta="));
  }
  RecordFilter filter;  // cluster mode: meta evaluates the query
  Catalog catalog;
  std::shared_ptr<PixelSource> source;
  if (IsLocal(o)) {
    ASSIGN_OR_RETURN(filter, RecordFilter::Parse(o.query));
    ASSIGN_OR_RETURN(catalog, ScanLocalFolder(o.dataset));
    source = NewLocalPixelSource(o.dataset);
  } else {
#ifdef MEDFS_LOADER_HAVE_CLIENT
    ClusterSourceOptions c;
    c.meta_address = o.meta;
    c.dataset = o.dataset;
    c.fabric_provider = o.fabric_provider;
    c.query = o.query;
    c.manifest = o.manifest;
    ASSIGN_OR_RETURN(auto cluster, OpenCluster(c));
    catalog = std::move(cluster.catalog);
    source = std::move(cluster.source);
#else
    return absl::UnimplementedError(
        "this medfs loader was built without the client library: cluster mode is off");
#endif
  }
  return Loader::Create(FilterCatalog(std::move(catalog), filter, o.split), source,
                        o.loader);
}

}  // namespace medfs::loader
