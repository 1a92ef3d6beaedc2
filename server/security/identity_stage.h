// Stages the gateway's own certificate and key for gRPC's
// FileWatcherCertificateProvider so that a rotation on disk is picked up
// without a restart, without a window of broken handshakes, and never with a
// bad certificate.
//
// Why: gRPC 1.51's FileWatcherCertificateProvider reads the key and the
// certificate as two separate files and does not check that they belong
// together; an operator replacing them one after the other can make it load
// a mismatched pair, after which every new handshake fails until its next
// refresh. It also loads whatever it finds - an expired certificate, or one
// for another identity.
//
// So the operator's files are never given to gRPC directly. Each time they
// change, they are validated (key matches certificate; the certificate names
// this gateway's SPIFFE id; it verifies against the own CA and CRL now; it
// can authenticate both a server and a client) and only then published as a
// new generation under <stage_dir>:
//   gen-<N>/key.pem (0600), gen-<N>/cert.pem      one consistent pair
//   current -> gen-<N>                            swapped with one rename(2)
// gRPC watches current/key.pem and current/cert.pem. Every generation's
// files get an mtime one second later than the previous one's, so gRPC's
// torn-read check (it compares mtimes, at one-second resolution, before and
// after reading the two files) always notices a swap between its two reads
// and retries. The previous generation is kept for a reader mid-swap; older
// ones are removed. A failed validation is reported and the current identity
// stays in use; it is retried when the files or the own CA/CRL change.
//
// Thread-safety: Refresh() calls must be serialised by the caller (one
// reload thread); the accessors are thread-safe.
#ifndef HAVENGATE_SERVER_SECURITY_IDENTITY_STAGE_H_
#define HAVENGATE_SERVER_SECURITY_IDENTITY_STAGE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "certs/file_util.h"
#include "certs/spiffe_id.h"
#include "certs/trust_anchor_files.h"

namespace havengate::security {

class IdentityStage {
 public:
  // Validates and publishes the current files. Any problem is an error
  // naming the file (the daemon refuses to start). `stage_dir` is created
  // (0700) if needed; generations left by an earlier run are removed.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<IdentityStage>> Create(
      std::string certificate_file, std::string private_key_file,
      std::string stage_dir, pki::SpiffeId expected_id,
      std::shared_ptr<pki::TrustAnchorFiles> own_anchor);

  // If the operator's files or the own CA/CRL changed since the last
  // attempt: validates and publishes. OK if nothing changed or the new pair
  // was published (`published` set to true); otherwise why not.
  [[nodiscard]] absl::Status Refresh(bool* published = nullptr);

  // The paths gRPC watches.
  std::string staged_key_file() const;
  std::string staged_certificate_file() const;
  // Serial of the certificate currently published.
  std::string current_serial() const;

 private:
  IdentityStage(std::string certificate_file, std::string private_key_file,
                std::string stage_dir, pki::SpiffeId expected_id,
                std::shared_ptr<pki::TrustAnchorFiles> own_anchor)
      : certificate_file_(std::move(certificate_file)),
        private_key_file_(std::move(private_key_file)),
        stage_dir_(std::move(stage_dir)),
        expected_id_(std::move(expected_id)),
        own_anchor_(std::move(own_anchor)) {}

  // Validates the operator's files and publishes them as a new generation.
  [[nodiscard]] absl::Status ValidateAndPublish();

  const std::string certificate_file_;
  const std::string private_key_file_;
  const std::string stage_dir_;
  const pki::SpiffeId expected_id_;
  const std::shared_ptr<pki::TrustAnchorFiles> own_anchor_;

  // Refresh state (serialised by the caller).
  pki::FileFingerprint seen_cert_;
  pki::FileFingerprint seen_key_;
  uint64_t seen_anchor_generation_ = 0;
  uint64_t generation_ = 0;
  int64_t last_mtime_ = 0;

  mutable std::mutex mu_;
  std::string current_serial_;  // guarded by mu_
};

}  // namespace havengate::security

#endif  // HAVENGATE_SERVER_SECURITY_IDENTITY_STAGE_H_
