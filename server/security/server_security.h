// The gateway's side of the havengate trust model on gRPC: mutual-TLS server
// credentials (there is no plaintext or unauthenticated path), per-trust-
// domain verification of every client certificate in the handshake, reload of
// certificates, CAs and CRLs from disk without a restart, and the identity of
// an RPC's caller, derived from its certificate alone.
//
// Handshake: TLS 1.2 or 1.3 (gRPC 1.51's defaults; the floor and the
// forward-secret cipher suites cannot be pinned through its API, see
// certs/README.md), a client certificate is required, and every certificate
// goes through our verifier: the SPIFFE id's trust domain selects the only CA
// allowed to have issued it (own domain -> own CA; each peer's domain -> that
// peer's CA), that CA's CRL is checked, and the role must be allowed from
// that domain (own: client, officer, gateway; peers: gateway only). Each
// refusal is reported to the HandshakeListener with its reason before the
// connection is closed; no HTTP/2 frame of a refused peer is processed.
//
// Files: the operator's gateway certificate and key are validated and
// staged (IdentityStage) under <state_dir>/identity; <state_dir>/
// trust-bundle.pem holds every trusted CA (own first), regenerated when a CA
// file changes. A background thread re-checks everything every
// `reload_interval_seconds`; CA and CRL files are additionally re-checked at
// every handshake, so a new CRL applies to the very next connection.
//
// Peers added or removed by a configuration reload: the whole trust is
// replaced in one step (CurrentTrust), read once per handshake and once per
// call; a removed peer's handshakes are refused and its calls on a
// connection opened before are refused with PERMISSION_DENIED.
//
// Thread-safety: ServerSecurity is thread-safe. Destroying it stops the
// reload thread; credentials already handed to a grpc::Server stay valid
// (verification keeps working, the gateway's own certificate and the trust
// bundle are then no longer refreshed).
#ifndef HAVENGATE_SERVER_SECURITY_SERVER_SECURITY_H_
#define HAVENGATE_SERVER_SECURITY_SERVER_SECURITY_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "certs/x509.h"
#include "grpcpp/security/auth_context.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_context.h"
#include "server/security/peer_identity.h"

namespace havengate::security {

class CurrentTrust;
class IdentityStage;
class TrustStore;

// A peer organisation whose gateway may connect.
struct PeerTrustOptions {
  std::string organisation_id;  // e.g. "customs-nl"
  std::string trust_domain;     // e.g. "customs.nl.example"
  std::string ca_file;          // that organisation's CA certificate
  std::string crl_file;         // its CRL; optional (no revocation check)
};

// Filled in by the daemon's configuration loader.
struct ServerSecurityOptions {
  std::string organisation_id;   // own organisation, e.g. "police-nl"
  std::string trust_domain;      // own trust domain, e.g. "police.nl.example"
  std::string ca_file;           // own CA certificate
  std::string crl_file;          // own CRL; optional
  std::string certificate_file;  // this gateway's certificate (leaf first)
  std::string private_key_file;  // its private key (mode 0600)
  std::vector<PeerTrustOptions> peers;
  // How often files are re-checked, in seconds (at least 1).
  unsigned reload_interval_seconds = 60;
  // A directory this layer owns for generated files (created 0700).
  std::string state_dir;
};

// One refused handshake. Never holds key material; the certificate is not
// included either (audit records should not grow by kilobytes per probe).
struct HandshakeRejection {
  pki::RejectReason reason = pki::RejectReason::kInvalidChain;
  // The SPIFFE id the presented certificate claims, if it has a parseable
  // one; UNAUTHENTICATED by definition (the handshake was refused).
  std::string claimed_spiffe_id;
  // Human-readable, e.g. "certificate expired at 2026-11-01T00:00:00Z".
  std::string detail;
};

// Observes the trust layer, e.g. to count handshake failures by reason and
// audit them. Called on gRPC and reload threads: implementations must be
// thread-safe, fast and must not block or call back into gRPC.
class HandshakeListener {
 public:
  virtual ~HandshakeListener() = default;
  virtual void OnHandshakeRejected(const HandshakeRejection& rejection) = 0;
  // A changed CA, CRL, certificate or key file could not be used; what stays
  // in use is in the message.
  virtual void OnReloadProblem(const absl::Status& /*problem*/) {}
  // The gateway's own certificate was replaced (new connections use it).
  virtual void OnIdentityRotated(absl::string_view /*serial*/) {}
};

class ServerSecurity {
 public:
  ~ServerSecurity();
  ServerSecurity(const ServerSecurity&) = delete;
  ServerSecurity& operator=(const ServerSecurity&) = delete;

  // For grpc::ServerBuilder::AddListeningPort.
  std::shared_ptr<grpc::ServerCredentials> credentials() const {
    return credentials_;
  }

  // The caller of an RPC, from the certificate verified in its connection's
  // handshake. UNAUTHENTICATED if the call did not come through these
  // credentials. Works with sync and callback servers.
  [[nodiscard]] absl::StatusOr<PeerIdentity> AuthenticatedPeer(
      const grpc::ServerContextBase& context) const;
  [[nodiscard]] absl::StatusOr<PeerIdentity> AuthenticatedPeer(
      const grpc::AuthContext& auth_context) const;

  // Runs one reload pass now (also what the background thread does).
  void ReloadNow();

  // The trust `peers` would put in force instead of the configured peers
  // (their CA and CRL files loaded and checked; see TrustStore::WithPeers).
  // Changes nothing; errors name the peer and the file.
  [[nodiscard]] absl::StatusOr<std::shared_ptr<TrustStore>> PreparePeers(
      const std::vector<PeerTrustOptions>& peers);
  // Puts `trust` (from PreparePeers) in force in one step: the next
  // handshake and the next call are checked against it; the trust bundle
  // follows.
  void InstallPeers(std::shared_ptr<TrustStore> trust);

  // Serial of the gateway certificate currently presented.
  std::string current_certificate_serial() const;
  // The generated bundle of all trusted CA certificates.
  std::string trust_bundle_file() const;

 private:
  friend absl::StatusOr<std::unique_ptr<ServerSecurity>> MakeServerCredentials(
      const ServerSecurityOptions&, std::shared_ptr<HandshakeListener>);
  ServerSecurity() = default;
  void ReloadLoop();
  // One reload pass; requires reload_mu_.
  void ReloadLocked();

  ServerSecurityOptions options_;
  std::shared_ptr<HandshakeListener> listener_;
  // Read once per handshake (the verifier holds it too) and per call.
  std::shared_ptr<CurrentTrust> trust_;
  std::unique_ptr<IdentityStage> identity_;
  std::shared_ptr<grpc::ServerCredentials> credentials_;

  // std::mutex rather than absl::Mutex: Debian's Abseil is not built for
  // ThreadSanitizer, which would then see neither lock.
  std::mutex reload_mu_;        // serialises reload passes
  std::string written_bundle_;  // guarded by reload_mu_
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;  // guarded by stop_mu_
  std::thread reload_thread_;
};

// Builds the gateway's trust layer from `options`; `listener` is optional.
// Errors name the option or file and the problem; the daemon should refuse
// to start on any of them.
[[nodiscard]] absl::StatusOr<std::unique_ptr<ServerSecurity>>
MakeServerCredentials(const ServerSecurityOptions& options,
                      std::shared_ptr<HandshakeListener> listener = nullptr);

}  // namespace havengate::security

#endif  // HAVENGATE_SERVER_SECURITY_SERVER_SECURITY_H_
