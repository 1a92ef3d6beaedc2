// TransportSecurity: the gateway's side of the trust model, built from its
// configuration on the security layer (server/security): mutual-TLS server
// credentials (no plaintext listener exists) in which each trust domain's
// certificates are verified against that organisation's CA and CRL only,
// reloaded without a restart; and the Authenticator that maps the verified
// certificate of a call to a Caller.
#ifndef HAVENGATE_SERVER_TRANSPORT_SECURITY_H_
#define HAVENGATE_SERVER_TRANSPORT_SECURITY_H_

#include <memory>

#include "absl/status/statusor.h"
#include "grpcpp/security/server_credentials.h"
#include "server/caller.h"
#include "server/config/config.h"
#include "server/security/server_security.h"

namespace havengate::server {

class TransportSecurity {
 public:
  // Reads and checks the certificate, key, CA and CRL files named in
  // `config`; `listener` (optional) hears of every refused handshake.
  // Errors name the file and the problem.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<TransportSecurity>>
  Create(const config::GatewayConfig& config,
         std::shared_ptr<security::HandshakeListener> listener);

  virtual ~TransportSecurity() = default;
  virtual std::shared_ptr<grpc::ServerCredentials> server_credentials() = 0;
  virtual const Authenticator& authenticator() const = 0;
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_TRANSPORT_SECURITY_H_
