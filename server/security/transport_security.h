// TransportSecurity: the gateway's side of the trust model, built from its
// configuration: mutual-TLS server credentials (no plaintext listener
// exists) in which each trust domain's certificates are verified against
// that organisation's CA and CRL only, reloaded without a restart; and the
// Authenticator that gives every call the PeerIdentity its verified
// certificate proves.
//
// Thread-safety: both objects are thread-safe once created; the
// Authenticator lives as long as its TransportSecurity.
#ifndef HAVENGATE_SERVER_SECURITY_TRANSPORT_SECURITY_H_
#define HAVENGATE_SERVER_SECURITY_TRANSPORT_SECURITY_H_

#include <memory>

#include "absl/status/statusor.h"
#include "grpcpp/security/server_credentials.h"
#include "server/config/config.h"
#include "server/security/authenticator.h"
#include "server/security/server_security.h"

namespace havengate::security {

class TransportSecurity {
 public:
  // Reads and checks the certificate, key, CA and CRL files named in
  // `config`; `listener` (optional) hears of every refused handshake.
  // Errors name the file and the problem.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<TransportSecurity>>
  Create(const config::GatewayConfig& config, std::shared_ptr<HandshakeListener> listener);

  virtual ~TransportSecurity() = default;
  virtual std::shared_ptr<grpc::ServerCredentials> server_credentials() = 0;
  virtual const Authenticator& authenticator() const = 0;

  // A configuration reload: the trust `config.peers` would put in force
  // (see ServerSecurity::PreparePeers); changes nothing. Errors name the
  // peer and the file.
  [[nodiscard]] virtual absl::StatusOr<std::shared_ptr<TrustStore>> PreparePeers(
      const config::GatewayConfig& config) = 0;
  // Puts it in force for the next handshake and the next call.
  virtual void InstallPeers(std::shared_ptr<TrustStore> trust) = 0;
};

}  // namespace havengate::security

#endif  // HAVENGATE_SERVER_SECURITY_TRANSPORT_SECURITY_H_
