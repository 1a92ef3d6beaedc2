// TransportSecurity: the gateway's side of the trust model, built from its
// configuration — the mutual-TLS server credentials (no plaintext listener
// exists) and the Authenticator that maps a verified client certificate to
// a Caller (organisation from the SPIFFE trust domain, role from its path).
#ifndef HAVENGATE_SERVER_TRANSPORT_SECURITY_H_
#define HAVENGATE_SERVER_TRANSPORT_SECURITY_H_

#include <memory>

#include "absl/status/statusor.h"
#include "grpcpp/security/server_credentials.h"
#include "server/caller.h"
#include "server/config/config.h"

namespace havengate::server {

class TransportSecurity {
 public:
  // Reads the certificate, key and CA files named in `config`. Errors name
  // the file and the problem.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<TransportSecurity>>
  Create(const config::GatewayConfig& config);

  virtual ~TransportSecurity() = default;
  virtual std::shared_ptr<grpc::ServerCredentials> server_credentials() = 0;
  virtual const Authenticator& authenticator() const = 0;
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_TRANSPORT_SECURITY_H_
