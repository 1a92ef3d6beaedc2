#include "server/gateway_status_service.h"

#include <utility>

#include "server/logging/log.h"
#include "server/security/grpc_status.h"
#include "server/security/peer_identity.h"

namespace havengate::server {

GatewayStatusService::GatewayStatusService(
    const security::Authenticator& authenticator, limits::CallerLimits& limits,
    std::function<std::vector<v1::PeerStatus>()> peers)
    : authenticator_(authenticator), limits_(limits), peers_(std::move(peers)) {}

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
                                {"caller", caller->spiffe_id},
                                {"reason", allowed.message()}});
    return security::ToGrpcStatus(allowed);
  }
  absl::StatusOr<limits::CallerLimits::CallSlot> slot = limits_.StartCall(caller->spiffe_id);
  if (!slot.ok()) return security::ToGrpcStatus(slot.status());
  for (v1::PeerStatus& peer : peers_()) *response->add_peers() = std::move(peer);
  return grpc::Status::OK;
}

}  // namespace havengate::server
