#include "server/security/peer_identity.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace havengate::security {

absl::Status RequireRole(const PeerIdentity& peer, pki::Role role) {
  return RequireRole(peer, {role});
}

absl::Status RequireRole(const PeerIdentity& peer,
                         std::initializer_list<pki::Role> roles) {
  std::vector<std::string> names;
  for (pki::Role role : roles) {
    if (peer.role == role) return absl::OkStatus();
    names.emplace_back(pki::RoleName(role));
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "this call requires role ", absl::StrJoin(names, " or "), "; ",
      peer.spiffe_id, " has role ", pki::RoleName(peer.role)));
}

absl::Status RequirePeerGateway(const PeerIdentity& peer) {
  if (peer.role == pki::Role::kGateway && !peer.own_organisation) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "this call requires role gateway of a peer organisation; ",
      peer.spiffe_id, " has role ", pki::RoleName(peer.role),
      peer.own_organisation ? " of this gateway's own organisation" : ""));
}

absl::Status RequireOwnClient(const PeerIdentity& peer) {
  if (peer.own_organisation && peer.role == pki::Role::kClient) return absl::OkStatus();
  return absl::PermissionDeniedError(
      "this call is for integration clients of this organisation "
      "(spiffe://<domain>/client/<name>)");
}

absl::Status RequireOwnOfficer(const PeerIdentity& peer) {
  if (peer.own_organisation && peer.role == pki::Role::kOfficer) return absl::OkStatus();
  return absl::PermissionDeniedError(
      "this call is for policy officers of this organisation "
      "(spiffe://<domain>/officer/<name>)");
}

}  // namespace havengate::security
