// OfficerCalls: how the officers' services (PolicyAdmin, Evidence) admit a
// call: the caller must be a policy officer of this organisation (from the
// certificate, never a request field); anyone else gets PERMISSION_DENIED,
// logged and audited as CALL_REJECTED with the service and method. An
// admitted officer holds a call slot under their per-caller limits.
//
// Thread-safe; the authenticator, limits and store are borrowed and must
// outlive it.
#ifndef HAVENGATE_SERVER_OFFICER_CALLS_H_
#define HAVENGATE_SERVER_OFFICER_CALLS_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "server/limits/caller_limits.h"
#include "server/security/authenticator.h"
#include "server/store/store.h"

namespace havengate::server {

class OfficerCalls {
 public:
  // `service` names the service in audit records ("PolicyAdmin").
  OfficerCalls(std::string service, const security::Authenticator& authenticator,
               limits::CallerLimits& limits, store::Store& store)
      : service_(std::move(service)),
        authenticator_(authenticator),
        limits_(limits),
        store_(store) {}

  struct Officer {
    security::PeerIdentity caller;
    limits::CallerLimits::CallSlot slot;
  };
  // The calling officer, admitted under their limits; PERMISSION_DENIED
  // (audited) for anyone else.
  absl::StatusOr<Officer> Authorise(const grpc::ServerContext& context,
                                    absl::string_view method) const;
  // Authorises the caller as an officer, then runs `step` for them.
  grpc::Status Serve(
      const grpc::ServerContext& context, absl::string_view method,
      const std::function<absl::Status(const security::PeerIdentity&)>& step) const;

 private:
  const std::string service_;
  const security::Authenticator& authenticator_;
  limits::CallerLimits& limits_;
  store::Store& store_;
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_OFFICER_CALLS_H_
