// Caller: who is on the other end of an RPC, as proven by the client
// certificate verified during the TLS handshake — never taken from request
// fields — and the role checks every RPC starts with.
#ifndef HAVENGATE_SERVER_CALLER_H_
#define HAVENGATE_SERVER_CALLER_H_

#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"

namespace havengate::server {

struct Caller {
  enum class Role { kGateway, kClient, kOfficer };

  // Organisation id the certificate's trust domain belongs to.
  std::string organisation;
  // The certificate's SPIFFE id, e.g. spiffe://police.nl.example/client/pcs.
  std::string spiffe_id;
  Role role = Role::kClient;
  // Client or officer name (empty for gateways).
  std::string name;
  // True if the caller belongs to this gateway's own organisation.
  bool own_organisation = false;
};

// Maps verified peer certificates to callers, using the gateway's trust
// configuration (which trust domain belongs to which organisation).
// Thread-safe.
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // UNAUTHENTICATED if the connection carries no verified SPIFFE identity
  // of a known trust domain (which the handshake should already have
  // prevented).
  [[nodiscard]] virtual absl::StatusOr<Caller> Identify(
      const grpc::ServerContext& context) const = 0;
};

// OK if `caller` is an integration client of this gateway's organisation;
// otherwise PERMISSION_DENIED naming the role required.
[[nodiscard]] absl::Status RequireOwnClient(const Caller& caller);
// OK if `caller` is a policy officer of this gateway's organisation.
[[nodiscard]] absl::Status RequireOwnOfficer(const Caller& caller);
// OK if `caller` is a peer organisation's gateway.
[[nodiscard]] absl::Status RequirePeerGateway(const Caller& caller);

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_CALLER_H_
