// gRPC core's own log lines (`E1207 ... ssl_transport_security.cc:1934] No
// match found for server name`) routed into the gateway's event log, so a
// JSON log stays JSON lines: event `grpc_core`, the level, the source
// location and the message without its trailing newline.
//
// Call once at start-up, after log::Configure. Thread-safe afterwards
// (gRPC calls the hook from its own threads).
#ifndef HAVENGATE_SERVER_LOGGING_GRPC_LOG_H_
#define HAVENGATE_SERVER_LOGGING_GRPC_LOG_H_

namespace havengate::log {

void RouteGrpcLogs();

}  // namespace havengate::log

#endif  // HAVENGATE_SERVER_LOGGING_GRPC_LOG_H_
