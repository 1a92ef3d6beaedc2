#include "server/transport_security.h"

#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpcpp/security/server_credentials.h"
#include "proto/status_macros.h"

namespace havengate::server {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Maps the verified certificate's SPIFFE URI SAN to a caller.
class SpiffeAuthenticator final : public Authenticator {
 public:
  SpiffeAuthenticator(std::string own_domain,
                      std::map<std::string, std::string> org_by_domain)
      : own_domain_(std::move(own_domain)),
        org_by_domain_(std::move(org_by_domain)) {}

  absl::StatusOr<Caller> Identify(
      const grpc::ServerContext& context) const override {
    std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
    if (auth == nullptr || !auth->IsPeerAuthenticated()) {
      return absl::UnauthenticatedError("no verified client certificate");
    }
    std::vector<std::string> spiffe_ids;
    for (const grpc::string_ref& san :
         auth->FindPropertyValues(GRPC_X509_SAN_PROPERTY_NAME)) {
      std::string value(san.data(), san.size());
      if (absl::StartsWith(value, "spiffe://")) spiffe_ids.push_back(value);
    }
    if (spiffe_ids.size() != 1) {
      return absl::UnauthenticatedError(
          "the client certificate must carry exactly one SPIFFE id");
    }
    absl::string_view rest = spiffe_ids[0];
    absl::ConsumePrefix(&rest, "spiffe://");
    std::vector<std::string> parts = absl::StrSplit(rest, '/');
    auto org = org_by_domain_.find(parts[0]);
    if (org == org_by_domain_.end()) {
      return absl::UnauthenticatedError("unknown trust domain");
    }
    Caller caller;
    caller.organisation = org->second;
    caller.spiffe_id = spiffe_ids[0];
    caller.own_organisation = parts[0] == own_domain_;
    if (parts.size() == 2 && parts[1] == "gateway") {
      caller.role = Caller::Role::kGateway;
    } else if (parts.size() == 3 && parts[1] == "client" && !parts[2].empty()) {
      caller.role = Caller::Role::kClient;
      caller.name = parts[2];
    } else if (parts.size() == 3 && parts[1] == "officer" && !parts[2].empty()) {
      caller.role = Caller::Role::kOfficer;
      caller.name = parts[2];
    } else {
      return absl::UnauthenticatedError("the SPIFFE id names no known role");
    }
    return caller;
  }

 private:
  std::string own_domain_;
  std::map<std::string, std::string> org_by_domain_;
};

class TransportSecurityImpl final : public TransportSecurity {
 public:
  TransportSecurityImpl(std::shared_ptr<grpc::ServerCredentials> credentials,
                        std::unique_ptr<Authenticator> authenticator)
      : credentials_(std::move(credentials)),
        authenticator_(std::move(authenticator)) {}

  std::shared_ptr<grpc::ServerCredentials> server_credentials() override {
    return credentials_;
  }
  const Authenticator& authenticator() const override { return *authenticator_; }

 private:
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  std::unique_ptr<Authenticator> authenticator_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TransportSecurity>> TransportSecurity::Create(
    const config::GatewayConfig& config) {
  HG_ASSIGN_OR_RETURN(std::string cert, ReadFile(config.tls.certificate));
  HG_ASSIGN_OR_RETURN(std::string key, ReadFile(config.tls.private_key));
  HG_ASSIGN_OR_RETURN(std::string roots, ReadFile(config.tls.ca));
  std::map<std::string, std::string> org_by_domain;
  org_by_domain[config.organisation_domain] = config.organisation_id;
  for (const config::PeerConfig& peer : config.peers) {
    HG_ASSIGN_OR_RETURN(std::string peer_ca, ReadFile(peer.ca));
    roots += peer_ca;
    org_by_domain[peer.domain] = peer.id;
  }
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = roots;
  options.pem_key_cert_pairs.push_back({key, cert});
  return std::unique_ptr<TransportSecurity>(new TransportSecurityImpl(
      grpc::SslServerCredentials(options),
      std::make_unique<SpiffeAuthenticator>(config.organisation_domain,
                                            std::move(org_by_domain))));
}

}  // namespace havengate::server
