// The one mapping between absl::Status and grpc::Status: the codes share
// their numbering (both are the canonical codes), the message is kept.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace medfs::meta {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace medfs::meta
