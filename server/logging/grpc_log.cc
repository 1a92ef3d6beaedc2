#include "server/logging/grpc_log.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "grpc/support/log.h"
#include "server/logging/log.h"

namespace havengate::log {
namespace {

void OnGrpcLog(gpr_log_func_args* args) {
  std::string message = CleanGrpcMessageForTesting(args->message == nullptr ? "" : args->message);
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

std::string CleanGrpcMessageForTesting(absl::string_view message) {
  return std::string(absl::StripTrailingAsciiWhitespace(message));
}

void RouteGrpcLogs() { gpr_set_log_function(OnGrpcLog); }

}  // namespace havengate::log
