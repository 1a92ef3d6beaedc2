// Pieces the console's pages share: times, the gateway's refusals in words,
// the policy history's active entry, and the partners a policy names.
// Internal to client/console.
#ifndef HAVENGATE_CLIENT_CONSOLE_PAGE_PARTS_H_
#define HAVENGATE_CLIENT_CONSOLE_PAGE_PARTS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/timestamp.pb.h"
#include "havengate/v1/policy_admin.pb.h"

namespace havengate::console {

// "2026-11-28 14:05:00 UTC", or "-" for an unset time.
std::string When(const google::protobuf::Timestamp& t);

// An ErrorBox with what the gateway said: "CODE: message".
std::string GatewayError(absl::string_view doing, const absl::Status& status);

// The ACTIVE entry of a history, if any.
std::optional<v1::PolicyProposal> ActiveEntry(const v1::PolicyHistoryResponse& history);

// A partner as the policy file describes it.
struct PolicyPartner {
  std::string id;
  std::string name;
  std::string kind;
};

// The organisation and partners a policy's text names (empty if it does
// not parse).
struct PolicyHeader {
  std::string organisation;
  std::vector<PolicyPartner> partners;
};
PolicyHeader ReadPolicyHeader(const std::string& policy_text);

}  // namespace havengate::console

#endif  // HAVENGATE_CLIENT_CONSOLE_PAGE_PARTS_H_
