// A clear answer for calls whose request cannot be parsed. gRPC 1.51 answers
// a unary request that is not a valid protocol buffer message of its type —
// malformed bytes, a string that is not UTF-8, nesting deeper than the
// parser's limit of 100 — with INTERNAL and no message, before any handler
// runs. This interceptor turns that into INVALID_ARGUMENT saying so, and logs
// it (the handler, which would audit, never ran). Nothing else is changed.
//
// Streams are beyond its reach: a stream message that does not parse ends
// the handler's reading exactly as the end of the stream does (gRPC 1.51
// gives no way to tell them apart), so the handler answers what it read and
// the client library reports the rest as unanswered (client::Client).
#ifndef HAVENGATE_SERVER_SECURITY_MALFORMED_REQUESTS_H_
#define HAVENGATE_SERVER_SECURITY_MALFORMED_REQUESTS_H_

#include <memory>

#include "grpcpp/support/server_interceptor.h"

namespace havengate::security {

inline constexpr char kMalformedRequestMessage[] =
    "the request is not a valid protocol buffer message of its type "
    "(malformed bytes, a string that is not UTF-8, or nesting too deep)";

// For grpc::ServerBuilder::experimental().SetInterceptorCreators.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeMalformedRequestInterceptorFactory();

}  // namespace havengate::security

#endif  // HAVENGATE_SERVER_SECURITY_MALFORMED_REQUESTS_H_
