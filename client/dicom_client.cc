#include "client/dicom_client.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"

namespace medfs::client {

absl::StatusOr<ManifestRef> ParseManifestRef(absl::string_view text) {
  ManifestRef ref;
  size_t at = text.rfind('@');
  ref.name = std::string(text.substr(0, at));
  if (at != absl::string_view::npos) {
    absl::string_view version = text.substr(at + 1);
    if (!absl::SimpleAtoi(version, &ref.version) || ref.version == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "manifest '", text, "': the version after '@' must be a positive integer"));
    }
  }
  if (ref.name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("manifest '", text, "': no name"));
  }
  return ref;
}

std::string FormatManifestRef(const ManifestRef& ref) {
  return ref.version == 0 ? ref.name : absl::StrCat(ref.name, "@", ref.version);
}

DicomClient::DicomClient(DicomClientOptions options)
    : options_(std::move(options)),
      stub_(v1::DicomService::NewStub(NewMetaChannel(options_.meta))) {}

template <typename Request, typename Reply>
absl::StatusOr<Reply> DicomClient::Invoke(const char* name, Method<Request, Reply> method,
                                          const Request& request, absl::Duration timeout) {
  const MetaClientOptions& o = options_.meta;
  const absl::Time give_up = absl::Now() + o.retry_budget;
  absl::Duration backoff = o.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    Reply reply;
    grpc::Status status = ((*stub_).*method)(&context, request, &reply);
    if (status.ok()) return reply;
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return FromGrpcStatus(status);
    if (absl::Now() + backoff > give_up) {
      return absl::UnavailableError(absl::StrCat(name, " to meta at ", o.address, " (", attempt,
                                                 " attempts): ", status.error_message()));
    }
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, o.max_backoff);
  }
}

absl::StatusOr<v1::QueryDicomReply> DicomClient::QueryDicom(
    const v1::QueryDicomRequest& request) {
  return Invoke("QueryDicom", &v1::DicomService::Stub::QueryDicom, request,
                options_.long_call_timeout);
}

absl::StatusOr<v1::ManifestRecord> DicomClient::FreezeManifest(const std::string& dataset,
                                                               const std::string& name,
                                                               const std::string& expression,
                                                               v1::DicomLevel level) {
  v1::FreezeManifestRequest request;
  request.set_dataset(dataset);
  request.set_name(name);
  request.set_expression(expression);
  request.set_level(level);
  ASSIGN_OR_RETURN(v1::FreezeManifestReply reply,
                   Invoke("FreezeManifest", &v1::DicomService::Stub::FreezeManifest, request,
                          options_.long_call_timeout));
  return std::move(*reply.mutable_manifest());
}

absl::StatusOr<v1::GetManifestReply> DicomClient::GetManifestPage(
    const v1::GetManifestRequest& request) {
  return Invoke("GetManifest", &v1::DicomService::Stub::GetManifest, request,
                options_.long_call_timeout);
}

absl::StatusOr<Manifest> DicomClient::GetManifest(const std::string& dataset,
                                                  const ManifestRef& ref, bool with_records) {
  v1::GetManifestRequest request;
  request.set_dataset(dataset);
  request.set_name(ref.name);
  request.set_version(ref.version);
  request.set_with_records(with_records);
  Manifest manifest;
  bool first = true;
  do {
    ASSIGN_OR_RETURN(v1::GetManifestReply reply, GetManifestPage(request));
    if (first) {
      first = false;
      manifest.header = reply.manifest();
      manifest.members.reserve(reply.manifest().instances());
      if (with_records) manifest.records.reserve(reply.manifest().instances());
    }
    // Later pages are pinned to the first page's version by the cursor.
    request.set_version(manifest.header.version());
    for (auto& m : *reply.mutable_members()) manifest.members.push_back(std::move(m));
    for (auto& r : *reply.mutable_records()) manifest.records.push_back(std::move(r));
    request.set_cursor(reply.cursor());
  } while (!request.cursor().empty());
  if (manifest.members.size() != manifest.header.instances()) {
    return absl::DataLossError(absl::StrCat(
        "reading manifest ", FormatManifestRef(ref), " of dataset '", dataset, "': got ",
        manifest.members.size(), " members, the header says ", manifest.header.instances()));
  }
  return manifest;
}

absl::StatusOr<std::vector<v1::ManifestRecord>> DicomClient::ListManifests(
    const std::string& dataset, const std::string& name) {
  v1::ListManifestsRequest request;
  request.set_dataset(dataset);
  request.set_name(name);
  ASSIGN_OR_RETURN(v1::ListManifestsReply reply,
                   Invoke("ListManifests", &v1::DicomService::Stub::ListManifests, request,
                          options_.meta.call_timeout));
  return std::vector<v1::ManifestRecord>(std::make_move_iterator(reply.mutable_manifests()->begin()),
                                         std::make_move_iterator(reply.mutable_manifests()->end()));
}

}  // namespace medfs::client
