// Signed audit checkpoints: the gateway signs a checkpoint's place in the
// chain (CheckpointSignedBytes: sequence and previous hash) with the private
// key of its TLS certificate — ECDSA over SHA-256 with the P-256 keys the
// havengate PKI issues — and anyone holding the gateway's certificate can
// check it offline.
//
// CheckpointSigner follows key rotation: it re-reads the certificate and
// key files at most once per `reload_interval` and keeps signing with the
// previous pair if the new files are unusable (not a matching pair).
//
// Thread-safety: CheckpointSigner and CheckpointVerifier are thread-safe.
#ifndef HAVENGATE_EVIDENCE_CHECKPOINT_SIGNATURE_H_
#define HAVENGATE_EVIDENCE_CHECKPOINT_SIGNATURE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "certs/x509.h"

namespace havengate::evidence {

struct CheckpointSignature {
  // DER-encoded signature over CheckpointSignedBytes(sequence, hash).
  std::string signature;
  // PublicKeyId of the signing key.
  std::string key_id;
};

// SHA-256 (lower-case hex) of the DER SubjectPublicKeyInfo of `key` (a
// public key, or the public half of a private one).
[[nodiscard]] absl::StatusOr<std::string> PublicKeyId(EVP_PKEY* key);

class CheckpointSigner {
 public:
  // Reads the gateway's certificate (leaf first) and private key, which
  // must match. Errors name the file and the problem.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<CheckpointSigner>>
  Create(const std::string& certificate_file,
         const std::string& private_key_file,
         absl::Duration reload_interval = absl::Seconds(10));

  // Signs the place of a checkpoint record.
  [[nodiscard]] absl::StatusOr<CheckpointSignature> Sign(
      uint64_t sequence, absl::string_view previous_hash);

  // PublicKeyId of the key currently signing.
  std::string key_id() const;

 private:
  struct KeyPair {
    pki::PrivateKey key;
    std::string key_id;
  };
  CheckpointSigner(std::string certificate_file, std::string private_key_file,
                   absl::Duration reload_interval)
      : certificate_file_(std::move(certificate_file)),
        private_key_file_(std::move(private_key_file)),
        reload_interval_(reload_interval) {}
  absl::StatusOr<std::shared_ptr<const KeyPair>> Load() const;
  void MaybeReload();

  const std::string certificate_file_;
  const std::string private_key_file_;
  const absl::Duration reload_interval_;
  mutable std::mutex mu_;
  std::shared_ptr<const KeyPair> current_;  // guarded by mu_
  absl::Time loaded_at_;                    // guarded by mu_
};

// Checks checkpoint signatures against the public keys of one or more
// certificates of the gateway (several after key rotation).
class CheckpointVerifier {
 public:
  // Every certificate in each PEM file. Errors name the file.
  [[nodiscard]] static absl::StatusOr<CheckpointVerifier> FromCertificateFiles(
      const std::vector<std::string>& files);
  [[nodiscard]] static absl::StatusOr<CheckpointVerifier> FromCertificates(
      const std::vector<pki::Certificate>& certificates);

  // OK if `signature` is a valid signature of the checkpoint at `sequence`
  // with `previous_hash` by the key `key_id` names (by any of the keys if
  // `key_id` is empty). Otherwise INVALID_ARGUMENT saying which: no key
  // with that id, or the signature does not verify.
  [[nodiscard]] absl::Status Verify(uint64_t sequence,
                                    absl::string_view previous_hash,
                                    absl::string_view signature,
                                    absl::string_view key_id) const;

  size_t key_count() const { return keys_.size(); }

 private:
  struct Key {
    std::string key_id;
    std::shared_ptr<EVP_PKEY> key;
  };
  std::vector<Key> keys_;
};

}  // namespace havengate::evidence

#endif  // HAVENGATE_EVIDENCE_CHECKPOINT_SIGNATURE_H_
