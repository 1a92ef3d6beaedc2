// An organisation's certificate authority on disk: creating it, issuing
// gateway / client / officer certificates, revoking them and publishing CRLs.
// `havenctl pki` is a thin shell over this class; tests use it to build whole
// federations of CAs in a temporary directory.
//
// A CA directory holds (see certs/README.md):
//   ca.key      the CA's ECDSA P-256 private key, mode 0600, never overwritten
//   ca.crt      the self-signed CA certificate (what peers configure)
//   index.tsv   one line per issued certificate: serial, status, times, id
//   issued/     a copy of every issued certificate, <serial>.crt
//   crlnumber   the last CRL number used
//   crl.pem     the latest CRL (what gateways watch)
//   .lock       advisory lock serialising concurrent writers
//
// Certificates: ECDSA P-256 with SHA-256; random 128-bit serials; notBefore
// backdated 5 minutes for clock skew; the CA has basicConstraints CA:TRUE,
// pathlen:0 (critical), keyUsage keyCertSign+cRLSign (critical), a URI SAN
// "spiffe://<domain>" and a critical nameConstraints extension permitting URI
// names in its own trust domain only. Leaves have the SPIFFE id as their only
// URI SAN, optional DNS and IP address SANs, keyUsage digitalSignature (critical),
// extendedKeyUsage serverAuth+clientAuth (gateway) or clientAuth
// (client/officer), basicConstraints CA:FALSE (critical), SKI and AKI.
//
// Thread-safety: a CertificateAuthority is immutable after Create/Open and
// its methods may be called concurrently; writes to the directory are
// serialised by an flock(2) on .lock, also across processes.
#ifndef HAVENGATE_CERTS_CA_H_
#define HAVENGATE_CERTS_CA_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "certs/spiffe_id.h"
#include "certs/x509.h"

namespace havengate::pki {

inline constexpr absl::Duration kDefaultCaLifetime = absl::Hours(24 * 1826);
inline constexpr absl::Duration kDefaultGatewayLifetime = absl::Hours(24 * 365);
inline constexpr absl::Duration kDefaultClientLifetime = absl::Hours(24 * 365);
inline constexpr absl::Duration kDefaultOfficerLifetime = absl::Hours(24 * 365);
inline constexpr absl::Duration kDefaultCrlValidity = absl::Hours(24 * 30);
inline constexpr absl::Duration kMaxLeafLifetime = absl::Hours(24 * 825);
// How far notBefore is set before the issuing time, for clock skew.
inline constexpr absl::Duration kBackdate = absl::Minutes(5);

// File names inside a CA directory.
inline constexpr char kCaKeyFile[] = "ca.key";
inline constexpr char kCaCertFile[] = "ca.crt";
inline constexpr char kCaIndexFile[] = "index.tsv";
inline constexpr char kCaCrlFile[] = "crl.pem";
inline constexpr char kCaIssuedDir[] = "issued";

// The default lifetime of a certificate for `role`.
absl::Duration DefaultLifetime(Role role);

struct CaOptions {
  // Organisation id, e.g. "police-nl" (becomes the subject's O).
  std::string organisation_id;
  // Trust domain, e.g. "police.nl.example".
  std::string trust_domain;
  absl::Duration lifetime = kDefaultCaLifetime;
  // Issuing time; InfinitePast means absl::Now().
  absl::Time now = absl::InfinitePast();
};

struct IssueRequest {
  Role role = Role::kClient;
  // Client or officer name (part of the SPIFFE id). For a gateway, optional:
  // it only names the files and the subject CN (default "gateway").
  std::string name;
  // Extra DNS SANs, e.g. "localhost" or the gateway's host name.
  std::vector<std::string> dns_names;
  // IP address SANs (IPv4 or IPv6 text form, e.g. "127.0.0.1"), for TLS
  // clients that check the host they dialled by address (curl, Prometheus).
  // havengate's own peers check the SPIFFE id, not these.
  std::vector<std::string> ip_addresses;
  // Zero means DefaultLifetime(role). At most kMaxLeafLifetime, and the
  // certificate may not outlive the CA.
  absl::Duration lifetime = absl::ZeroDuration();
  // Issuing time; InfinitePast means absl::Now().
  absl::Time now = absl::InfinitePast();
};

struct IssuedCertificate {
  Certificate certificate;
  std::string cert_file;  // <out_dir>/<name>.crt
  std::string key_file;   // <out_dir>/<name>.key (0600)
};

// One line of index.tsv.
struct IndexEntry {
  std::string serial;  // Certificate::SerialHex()
  bool revoked = false;
  absl::Time not_after;
  absl::Time revoked_at = absl::InfinitePast();
  std::string spiffe_id;
  std::string subject;
};

// Deviations from a correct certificate, for the hardening tests ONLY. Every
// field left unset keeps the correct value.
struct CertificateOverridesForTesting {
  std::optional<absl::Time> not_before;
  std::optional<absl::Time> not_after;
  // Replaces the URI SANs (the SPIFFE id); an empty vector means none. The
  // trust domain of these URIs is not checked.
  std::optional<std::vector<std::string>> uri_sans;
  // keyUsage bits (KU_* from openssl/x509v3.h); 0 omits the extension.
  std::optional<uint32_t> key_usage;
  // extendedKeyUsage purposes as OpenSSL NIDs (NID_server_auth,
  // NID_client_auth, NID_code_sign, ...); empty omits the extension.
  std::optional<std::vector<int>> extended_key_usage;
  // Sign the leaf with its own key (issuer = subject) instead of the CA's.
  bool self_signed = false;
};

class CertificateAuthority {
 public:
  // Creates a new CA in `dir` (created 0700 if missing). ALREADY_EXISTS if
  // `dir` already holds a CA key; INVALID_ARGUMENT for a bad organisation id,
  // trust domain or lifetime.
  [[nodiscard]] static absl::StatusOr<CertificateAuthority> Create(
      const std::string& dir, const CaOptions& options);
  // Opens an existing CA directory (reads ca.crt and ca.key and checks they
  // belong together).
  [[nodiscard]] static absl::StatusOr<CertificateAuthority> Open(
      const std::string& dir);

  CertificateAuthority(CertificateAuthority&&) noexcept = default;
  CertificateAuthority& operator=(CertificateAuthority&&) noexcept = default;

  const Certificate& certificate() const { return cert_; }
  const std::string& organisation_id() const { return organisation_id_; }
  const std::string& trust_domain() const { return trust_domain_; }
  const std::string& dir() const { return dir_; }
  std::string cert_file() const;
  std::string crl_file() const;

  // Issues a certificate and writes <out_dir>/<name>.key (0600) and
  // <out_dir>/<name>.crt (out_dir is created 0700 if missing),
  // where name is the request's name (or "gateway").
  // Refuses (ALREADY_EXISTS, naming the file) if either file exists. The
  // certificate is recorded in the index before the files are written.
  [[nodiscard]] absl::StatusOr<IssuedCertificate> Issue(
      const IssueRequest& request, const std::string& out_dir) const;

  // As Issue, with deliberate defects for tests of the verification path.
  [[nodiscard]] absl::StatusOr<IssuedCertificate> IssueForTesting(
      const IssueRequest& request,
      const CertificateOverridesForTesting& overrides,
      const std::string& out_dir) const;

  // Marks a certificate revoked in the index. NOT_FOUND if this CA never
  // issued the serial; FAILED_PRECONDITION if it is already revoked. Call
  // WriteCrl afterwards to publish the revocation.
  [[nodiscard]] absl::StatusOr<IndexEntry> RevokeSerial(
      absl::string_view serial_hex,
      absl::Time now = absl::InfinitePast()) const;
  // Same for a certificate, which must have been issued (signed) by this CA.
  [[nodiscard]] absl::StatusOr<IndexEntry> RevokeCertificate(
      const Certificate& cert, absl::Time now = absl::InfinitePast()) const;

  // Signs a CRL of every revoked certificate, valid from `now` for
  // `validity` (its nextUpdate), with the next CRL number, and writes it
  // atomically to `out_file` (default: crl.pem in the CA directory).
  [[nodiscard]] absl::StatusOr<Crl> WriteCrl(
      absl::Duration validity = kDefaultCrlValidity,
      const std::string& out_file = "",
      absl::Time now = absl::InfinitePast()) const;

  // The index, in issuing order.
  [[nodiscard]] absl::StatusOr<std::vector<IndexEntry>> ListIssued() const;

 private:
  CertificateAuthority(std::string dir, std::string organisation_id,
                       std::string trust_domain, Certificate cert,
                       std::shared_ptr<const PrivateKey> key)
      : dir_(std::move(dir)),
        organisation_id_(std::move(organisation_id)),
        trust_domain_(std::move(trust_domain)),
        cert_(std::move(cert)),
        key_(std::move(key)) {}

  [[nodiscard]] absl::StatusOr<IssuedCertificate> IssueImpl(
      const IssueRequest& request,
      const CertificateOverridesForTesting* overrides,
      const std::string& out_dir) const;

  std::string dir_;
  std::string organisation_id_;
  std::string trust_domain_;
  Certificate cert_;
  std::shared_ptr<const PrivateKey> key_;
};

}  // namespace havengate::pki

#endif  // HAVENGATE_CERTS_CA_H_
