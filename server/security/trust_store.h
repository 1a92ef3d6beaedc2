// The gateway's per-trust-domain trust: which organisation each configured
// SPIFFE trust domain belongs to, the ONE CA allowed to issue certificates in
// it (with its CRL), and which roles may connect from it. It is what makes a
// partner's CA unable to mint a certificate that passes as another partner:
// the trust domain a certificate claims selects the only CA it is verified
// against.
//
// Role policy: the own trust domain may connect as client, officer or
// gateway (a replica); a peer's trust domain only as gateway.
//
// Thread-safety: thread-safe. Verification runs concurrently on gRPC's
// handshake threads; each call re-checks the claimed domain's CA and CRL
// files (two stat(2) calls) so that a new CRL takes effect at the very next
// handshake.
#ifndef HAVENGATE_SERVER_SECURITY_TRUST_STORE_H_
#define HAVENGATE_SERVER_SECURITY_TRUST_STORE_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "certs/trust_anchor_files.h"
#include "certs/x509.h"
#include "server/security/peer_identity.h"

namespace havengate::security {

// One trust domain as configured.
struct TrustDomainConfig {
  std::string organisation_id;
  std::string trust_domain;
  std::string ca_file;
  std::string crl_file;  // empty: the domain publishes no CRL
};

class TrustStore {
 public:
  // Loads every domain's CA and CRL. Errors name the domain and file:
  // invalid ids or domains, a domain or organisation configured twice, a CA
  // file that is not a self-signed CA of its domain, a CRL not of that CA.
  // `on_problem` (optional; called on any thread, must not block) receives
  // each problem with a changed CA or CRL file, once per change.
  [[nodiscard]] static absl::StatusOr<std::shared_ptr<TrustStore>> Create(
      const TrustDomainConfig& own, const std::vector<TrustDomainConfig>& peers,
      std::function<void(const absl::Status&)> on_problem = nullptr);

  // The trust of the same own domain with `peers` instead of this store's
  // (a configuration reload): a peer whose id, domain, CA and CRL files are
  // unchanged keeps its loaded files; new or changed ones are loaded and
  // checked as in Create. A peer domain this store has and `peers` lacks
  // becomes retired: refused in handshakes like any unknown domain, and a
  // call on a connection it opened earlier is refused with
  // PERMISSION_DENIED (IdentityOf). Changes nothing in this store; call
  // serialised with RefreshAll.
  [[nodiscard]] absl::StatusOr<std::shared_ptr<TrustStore>> WithPeers(
      const std::vector<TrustDomainConfig>& peers) const;

  // Verifies a client certificate presented in a handshake (PEM leaf and the
  // peer's PEM chain, which may be empty) at `now`. On success the caller's
  // identity; otherwise a pki::RejectionError. `claimed_id` (optional)
  // receives the SPIFFE id the certificate claims whenever it has one, for
  // reporting - it is unauthenticated unless the call succeeded.
  [[nodiscard]] absl::StatusOr<PeerIdentity> VerifyClient(
      absl::string_view leaf_pem, absl::string_view chain_pem, absl::Time now,
      std::string* claimed_id = nullptr) const;

  // Identity of an already verified certificate: trust domain -> organisation
  // and the role policy. UNAUTHENTICATED if the domain is not configured or
  // the role may not connect from it; PERMISSION_DENIED if it belonged to a
  // peer removed by a reload.
  [[nodiscard]] absl::StatusOr<PeerIdentity> IdentityOf(
      const pki::SpiffeId& id, std::string certificate_serial) const;

  // Reloads changed CA / CRL files of every domain, reporting problems to
  // on_problem. Also reports, once each time it happens, a domain whose CRL
  // has become unusable (e.g. past its nextUpdate) at `now`. Calls must be
  // serialised.
  void RefreshAll(absl::Time now);

  // Every domain's current CA certificate, own domain first (PEM).
  std::string CaBundlePem() const;

  // The own domain's CA and CRL files.
  std::shared_ptr<pki::TrustAnchorFiles> own_anchor() const;
  const std::string& own_trust_domain() const { return own_domain_; }

 private:
  struct Domain {
    TrustDomainConfig config;
    std::string organisation_id;
    bool own = false;
    std::shared_ptr<pki::TrustAnchorFiles> files;
    // Whether the last RefreshAll found the CRL unusable. Only RefreshAll
    // (serialised by its caller) touches it.
    bool crl_unusable = false;
  };

  TrustStore() = default;
  void Report(const absl::Status& problem) const;
  // Adds `config`'s domain, reusing `reuse` (loaded for the same settings)
  // if given. Errors name the organisation and file.
  absl::Status AddDomain(const TrustDomainConfig& config, bool own,
                         const Domain* reuse);

  std::string own_domain_;
  std::function<void(const absl::Status&)> on_problem_;
  // Keyed by trust domain; immutable after Create.
  std::map<std::string, Domain> domains_;
  // Trust domain -> organisation of peers removed by reloads (and not
  // configured again); immutable after WithPeers.
  std::map<std::string, std::string> retired_;
};

// The TrustStore in force, replaced as a whole when the peers change (a
// configuration reload). Each handshake and each call reads it once, so
// either sees the old trust or the new one, never a mix, and never none.
// Thread-safe.
class CurrentTrust {
 public:
  explicit CurrentTrust(std::shared_ptr<TrustStore> store) : store_(std::move(store)) {}
  std::shared_ptr<TrustStore> Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return store_;
  }
  void Replace(std::shared_ptr<TrustStore> store) {
    std::lock_guard<std::mutex> lock(mu_);
    store_ = std::move(store);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<TrustStore> store_;  // guarded by mu_; never null
};

}  // namespace havengate::security

#endif  // HAVENGATE_SERVER_SECURITY_TRUST_STORE_H_
