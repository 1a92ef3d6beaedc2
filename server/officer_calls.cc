#include "server/officer_calls.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/status_macros.h"
#include "server/audit/audit_record.h"
#include "server/logging/log.h"
#include "server/security/grpc_status.h"

namespace havengate::server {

absl::StatusOr<OfficerCalls::Officer> OfficerCalls::Authorise(
    const grpc::ServerContext& context, absl::string_view method) const {
  absl::StatusOr<security::PeerIdentity> caller = authenticator_.Identify(context);
  absl::Status allowed = caller.ok() ? security::RequireOwnOfficer(*caller) : caller.status();
  if (!allowed.ok()) {
    std::string actor = caller.ok() ? caller->spiffe_id : "";
    log::Warn("call_rejected", {{"method", absl::StrCat(service_, ".", method)},
                                {"caller", actor},
                                {"reason", allowed.message()}});
    v1::AuditRecord record = audit::MakeAuditRecord(v1::CALL_REJECTED, actor);
    record.set_reason(absl::StrCat(service_, ".", method, ": ",
                                   absl::StatusCodeToString(allowed.code()), ": ",
                                   allowed.message()));
    store_.AppendAuditAsync({std::move(record)}, [](absl::Status s) {
      if (!s.ok()) log::Error("audit_write_failed", {{"reason", s.message()}});
    });
    return allowed;
  }
  HG_ASSIGN_OR_RETURN(limits::CallerLimits::CallSlot slot,
                      limits_.StartCall(caller->spiffe_id));
  return Officer{*std::move(caller), std::move(slot)};
}

grpc::Status OfficerCalls::Serve(
    const grpc::ServerContext& context, absl::string_view method,
    const std::function<absl::Status(const security::PeerIdentity&)>& step) const {
  absl::StatusOr<Officer> officer = Authorise(context, method);
  if (!officer.ok()) return security::ToGrpcStatus(officer.status());
  return security::ToGrpcStatus(step(officer->caller));
}

}  // namespace havengate::server
