#include "server/security/server_security.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "certs/file_util.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "proto/status_macros.h"
#include "server/security/identity_stage.h"
#include "server/security/trust_store.h"

namespace havengate::security {
namespace {

using grpc::experimental::ExternalCertificateVerifier;
using grpc::experimental::TlsCustomVerificationCheckRequest;

constexpr char kIdentityDir[] = "identity";
constexpr char kTrustBundleFile[] = "trust-bundle.pem";

absl::string_view View(grpc::string_ref s) {
  return absl::string_view(s.data(), s.size());
}

// Verifies every client certificate in the handshake, after the TLS
// handshake proper (the client has proven possession of the key) and before
// gRPC processes any HTTP/2 frame from the client. Synchronous.
class ClientCertificateVerifier final : public ExternalCertificateVerifier {
 public:
  ClientCertificateVerifier(std::shared_ptr<CurrentTrust> trust,
                            std::shared_ptr<HandshakeListener> listener)
      : trust_(std::move(trust)), listener_(std::move(listener)) {}

  bool Verify(TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/,
              grpc::Status* sync_status) override {
    std::string claimed;
    absl::StatusOr<PeerIdentity> peer =
        trust_->Get()->VerifyClient(View(request->peer_cert()),
                             View(request->peer_cert_full_chain()),
                             absl::Now(), &claimed);
    if (peer.ok()) {
      *sync_status = grpc::Status::OK;
      return true;
    }
    if (listener_ != nullptr) {
      HandshakeRejection rejection;
      rejection.reason = pki::GetRejectReason(peer.status())
                             .value_or(pki::RejectReason::kInvalidChain);
      rejection.claimed_spiffe_id = std::move(claimed);
      rejection.detail = std::string(peer.status().message());
      listener_->OnHandshakeRejected(rejection);
    }
    *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                std::string(peer.status().message()));
    return true;
  }

  void Cancel(TlsCustomVerificationCheckRequest* /*request*/) override {}

 private:
  const std::shared_ptr<CurrentTrust> trust_;
  const std::shared_ptr<HandshakeListener> listener_;
};

absl::Status ValidateOptions(const ServerSecurityOptions& o) {
  auto required = [](const std::string& value, absl::string_view name) {
    return value.empty() ? absl::InvalidArgumentError(
                               absl::StrCat(name, " is required"))
                         : absl::OkStatus();
  };
  HG_RETURN_IF_ERROR(required(o.organisation_id, "organisation id"));
  HG_RETURN_IF_ERROR(required(o.trust_domain, "trust domain"));
  HG_RETURN_IF_ERROR(required(o.ca_file, "CA file"));
  HG_RETURN_IF_ERROR(required(o.certificate_file, "certificate file"));
  HG_RETURN_IF_ERROR(required(o.private_key_file, "private key file"));
  HG_RETURN_IF_ERROR(required(o.state_dir, "state directory"));
  for (const PeerTrustOptions& peer : o.peers) {
    HG_RETURN_IF_ERROR(required(peer.ca_file, absl::StrCat(
        "CA file of peer ", peer.organisation_id)));
  }
  if (o.reload_interval_seconds == 0) {
    return absl::InvalidArgumentError("reload interval must be at least 1 s");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerSecurity>> MakeServerCredentials(
    const ServerSecurityOptions& options,
    std::shared_ptr<HandshakeListener> listener) {
  HG_RETURN_IF_ERROR(ValidateOptions(options));
  HG_RETURN_IF_ERROR(pki::EnsureDirectory(options.state_dir, 0700));

  std::unique_ptr<ServerSecurity> security(new ServerSecurity());
  security->options_ = options;
  security->listener_ = listener;

  TrustDomainConfig own{options.organisation_id, options.trust_domain,
                        options.ca_file, options.crl_file};
  std::vector<TrustDomainConfig> peers;
  for (const PeerTrustOptions& p : options.peers) {
    peers.push_back({p.organisation_id, p.trust_domain, p.ca_file, p.crl_file});
  }
  std::function<void(const absl::Status&)> on_problem;
  if (listener != nullptr) {
    on_problem = [listener](const absl::Status& s) { listener->OnReloadProblem(s); };
  }
  HG_ASSIGN_OR_RETURN(std::shared_ptr<TrustStore> trust,
                      TrustStore::Create(own, peers, std::move(on_problem)));
  security->trust_ = std::make_shared<CurrentTrust>(std::move(trust));
  {
    // Reports a stale CRL right away (the daemon starts; that domain is
    // refused until a fresh CRL arrives).
    std::lock_guard<std::mutex> lock(security->reload_mu_);
    security->trust_->Get()->RefreshAll(absl::Now());
  }

  HG_ASSIGN_OR_RETURN(pki::SpiffeId own_id,
                      pki::SpiffeId::Make(options.trust_domain,
                                          pki::Role::kGateway));
  HG_ASSIGN_OR_RETURN(
      security->identity_,
      IdentityStage::Create(options.certificate_file, options.private_key_file,
                            pki::JoinPath(options.state_dir, kIdentityDir),
                            own_id, security->trust_->Get()->own_anchor()));
  {
    std::lock_guard<std::mutex> lock(security->reload_mu_);
    security->written_bundle_ = security->trust_->Get()->CaBundlePem();
    HG_RETURN_IF_ERROR(pki::WriteFileAtomically(
        security->trust_bundle_file(), security->written_bundle_, 0644));
  }

  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          security->identity_->staged_key_file(),
          security->identity_->staged_certificate_file(),
          security->trust_bundle_file(), options.reload_interval_seconds);
  grpc::experimental::TlsServerCredentialsOptions tls(std::move(provider));
  tls.watch_root_certs();
  tls.watch_identity_key_cert_pairs();
  // A client certificate is required by the TLS handshake itself; its
  // verification is done entirely by ClientCertificateVerifier, which is
  // always installed with it. (With ..._AND_VERIFY OpenSSL would check the
  // chain against the whole bundle first and refuse expired, unknown-CA,
  // self-signed or wrong-usage certificates before our verifier runs, so
  // those refusals could be neither attributed to a domain nor reported.)
  tls.set_cert_request_type(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  tls.set_certificate_verifier(
      ExternalCertificateVerifier::Create<ClientCertificateVerifier>(
          security->trust_, listener));
  security->credentials_ = grpc::experimental::TlsServerCredentials(tls);
  if (security->credentials_ == nullptr) {
    return absl::InternalError("gRPC refused the TLS server options");
  }
  security->reload_thread_ = std::thread([s = security.get()] { s->ReloadLoop(); });
  return security;
}

ServerSecurity::~ServerSecurity() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (reload_thread_.joinable()) reload_thread_.join();
}

void ServerSecurity::ReloadLoop() {
  const std::chrono::seconds interval(options_.reload_interval_seconds);
  while (true) {
    {
      std::unique_lock<std::mutex> lock(stop_mu_);
      if (stop_cv_.wait_for(lock, interval, [this] { return stop_; })) return;
    }
    ReloadNow();
  }
}

void ServerSecurity::ReloadNow() {
  std::lock_guard<std::mutex> lock(reload_mu_);
  ReloadLocked();
}

absl::StatusOr<std::shared_ptr<TrustStore>> ServerSecurity::PreparePeers(
    const std::vector<PeerTrustOptions>& peers) {
  std::vector<TrustDomainConfig> domains;
  for (const PeerTrustOptions& p : peers) {
    if (p.ca_file.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("CA file of peer ", p.organisation_id, " is required"));
    }
    domains.push_back({p.organisation_id, p.trust_domain, p.ca_file, p.crl_file});
  }
  std::lock_guard<std::mutex> lock(reload_mu_);
  return trust_->Get()->WithPeers(domains);
}

void ServerSecurity::InstallPeers(std::shared_ptr<TrustStore> trust) {
  std::lock_guard<std::mutex> lock(reload_mu_);
  trust_->Replace(std::move(trust));
  ReloadLocked();  // the trust bundle follows
}

void ServerSecurity::ReloadLocked() {
  std::shared_ptr<TrustStore> trust = trust_->Get();
  trust->RefreshAll(absl::Now());
  // Handshakes refresh CA files too, so compare contents rather than relying
  // on having seen the change here.
  std::string bundle = trust->CaBundlePem();
  if (bundle != written_bundle_) {
    absl::Status written =
        pki::WriteFileAtomically(trust_bundle_file(), bundle, 0644);
    if (written.ok()) {
      written_bundle_ = std::move(bundle);
    } else if (listener_ != nullptr) {
      listener_->OnReloadProblem(written);
    }
  }
  bool published = false;
  absl::Status status = identity_->Refresh(&published);
  if (listener_ != nullptr) {
    if (!status.ok()) listener_->OnReloadProblem(status);
    if (published) listener_->OnIdentityRotated(identity_->current_serial());
  }
}

std::string ServerSecurity::current_certificate_serial() const {
  return identity_->current_serial();
}

std::string ServerSecurity::trust_bundle_file() const {
  return pki::JoinPath(options_.state_dir, kTrustBundleFile);
}

absl::StatusOr<PeerIdentity> ServerSecurity::AuthenticatedPeer(
    const grpc::ServerContextBase& context) const {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) {
    return absl::UnauthenticatedError("the call carries no security context");
  }
  return AuthenticatedPeer(*auth);
}

absl::StatusOr<PeerIdentity> ServerSecurity::AuthenticatedPeer(
    const grpc::AuthContext& auth) const {
  if (!auth.IsPeerAuthenticated()) {
    return absl::UnauthenticatedError(
        "the call carries no verified client certificate");
  }
  std::vector<grpc::string_ref> type =
      auth.FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
  if (type.size() != 1 || View(type[0]) != GRPC_TLS_TRANSPORT_SECURITY_TYPE) {
    return absl::UnauthenticatedError(
        "the call did not arrive through the gateway's TLS credentials");
  }
  std::vector<grpc::string_ref> pems =
      auth.FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pems.size() != 1) {
    return absl::UnauthenticatedError(
        "the call carries no single client certificate");
  }
  absl::StatusOr<pki::Certificate> cert = pki::Certificate::FromPem(View(pems[0]));
  if (!cert.ok()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the client certificate does not parse: ", cert.status().message()));
  }
  absl::StatusOr<pki::SpiffeId> id = cert->GetSpiffeId();
  if (!id.ok()) return id.status();
  return trust_->Get()->IdentityOf(*id, cert->SerialHex());
}

}  // namespace havengate::security
