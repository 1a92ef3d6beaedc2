// The GatewayStatus service (proto/havengate/v1/gateway_status.proto): the
// state of each partner's link and of this gateway's copy of its CRL, for
// `havenctl health`. Integration clients and officers of this organisation
// may ask; anyone else is refused (PERMISSION_DENIED, logged and audited as
// CALL_REJECTED). Each caller is held to its limits (CallerLimits).
//
// Threads and ownership: gRPC calls GetStatus on its own threads; the
// service keeps no state of its own. `peers` is called on those threads and
// must be thread-safe; the authenticator, limits and store are borrowed and
// must outlive the service (the Gateway owns them).
#ifndef HAVENGATE_SERVER_GATEWAY_STATUS_SERVICE_H_
#define HAVENGATE_SERVER_GATEWAY_STATUS_SERVICE_H_

#include <functional>
#include <vector>

#include "havengate/v1/gateway_status.grpc.pb.h"
#include "server/limits/caller_limits.h"
#include "server/security/authenticator.h"
#include "server/store/store.h"

namespace havengate::server {

class GatewayStatusService final : public v1::GatewayStatus::Service {
 public:
  // `peers`: the current status of every configured peer.
  GatewayStatusService(const security::Authenticator& authenticator,
                       limits::CallerLimits& limits, store::Store& store,
                       std::function<std::vector<v1::PeerStatus>()> peers);

  grpc::Status GetStatus(grpc::ServerContext* context,
                         const v1::GetStatusRequest* request,
                         v1::GetStatusResponse* response) override;

 private:
  const security::Authenticator& authenticator_;
  limits::CallerLimits& limits_;
  store::Store& store_;
  const std::function<std::vector<v1::PeerStatus>()> peers_;
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_GATEWAY_STATUS_SERVICE_H_
