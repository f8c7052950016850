// DicomServiceImpl: the gRPC adaptor of DicomStore (DicomService in
// common/proto/medfs.proto). No logic of its own.
//
// Thread safety: gRPC calls it from many threads; DicomStore is thread safe.
#pragma once

#include "common/proto/medfs.grpc.pb.h"
#include "meta/dicom/dicom_store.h"
#include "meta/dicom/manifest_store.h"

namespace medfs::meta {

class DicomServiceImpl final : public v1::DicomService::Service {
 public:
  explicit DicomServiceImpl(MetaStore* store) : dicom_(store), manifests_(store, &dicom_) {}

  using Ctx = grpc::ServerContext;
  grpc::Status IngestFiles(Ctx*, const v1::IngestFilesRequest*, v1::IngestFilesReply*) override;
  grpc::Status QueryDicom(Ctx*, const v1::QueryDicomRequest*, v1::QueryDicomReply*) override;
  grpc::Status GetDatasetInfo(Ctx*, const v1::DatasetInfoRequest*, v1::DatasetInfo*) override;
  grpc::Status ListDatasets(Ctx*, const v1::Empty*, v1::ListDatasetsReply*) override;
  grpc::Status FreezeManifest(Ctx*, const v1::FreezeManifestRequest*,
                              v1::FreezeManifestReply*) override;
  grpc::Status GetManifest(Ctx*, const v1::GetManifestRequest*, v1::GetManifestReply*) override;
  grpc::Status ListManifests(Ctx*, const v1::ListManifestsRequest*,
                             v1::ListManifestsReply*) override;

 private:
  DicomStore dicom_;
  ManifestStore manifests_;  // after dicom_, which it uses
};

}  // namespace medfs::meta
