// X.509 building blocks of the havengate trust model, on OpenSSL 3 and with
// no gRPC: certificates, CRLs and private keys read from PEM, and the one
// verification routine every trust decision goes through.
//
// Verification is deliberately narrow. A leaf is checked against exactly one
// trust anchor - the CA of the trust domain its SPIFFE id claims - plus that
// CA's CRL, at an explicit time. There are no intermediate CAs in a havengate
// PKI (CAs carry pathlen:0), no system roots, no partial chains. Beyond RFC
// 5280 path validation (signatures, validity, name constraints, CRL) a leaf
// must not be a CA, must carry keyUsage digitalSignature (and neither
// keyCertSign nor cRLSign), an extendedKeyUsage with the purpose asked for,
// and exactly one URI SAN that parses as a SpiffeId. Keys and signature
// algorithms must give at least 112-bit security (OpenSSL auth level 2).
//
// A refusal is an UNAUTHENTICATED status whose message says precisely what is
// wrong and which carries a machine-readable RejectReason (GetRejectReason),
// so callers can count and audit refusals by reason.
//
// Thread-safety: Certificate, Crl and PrivateKey are immutable once built and
// may be shared across threads; all functions are thread-safe.
#ifndef HAVENGATE_CERTS_X509_H_
#define HAVENGATE_CERTS_X509_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "certs/openssl_util.h"
#include "certs/spiffe_id.h"

namespace havengate::pki {

// Why a certificate was refused. Stable names (RejectReasonName) are meant
// for metrics labels and audit records.
enum class RejectReason {
  kNoCertificate,            // the peer presented no certificate
  kMalformedCertificate,     // not parseable X.509
  kMissingSpiffeId,          // no URI SAN at all
  kInvalidSpiffeId,          // URI SAN is not a valid havengate SPIFFE id, or
                             // there is more than one URI SAN
  kUnknownTrustDomain,       // the claimed trust domain is not configured
  kUnknownIssuer,            // not issued by the CA of the claimed domain
  kForeignTrustDomain,       // issued by another configured domain's CA
  kSelfSigned,               // a self-signed leaf
  kExpired,                  // notAfter is in the past (leaf or CA)
  kNotYetValid,              // notBefore is in the future (leaf or CA)
  kRevoked,                  // listed on the CA's CRL
  kBadKeyUsage,              // keyUsage / extendedKeyUsage / basicConstraints
  kWeakCrypto,               // key or signature below 112-bit security
  kBadSignature,             // a signature does not verify
  kNameConstraintViolation,  // outside the CA's name constraints
  kCrlUnavailable,           // a CRL is required but missing, expired or bad
  kRoleNotAllowed,           // valid, but this role may not connect here
  kUnexpectedIdentity,       // valid, but not the identity we dialled
  kInvalidChain,             // any other path validation failure
};

// snake_case name, e.g. "expired", "foreign_trust_domain".
absl::string_view RejectReasonName(RejectReason reason);

// An UNAUTHENTICATED status carrying `reason`.
[[nodiscard]] absl::Status RejectionError(RejectReason reason,
                                          absl::string_view message);
// The reason carried by a status from RejectionError (or anything returned by
// the verification functions below); nullopt for other statuses.
std::optional<RejectReason> GetRejectReason(const absl::Status& status);

// An X.509 certificate. Copies share the underlying OpenSSL object.
class Certificate {
 public:
  // Exactly one PEM certificate (surrounding whitespace allowed).
  [[nodiscard]] static absl::StatusOr<Certificate> FromPem(absl::string_view pem);
  // Takes ownership; `x509` must not be null.
  static Certificate FromX509(X509Ptr x509);

  Certificate(const Certificate& other);
  Certificate& operator=(const Certificate& other);
  Certificate(Certificate&&) noexcept = default;
  Certificate& operator=(Certificate&&) noexcept = default;
  ~Certificate() = default;

  X509* native() const { return x509_.get(); }
  std::string ToPem() const;

  // Serial number as lower-case hex without leading zeros, e.g. "3fa9...".
  std::string SerialHex() const;
  // Distinguished names in RFC 2253 form.
  std::string Subject() const;
  std::string Issuer() const;
  absl::Time not_before() const;
  absl::Time not_after() const;
  // SHA-256 of the DER encoding, lower-case hex.
  std::string Sha256Fingerprint() const;
  std::vector<std::string> UriSans() const;
  std::vector<std::string> DnsSans() const;
  // IP address SANs in text form ("127.0.0.1", "::1").
  std::vector<std::string> IpSans() const;
  // basicConstraints CA:TRUE.
  bool IsCa() const;
  // The SPIFFE id in the URI SAN. RejectionError kMissingSpiffeId if there is
  // no URI SAN, kInvalidSpiffeId if there are several or it does not parse.
  [[nodiscard]] absl::StatusOr<SpiffeId> GetSpiffeId() const;
  // For a havengate CA certificate: the trust domain named by its
  // "spiffe://<domain>" URI SAN; NOT_FOUND if it carries none.
  [[nodiscard]] absl::StatusOr<std::string> CaTrustDomain() const;

 private:
  explicit Certificate(X509Ptr x509) : x509_(std::move(x509)) {}
  X509Ptr x509_;
};

// One or more PEM certificates, in order. INVALID_ARGUMENT if there are none
// or a block does not parse.
[[nodiscard]] absl::StatusOr<std::vector<Certificate>> ParsePemCertificates(
    absl::string_view pem);
[[nodiscard]] absl::StatusOr<std::vector<Certificate>> ReadCertificatesFile(
    const std::string& path);
// A file holding exactly one certificate.
[[nodiscard]] absl::StatusOr<Certificate> ReadCertificateFile(
    const std::string& path);

// A certificate revocation list. Copies share the underlying object.
class Crl {
 public:
  [[nodiscard]] static absl::StatusOr<Crl> FromPem(absl::string_view pem);
  [[nodiscard]] static absl::StatusOr<Crl> ReadFile(const std::string& path);
  static Crl FromX509Crl(X509CrlPtr crl);

  Crl(const Crl& other);
  Crl& operator=(const Crl& other);
  Crl(Crl&&) noexcept = default;
  Crl& operator=(Crl&&) noexcept = default;
  ~Crl() = default;

  X509_CRL* native() const { return crl_.get(); }
  std::string ToPem() const;
  std::string Issuer() const;
  absl::Time this_update() const;
  // InfiniteFuture() if the CRL has no nextUpdate.
  absl::Time next_update() const;
  // The cRLNumber extension, or -1 if absent.
  int64_t crl_number() const;
  // Serials (SerialHex format) of the revoked certificates.
  std::vector<std::string> RevokedSerials() const;
  bool IsRevoked(const Certificate& cert) const;
  // OK if `ca` issued this CRL (issuer name matches and the signature
  // verifies with its key); INVALID_ARGUMENT otherwise.
  [[nodiscard]] absl::Status CheckIssuedBy(const Certificate& ca) const;

 private:
  explicit Crl(X509CrlPtr crl) : crl_(std::move(crl)) {}
  X509CrlPtr crl_;
};

// A private key. It has no accessor for its encoding: the only ways out are
// signing through OpenSSL (native()) and writing a new 0600 file.
class PrivateKey {
 public:
  // A fresh ECDSA P-256 key from OpenSSL's CSPRNG.
  [[nodiscard]] static absl::StatusOr<PrivateKey> GenerateP256();
  // Reads a PEM private key. Refuses (FAILED_PRECONDITION) a file that group
  // or others can access.
  [[nodiscard]] static absl::StatusOr<PrivateKey> ReadFile(const std::string& path);

  PrivateKey(PrivateKey&&) noexcept = default;
  PrivateKey& operator=(PrivateKey&&) noexcept = default;
  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;

  EVP_PKEY* native() const { return pkey_.get(); }
  // Writes the key (PKCS#8 PEM, unencrypted) to a NEW file with mode 0600;
  // ALREADY_EXISTS naming the file if it exists.
  [[nodiscard]] absl::Status WriteToNewFile(const std::string& path) const;
  // True if `cert` carries this key's public half.
  bool Matches(const Certificate& cert) const;

 private:
  explicit PrivateKey(EvpPkeyPtr pkey) : pkey_(std::move(pkey)) {}
  EvpPkeyPtr pkey_;
};

// What the leaf will be used for: the EKU it must carry.
enum class Purpose {
  kClientAuth,  // it authenticates a TLS client (we are the server)
  kServerAuth,  // it authenticates a TLS server (we dial it)
};

// The CA of one trust domain and, optionally, that CA's current CRL. With a
// CRL every verification checks revocation and fails closed
// (kCrlUnavailable) once the CRL is past its nextUpdate.
struct TrustAnchor {
  std::string trust_domain;
  Certificate ca;
  std::optional<Crl> crl;
};

struct VerifyOptions {
  absl::Time at = absl::InfinitePast();  // required: the verification time
  Purpose purpose = Purpose::kClientAuth;
};

// Path validation of `leaf` (with optional untrusted `intermediates`) against
// exactly `anchor.ca` and `anchor.crl`, plus the leaf policy described at the
// top of this file. Does not look at the SPIFFE id.
[[nodiscard]] absl::Status VerifyCertificate(
    const Certificate& leaf, const std::vector<Certificate>& intermediates,
    const TrustAnchor& anchor, const VerifyOptions& options);

// The leaf policy alone (no path validation): not a CA; keyUsage with
// digitalSignature and without keyCertSign/cRLSign; extendedKeyUsage with
// the purpose. RejectionError kBadKeyUsage (or kMalformedCertificate).
[[nodiscard]] absl::Status CheckLeafUsage(const Certificate& leaf,
                                          Purpose purpose);

// The full havengate check: the leaf's SPIFFE id must be in
// `anchor.trust_domain` (kUnknownTrustDomain otherwise) and VerifyCertificate
// must pass. Returns the verified identity.
[[nodiscard]] absl::StatusOr<SpiffeId> VerifyPeerCertificate(
    const Certificate& leaf, const std::vector<Certificate>& intermediates,
    const TrustAnchor& anchor, const VerifyOptions& options);

// True if `ca`'s key signed `cert` and `ca`'s subject is `cert`'s issuer
// (signature only: no validity, usage or constraint checks). Used to tell a
// foreign CA's certificate apart from an unknown one.
bool SignedBy(const Certificate& cert, const Certificate& ca);

// Checks that `ca` can serve as a havengate trust anchor: a self-signed CA
// certificate (basicConstraints CA:TRUE, keyUsage keyCertSign) and, if it
// names a trust domain (CaTrustDomain), that domain is `trust_domain`.
[[nodiscard]] absl::Status ValidateCaCertificate(const Certificate& ca,
                                                 absl::string_view trust_domain);

}  // namespace havengate::pki

#endif  // HAVENGATE_CERTS_X509_H_
