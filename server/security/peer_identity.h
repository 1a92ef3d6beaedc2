// Who is on the other end of a connection to this gateway, as proven by the
// certificate verified in the mutual-TLS handshake - never taken from request
// fields - and the role checks every RPC starts with. The one identity type
// of the daemon: the security layer produces it (Authenticator, in
// transport_security.h), the services, sharing and the audit read it.
//
// Thread-safety: PeerIdentity is a plain value; the functions are pure.
#ifndef HAVENGATE_SERVER_SECURITY_PEER_IDENTITY_H_
#define HAVENGATE_SERVER_SECURITY_PEER_IDENTITY_H_

#include <initializer_list>
#include <string>

#include "absl/status/status.h"
#include "certs/spiffe_id.h"

namespace havengate::security {

struct PeerIdentity {
  // The certificate's SPIFFE id, e.g. "spiffe://police.nl.example/client/pcs".
  std::string spiffe_id;
  // Its trust domain, e.g. "police.nl.example".
  std::string trust_domain;
  // The organisation that trust domain belongs to in this gateway's trust
  // configuration, e.g. "police-nl".
  std::string organisation_id;
  pki::Role role = pki::Role::kClient;
  // The client or officer name; empty for a gateway.
  std::string name;
  // True if the peer belongs to this gateway's own organisation.
  bool own_organisation = false;
  // Serial of the peer's certificate (lower-case hex), for audit records.
  std::string certificate_serial;
};

// OK if `peer` has `role`; otherwise PERMISSION_DENIED naming the role the
// call requires and the role the caller has.
[[nodiscard]] absl::Status RequireRole(const PeerIdentity& peer, pki::Role role);
// OK if `peer` has one of `roles`.
[[nodiscard]] absl::Status RequireRole(const PeerIdentity& peer,
                                       std::initializer_list<pki::Role> roles);
// OK if `peer` is the gateway of a peer organisation (federation calls).
[[nodiscard]] absl::Status RequirePeerGateway(const PeerIdentity& peer);
// OK if `peer` is an integration client of this gateway's organisation
// (ingest, inbox); otherwise PERMISSION_DENIED naming the role required.
[[nodiscard]] absl::Status RequireOwnClient(const PeerIdentity& peer);
// OK if `peer` is a policy officer of this gateway's organisation.
[[nodiscard]] absl::Status RequireOwnOfficer(const PeerIdentity& peer);

}  // namespace havengate::security

#endif  // HAVENGATE_SERVER_SECURITY_PEER_IDENTITY_H_
