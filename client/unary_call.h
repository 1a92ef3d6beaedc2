// UnaryCall: one unary gRPC call with the client's timeout as deadline, its
// status as absl::Status. Shared by the officers' service clients.
#ifndef HAVENGATE_CLIENT_UNARY_CALL_H_
#define HAVENGATE_CLIENT_UNARY_CALL_H_

#include <chrono>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "grpcpp/client_context.h"

namespace havengate::client {

template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> UnaryCall(
    Stub& stub, grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
    const Request& request, absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  Response response;
  absl::Status status = FromGrpcStatus((stub.*method)(&context, request, &response));
  if (!status.ok()) return status;
  return response;
}

}  // namespace havengate::client

#endif  // HAVENGATE_CLIENT_UNARY_CALL_H_
