// The one place where absl::Status becomes grpc::Status. Codes keep their
// meaning (INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE, ...); messages
// pass through unchanged, and they never carry item values.
#ifndef HAVENGATE_SERVER_SECURITY_GRPC_STATUS_H_
#define HAVENGATE_SERVER_SECURITY_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace havengate::security {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace havengate::security

#endif  // HAVENGATE_SERVER_SECURITY_GRPC_STATUS_H_
