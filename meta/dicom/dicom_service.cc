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

}  // namespace medfs::meta
