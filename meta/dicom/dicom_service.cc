#include "meta/dicom/dicom_service.h"

#include "meta/service/grpc_status.h"

namespace medfs::meta {
namespace {

template <typename T>
grpc::Status Answer(absl::StatusOr<T> result, T* reply) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *reply = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status DicomServiceImpl::IngestFiles(Ctx*, const v1::IngestFilesRequest* request,
                                           v1::IngestFilesReply* reply) {
  return Answer(dicom_.IngestFiles(*request), reply);
}

grpc::Status DicomServiceImpl::QueryDicom(Ctx*, const v1::QueryDicomRequest* request,
                                          v1::QueryDicomReply* reply) {
  return Answer(dicom_.Query(*request), reply);
}

grpc::Status DicomServiceImpl::GetDatasetInfo(Ctx*, const v1::DatasetInfoRequest* request,
                                              v1::DatasetInfo* reply) {
  return Answer(dicom_.GetDatasetInfo(request->dataset()), reply);
}

grpc::Status DicomServiceImpl::ListDatasets(Ctx*, const v1::Empty*,
                                            v1::ListDatasetsReply* reply) {
  return Answer(dicom_.ListDatasets(), reply);
}

grpc::Status DicomServiceImpl::FreezeManifest(Ctx*, const v1::FreezeManifestRequest* request,
                                              v1::FreezeManifestReply* reply) {
  absl::StatusOr<v1::ManifestRecord> record = manifests_.Freeze(*request);
  if (!record.ok()) return ToGrpcStatus(record.status());
  *reply->mutable_manifest() = *std::move(record);
  return grpc::Status::OK;
}

grpc::Status DicomServiceImpl::GetManifest(Ctx*, const v1::GetManifestRequest* request,
                                           v1::GetManifestReply* reply) {
  return Answer(manifests_.Get(*request), reply);
}

grpc::Status DicomServiceImpl::ListManifests(Ctx*, const v1::ListManifestsRequest* request,
                                             v1::ListManifestsReply* reply) {
  return Answer(manifests_.List(*request), reply);
}

}  // namespace medfs::meta
