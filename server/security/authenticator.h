// Authenticator: the identity of the caller of an RPC, as the mutual-TLS
// handshake verified it. Services start every call with Identify and a
// role check (peer_identity.h); TransportSecurity provides the one
// implementation, tests may provide others.
#ifndef HAVENGATE_SERVER_SECURITY_AUTHENTICATOR_H_
#define HAVENGATE_SERVER_SECURITY_AUTHENTICATOR_H_

#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "server/security/peer_identity.h"

namespace havengate::security {

// Maps the verified peer certificate of a call to its identity, using the
// gateway's trust configuration (which trust domain belongs to which
// organisation). Thread-safe.
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // UNAUTHENTICATED if the connection carries no verified SPIFFE identity
  // of a known trust domain and role (which the handshake should already
  // have prevented).
  [[nodiscard]] virtual absl::StatusOr<PeerIdentity> Identify(
      const grpc::ServerContext& context) const = 0;
};

}  // namespace havengate::security

#endif  // HAVENGATE_SERVER_SECURITY_AUTHENTICATOR_H_
