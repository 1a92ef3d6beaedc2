#include "certs/channel_credentials.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "certs/trust_anchor_files.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "proto/status_macros.h"

namespace havengate::pki {
namespace {

using grpc::experimental::ExternalCertificateVerifier;
using grpc::experimental::TlsCustomVerificationCheckRequest;

absl::string_view View(grpc::string_ref s) {
  return absl::string_view(s.data(), s.size());
}

// Accepts the server only if its certificate verifies against the one CA
// (and CRL) of the dialled organisation and names exactly the expected id.
// Runs after gRPC's own chain verification, on a gRPC thread; synchronous.
class ServerIdentityVerifier final : public ExternalCertificateVerifier {
 public:
  ServerIdentityVerifier(
      std::shared_ptr<TrustAnchorFiles> anchor, SpiffeId expected,
      std::function<void(RejectReason, absl::string_view)> on_rejected)
      : anchor_(std::move(anchor)),
        expected_(std::move(expected)),
        on_rejected_(std::move(on_rejected)) {}

  bool Verify(TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/,
              grpc::Status* sync_status) override {
    absl::Status status = Check(*request);
    if (status.ok()) {
      *sync_status = grpc::Status::OK;
      return true;
    }
    if (on_rejected_) {
      on_rejected_(GetRejectReason(status).value_or(RejectReason::kInvalidChain),
                   status.message());
    }
    *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                std::string(status.message()));
    return true;
  }

  void Cancel(TlsCustomVerificationCheckRequest* /*request*/) override {}

 private:
  absl::Status Check(const TlsCustomVerificationCheckRequest& request) {
    if (request.peer_cert().size() == 0) {
      return RejectionError(RejectReason::kNoCertificate,
                            "the server presented no certificate");
    }
    absl::StatusOr<Certificate> leaf = Certificate::FromPem(View(request.peer_cert()));
    if (!leaf.ok()) {
      return RejectionError(RejectReason::kMalformedCertificate,
                            leaf.status().message());
    }
    std::vector<Certificate> chain;
    if (request.peer_cert_full_chain().size() > 0) {
      absl::StatusOr<std::vector<Certificate>> parsed =
          ParsePemCertificates(View(request.peer_cert_full_chain()));
      if (parsed.ok()) chain = *std::move(parsed);
    }
    // A broken or changed file keeps or fails closed as TrustAnchorFiles
    // documents; its status concerns the operator, not this handshake.
    anchor_->Refresh().IgnoreError();
    std::shared_ptr<const TrustAnchorSnapshot> snapshot = anchor_->Current();
    absl::StatusOr<SpiffeId> id = VerifyAgainstSnapshot(
        *leaf, chain, *snapshot, {absl::Now(), Purpose::kServerAuth});
    if (!id.ok()) return id.status();
    if (*id != expected_) {
      return RejectionError(
          RejectReason::kUnexpectedIdentity,
          absl::StrCat("the server is ", id->ToString(), ", expected ",
                       expected_.ToString()));
    }
    return absl::OkStatus();
  }

  const std::shared_ptr<TrustAnchorFiles> anchor_;
  const SpiffeId expected_;
  const std::function<void(RejectReason, absl::string_view)> on_rejected_;
};

absl::Status CheckOwnIdentity(const ChannelCredentialsOptions& options) {
  HG_ASSIGN_OR_RETURN(std::vector<Certificate> chain,
                      ReadCertificatesFile(options.certificate_file));
  const Certificate& cert = chain.front();
  HG_ASSIGN_OR_RETURN(PrivateKey key,
                      PrivateKey::ReadFile(options.private_key_file));
  if (!key.Matches(cert)) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.private_key_file, " is not the private key of ",
                     options.certificate_file));
  }
  const absl::Time now = absl::Now();
  if (cert.not_after() < now) {
    return absl::FailedPreconditionError(absl::StrCat(
        options.certificate_file, ": certificate expired at ",
        absl::FormatTime(cert.not_after(), absl::UTCTimeZone())));
  }
  absl::StatusOr<SpiffeId> id = cert.GetSpiffeId();
  if (!id.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.certificate_file, ": ", id.status().message()));
  }
  absl::Status usage = CheckLeafUsage(cert, Purpose::kClientAuth);
  if (!usage.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.certificate_file, ": ", usage.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ChannelCredentialsOptions& options) {
  if (options.certificate_file.empty() || options.private_key_file.empty()) {
    return absl::InvalidArgumentError(
        "a certificate file and a private key file are required (mutual TLS)");
  }
  if (options.ca_file.empty()) {
    return absl::InvalidArgumentError(
        "the CA file of the organisation to dial is required");
  }
  if (options.reload_interval_seconds == 0) {
    return absl::InvalidArgumentError("reload interval must be at least 1 s");
  }
  absl::StatusOr<SpiffeId> expected = SpiffeId::Parse(options.expected_server_id);
  if (!expected.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected server id: ", expected.status().message()));
  }
  HG_RETURN_IF_ERROR(CheckOwnIdentity(options));
  HG_ASSIGN_OR_RETURN(std::unique_ptr<TrustAnchorFiles> anchor,
                      TrustAnchorFiles::Load(expected->trust_domain(),
                                             options.ca_file, options.crl_file));

  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          options.private_key_file, options.certificate_file, options.ca_file,
          options.reload_interval_seconds);
  grpc::experimental::TlsChannelCredentialsOptions tls;
  tls.set_certificate_provider(std::move(provider));
  tls.watch_root_certs();
  tls.watch_identity_key_cert_pairs();
  // gRPC verifies the chain against the one CA as well (defence in depth).
  tls.set_verify_server_certs(true);
  tls.set_certificate_verifier(
      ExternalCertificateVerifier::Create<ServerIdentityVerifier>(
          std::shared_ptr<TrustAnchorFiles>(std::move(anchor)), *expected,
          options.on_server_rejected));
  // The SPIFFE id replaces host names: no per-call host check either. Only
  // ever disabled here, together with the verifier above.
  tls.set_check_call_host(false);
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::experimental::TlsCredentials(tls);
  if (credentials == nullptr) {
    return absl::InternalError("gRPC refused the TLS channel options");
  }
  return credentials;
}

}  // namespace havengate::pki
