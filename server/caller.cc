#include "server/caller.h"

#include "absl/status/status.h"

namespace havengate::server {

absl::Status RequireOwnClient(const Caller& caller) {
  if (caller.own_organisation && caller.role == Caller::Role::kClient) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      "this call is for integration clients of this organisation "
      "(spiffe://<domain>/client/<name>)");
}

absl::Status RequireOwnOfficer(const Caller& caller) {
  if (caller.own_organisation && caller.role == Caller::Role::kOfficer) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      "this call is for policy officers of this organisation "
      "(spiffe://<domain>/officer/<name>)");
}

absl::Status RequirePeerGateway(const Caller& caller) {
  if (!caller.own_organisation && caller.role == Caller::Role::kGateway) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      "this call is for the gateways of partner organisations");
}

}  // namespace havengate::server
