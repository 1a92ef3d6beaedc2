// A trust domain's CA certificate file and (optional) CRL file, kept loaded
// and reloaded when either file changes on disk - the unit of trust that the
// channel credentials (one per dialled server) and the gateway's server
// credentials (one per configured trust domain) verify peers against.
//
// Reload rules, all fail-closed:
// - A file is re-read when its stat(2) fingerprint changes (rename over it,
//   rewrite, touch). A file that fails to load is not retried until it
//   changes again; each failure is reported once, by Refresh's status.
// - A broken CA file never replaces a good CA.
// - A broken CRL, or one not signed by the CA, never replaces a good CRL.
// - When the CA changes, the CRL is re-checked against the new CA. If it
//   does not belong to it, the domain has no usable CRL and every
//   certificate of the domain is refused (kCrlUnavailable) until a matching
//   CRL is in place: replacing a CA never silently disables revocation.
// - An expired CRL is still loaded (and reported); verification then refuses
//   the domain's certificates until a fresh CRL arrives.
//
// Thread-safety: thread-safe. Current() never blocks on file I/O; Refresh()
// calls are serialised.
#ifndef HAVENGATE_CERTS_TRUST_ANCHOR_FILES_H_
#define HAVENGATE_CERTS_TRUST_ANCHOR_FILES_H_

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "certs/file_util.h"
#include "certs/x509.h"

namespace havengate::pki {

// The loaded state of a domain: its anchor for VerifyCertificate, and
// whether a CRL is configured (so a missing one means refuse everything).
struct TrustAnchorSnapshot {
  TrustAnchor anchor;
  bool crl_configured = false;
  // Bumped on every change of CA or CRL, for callers that cache derived data.
  uint64_t generation = 0;
};

class TrustAnchorFiles {
 public:
  // Loads both files; any problem (missing file, not a self-signed CA of
  // `trust_domain`, CRL not signed by that CA) is an error naming the file.
  // An empty `crl_file` means the domain publishes no CRL.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<TrustAnchorFiles>> Load(
      std::string trust_domain, std::string ca_file, std::string crl_file);

  // Re-checks the files and reloads what changed. OK if nothing changed or
  // everything changed loaded; otherwise the (first) problem, after applying
  // the rules above. `changed` (optional) says whether the snapshot changed.
  [[nodiscard]] absl::Status Refresh(bool* changed = nullptr);

  std::shared_ptr<const TrustAnchorSnapshot> Current() const;

  // FAILED_PRECONDITION if a CRL is configured but none is usable at `now`
  // (none loaded, or past its nextUpdate): every certificate of the domain
  // is then refused. OK otherwise.
  [[nodiscard]] absl::Status CheckCrlUsable(absl::Time now) const;

  const std::string& trust_domain() const { return trust_domain_; }
  const std::string& ca_file() const { return ca_file_; }
  const std::string& crl_file() const { return crl_file_; }

 private:
  TrustAnchorFiles(std::string trust_domain, std::string ca_file,
                   std::string crl_file)
      : trust_domain_(std::move(trust_domain)),
        ca_file_(std::move(ca_file)),
        crl_file_(std::move(crl_file)) {}

  [[nodiscard]] absl::StatusOr<Certificate> LoadCa() const;
  [[nodiscard]] absl::StatusOr<Crl> LoadCrl(const Certificate& ca) const;

  const std::string trust_domain_;
  const std::string ca_file_;
  const std::string crl_file_;

  // std::mutex rather than absl::Mutex: Debian's Abseil is not built for
  // ThreadSanitizer, which would then see neither lock.
  std::mutex refresh_mu_;
  FileFingerprint seen_ca_;   // guarded by refresh_mu_
  FileFingerprint seen_crl_;  // guarded by refresh_mu_

  mutable std::mutex snapshot_mu_;
  std::shared_ptr<const TrustAnchorSnapshot> snapshot_;  // guarded by snapshot_mu_
};

// Verifies `leaf` against the snapshot: VerifyPeerCertificate, plus
// kCrlUnavailable if a CRL is configured but none is usable.
[[nodiscard]] absl::StatusOr<SpiffeId> VerifyAgainstSnapshot(
    const Certificate& leaf, const std::vector<Certificate>& intermediates,
    const TrustAnchorSnapshot& snapshot, const VerifyOptions& options);

}  // namespace havengate::pki

#endif  // HAVENGATE_CERTS_TRUST_ANCHOR_FILES_H_
