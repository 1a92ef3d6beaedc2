#include "server/transport_security.h"

#include "absl/strings/str_cat.h"
#include "proto/status_macros.h"

namespace havengate::server {
namespace {

// A Caller from the identity the security layer verified in the handshake.
class CertificateAuthenticator final : public Authenticator {
 public:
  explicit CertificateAuthenticator(const security::ServerSecurity& security)
      : security_(security) {}

  absl::StatusOr<Caller> Identify(
      const grpc::ServerContext& context) const override {
    HG_ASSIGN_OR_RETURN(security::PeerIdentity peer,
                        security_.AuthenticatedPeer(context));
    Caller caller;
    caller.organisation = peer.organisation_id;
    caller.spiffe_id = peer.spiffe_id;
    caller.name = peer.name;
    caller.own_organisation = peer.own_organisation;
    switch (peer.role) {
      case pki::Role::kGateway:
        caller.role = Caller::Role::kGateway;
        break;
      case pki::Role::kClient:
        caller.role = Caller::Role::kClient;
        break;
      case pki::Role::kOfficer:
        caller.role = Caller::Role::kOfficer;
        break;
      default:
        return absl::UnauthenticatedError("the certificate names no known role");
    }
    return caller;
  }

 private:
  const security::ServerSecurity& security_;
};

class TransportSecurityImpl final : public TransportSecurity {
 public:
  explicit TransportSecurityImpl(std::unique_ptr<security::ServerSecurity> security)
      : security_(std::move(security)), authenticator_(*security_) {}

  std::shared_ptr<grpc::ServerCredentials> server_credentials() override {
    return security_->credentials();
  }
  const Authenticator& authenticator() const override { return authenticator_; }

 private:
  std::unique_ptr<security::ServerSecurity> security_;
  CertificateAuthenticator authenticator_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TransportSecurity>> TransportSecurity::Create(
    const config::GatewayConfig& config,
    std::shared_ptr<security::HandshakeListener> listener) {
  security::ServerSecurityOptions options;
  options.organisation_id = config.organisation_id;
  options.trust_domain = config.organisation_domain;
  options.ca_file = config.tls.ca;
  options.crl_file = config.tls.crl;
  options.certificate_file = config.tls.certificate;
  options.private_key_file = config.tls.private_key;
  for (const config::PeerConfig& peer : config.peers) {
    options.peers.push_back({peer.id, peer.domain, peer.ca, peer.crl});
  }
  options.reload_interval_seconds = static_cast<unsigned>(
      std::max<int64_t>(1, absl::ToInt64Seconds(config.tls.reload_interval)));
  // Generated files (staged identity, trust bundle) live beside the store.
  options.state_dir = absl::StrCat(config.store_path, ".tls");
  HG_ASSIGN_OR_RETURN(std::unique_ptr<security::ServerSecurity> security,
                      security::MakeServerCredentials(options, std::move(listener)));
  return std::unique_ptr<TransportSecurity>(
      new TransportSecurityImpl(std::move(security)));
}

}  // namespace havengate::server
