#include "server/gateway_status_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/audit/audit_record.h"
#include "server/logging/log.h"
#include "server/security/grpc_status.h"
#include "server/security/peer_identity.h"

namespace havengate::server {

GatewayStatusService::GatewayStatusService(
    const security::Authenticator& authenticator, limits::CallerLimits& limits,
    store::Store& store, std::function<std::vector<v1::PeerStatus>()> peers)
    : authenticator_(authenticator), limits_(limits), store_(store), peers_(std::move(peers)) {}

grpc::Status GatewayStatusService::GetStatus(grpc::ServerContext* context,
                                             const v1::GetStatusRequest* /*request*/,
                                             v1::GetStatusResponse* response) {
  absl::StatusOr<security::PeerIdentity> caller = authenticator_.Identify(*context);
  if (!caller.ok()) return security::ToGrpcStatus(caller.status());
  absl::Status allowed = security::RequireOwnClient(*caller);
  if (!allowed.ok()) allowed = security::RequireOwnOfficer(*caller);
  if (!allowed.ok()) {
    allowed = absl::PermissionDeniedError(
        "GatewayStatus is for this organisation's clients and officers");
    log::Warn("call_rejected", {{"service", "GatewayStatus"},
                                {"method", "GetStatus"},
                                {"caller", caller->spiffe_id},
                                {"reason", allowed.message()}});
    v1::AuditRecord record = audit::MakeAuditRecord(v1::CALL_REJECTED, caller->spiffe_id);
    record.set_reason(absl::StrCat("GetStatus: ", absl::StatusCodeToString(allowed.code()), ": ",
                                   allowed.message()));
    store_.AppendAuditAsync({std::move(record)}, [](absl::Status appended) {
      if (!appended.ok()) {
        log::Error("audit_write_failed",
                   {{"event", "CALL_REJECTED"}, {"reason", appended.message()}});
      }
    });
    return security::ToGrpcStatus(allowed);
  }
  absl::StatusOr<limits::CallerLimits::CallSlot> slot = limits_.StartCall(caller->spiffe_id);
  if (!slot.ok()) return security::ToGrpcStatus(slot.status());
  for (v1::PeerStatus& peer : peers_()) *response->add_peers() = std::move(peer);
  return grpc::Status::OK;
}

}  // namespace havengate::server
