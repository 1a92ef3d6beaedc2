#include "server/security/transport_security.h"

#include "proto/status_macros.h"

namespace havengate::security {
namespace {

// The identity the security layer verified in the handshake.
class CertificateAuthenticator final : public Authenticator {
 public:
  explicit CertificateAuthenticator(const ServerSecurity& security) : security_(security) {}

  absl::StatusOr<PeerIdentity> Identify(const grpc::ServerContext& context) const override {
    HG_ASSIGN_OR_RETURN(PeerIdentity peer, security_.AuthenticatedPeer(context));
    switch (peer.role) {
      case pki::Role::kGateway:
      case pki::Role::kClient:
      case pki::Role::kOfficer:
        return peer;
      default:
        return absl::UnauthenticatedError("the certificate names no known role");
    }
  }

 private:
  const ServerSecurity& security_;
};

std::vector<PeerTrustOptions> PeerTrust(const config::GatewayConfig& config) {
  std::vector<PeerTrustOptions> peers;
  for (const config::PeerConfig& peer : config.peers) {
    peers.push_back({peer.id, peer.domain, peer.ca, peer.crl});
  }
  return peers;
}

class TransportSecurityImpl final : public TransportSecurity {
 public:
  explicit TransportSecurityImpl(std::unique_ptr<ServerSecurity> security)
      : security_(std::move(security)), authenticator_(*security_) {}

  std::shared_ptr<grpc::ServerCredentials> server_credentials() override {
    return security_->credentials();
  }
  const Authenticator& authenticator() const override { return authenticator_; }
  absl::StatusOr<std::shared_ptr<TrustStore>> PreparePeers(
      const config::GatewayConfig& config) override {
    return security_->PreparePeers(PeerTrust(config));
  }
  void InstallPeers(std::shared_ptr<TrustStore> trust) override {
    security_->InstallPeers(std::move(trust));
  }

 private:
  std::unique_ptr<ServerSecurity> security_;
  CertificateAuthenticator authenticator_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TransportSecurity>> TransportSecurity::Create(
    const config::GatewayConfig& config,
    std::shared_ptr<HandshakeListener> listener) {
  ServerSecurityOptions options;
  options.organisation_id = config.organisation_id;
  options.trust_domain = config.organisation_domain;
  options.ca_file = config.tls.ca;
  options.crl_file = config.tls.crl;
  options.certificate_file = config.tls.certificate;
  options.private_key_file = config.tls.private_key;
  options.peers = PeerTrust(config);
  options.reload_interval_seconds = static_cast<unsigned>(
      std::max<int64_t>(1, absl::ToInt64Seconds(config.tls.reload_interval)));
  // Generated files (staged identity, trust bundle): tls.state_dir.
  options.state_dir = config.tls.state_dir;
  HG_ASSIGN_OR_RETURN(std::unique_ptr<ServerSecurity> security,
                      MakeServerCredentials(options, std::move(listener)));
  return std::unique_ptr<TransportSecurity>(
      new TransportSecurityImpl(std::move(security)));
}

}  // namespace havengate::security
