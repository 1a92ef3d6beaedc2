// SPIFFE identities of havengate principals. Every certificate in a havengate
// federation carries exactly one URI SAN of one of these shapes, and the
// organisation and role of a caller are derived from it alone:
//
//   spiffe://<trust-domain>/gateway          an organisation's gateway
//   spiffe://<trust-domain>/client/<name>    an integration client
//   spiffe://<trust-domain>/officer/<name>   a policy officer
//
// Parsing is strict, so one identity has exactly one spelling: the scheme is
// lower-case "spiffe"; the trust domain is a lower-case DNS-style name
// (labels of [a-z0-9-], 1-63 characters, not starting or ending with '-',
// at most 253 characters, last label not all digits) with no port, user info
// or trailing dot; the path is exactly one of the shapes above with no
// trailing slash, query, fragment or percent-encoding; a name is
// [a-z0-9._-]{1,64} starting with a letter or digit.
//
// Thread-safety: SpiffeId is an immutable value type.
#ifndef HAVENGATE_CERTS_SPIFFE_ID_H_
#define HAVENGATE_CERTS_SPIFFE_ID_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace havengate::pki {

// What a principal may do is decided by its role (see design.md, Trust model).
enum class Role {
  kGateway,  // a gateway node; peers' gateways use federation
  kClient,   // an integration client: ingest and read its organisation's inbox
  kOfficer,  // a policy officer: policy administration
};

// "gateway", "client", "officer".
absl::string_view RoleName(Role role);
// Inverse of RoleName; INVALID_ARGUMENT for anything else.
[[nodiscard]] absl::StatusOr<Role> ParseRole(absl::string_view name);

class SpiffeId {
 public:
  // Parses a URI as described above; INVALID_ARGUMENT says what is wrong.
  [[nodiscard]] static absl::StatusOr<SpiffeId> Parse(absl::string_view uri);
  // Builds an identity from parts, validating them as Parse would. `name` must
  // be empty for kGateway and non-empty otherwise.
  [[nodiscard]] static absl::StatusOr<SpiffeId> Make(
      absl::string_view trust_domain, Role role, absl::string_view name = "");

  // OK if `trust_domain` is a valid trust domain name (no scheme).
  [[nodiscard]] static absl::Status ValidateTrustDomain(
      absl::string_view trust_domain);
  // OK if `name` is a valid client/officer name.
  [[nodiscard]] static absl::Status ValidateName(absl::string_view name);
  // Parses "spiffe://<trust-domain>" (no path), the identity of a trust domain
  // itself that havengate puts in its CA certificates; returns the domain.
  [[nodiscard]] static absl::StatusOr<std::string> ParseTrustDomainUri(
      absl::string_view uri);
  // "spiffe://<trust-domain>".
  static std::string TrustDomainUri(absl::string_view trust_domain);

  const std::string& trust_domain() const { return trust_domain_; }
  Role role() const { return role_; }
  // The client or officer name; empty for a gateway.
  const std::string& name() const { return name_; }
  // The canonical URI, e.g. "spiffe://police.nl.example/client/case-system".
  std::string ToString() const;

  friend bool operator==(const SpiffeId& a, const SpiffeId& b) {
    return a.trust_domain_ == b.trust_domain_ && a.role_ == b.role_ &&
           a.name_ == b.name_;
  }
  friend bool operator!=(const SpiffeId& a, const SpiffeId& b) {
    return !(a == b);
  }
  friend std::ostream& operator<<(std::ostream& os, const SpiffeId& id) {
    return os << id.ToString();
  }

 private:
  SpiffeId(std::string trust_domain, Role role, std::string name)
      : trust_domain_(std::move(trust_domain)),
        role_(role),
        name_(std::move(name)) {}

  std::string trust_domain_;
  Role role_;
  std::string name_;
};

}  // namespace havengate::pki

#endif  // HAVENGATE_CERTS_SPIFFE_ID_H_
