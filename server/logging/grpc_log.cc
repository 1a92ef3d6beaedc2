#include "server/logging/grpc_log.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "grpc/support/log.h"
#include "server/logging/log.h"

namespace havengate::log {
namespace {

void OnGrpcLog(gpr_log_func_args* args) {
  // gRPC ends its messages with a newline; a log line carries none.
  const std::string message(absl::StripTrailingAsciiWhitespace(
      args->message == nullptr ? absl::string_view() : absl::string_view(args->message)));
  std::string where = absl::StrCat(args->file == nullptr ? "?" : args->file, ":", args->line);
  switch (args->severity) {
    case GPR_LOG_SEVERITY_ERROR:
      Error("grpc_core", {{"at", where}, {"message", message}});
      break;
    case GPR_LOG_SEVERITY_INFO:
      Info("grpc_core", {{"at", where}, {"message", message}});
      break;
    default:  // DEBUG: only with GRPC_VERBOSITY=DEBUG
      Info("grpc_core", {{"at", where}, {"message", message}, {"severity", "debug"}});
      break;
  }
}

}  // namespace

void RouteGrpcLogs() { gpr_set_log_function(OnGrpcLog); }

}  // namespace havengate::log
