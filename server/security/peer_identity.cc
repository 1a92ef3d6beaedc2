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

}  // namespace havengate::security
