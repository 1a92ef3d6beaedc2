#include "client/console/page_parts.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/console/html.h"
#include "proto/timestamp.h"
#include "yaml-cpp/yaml.h"

namespace havengate::console {

std::string When(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", FromTimestamp(t), absl::UTCTimeZone());
}

std::string GatewayError(absl::string_view doing, const absl::Status& status) {
  return ErrorBox(absl::StrCat(doing, ": the gateway answered ",
                               absl::StatusCodeToString(status.code()), ": ",
                               status.message()));
}

std::optional<v1::PolicyProposal> ActiveEntry(const v1::PolicyHistoryResponse& history) {
  for (const v1::PolicyProposal& p : history.proposals()) {
    if (p.state() == v1::PolicyProposal::ACTIVE) return p;
  }
  return std::nullopt;
}

PolicyHeader ReadPolicyHeader(const std::string& policy_text) {
  PolicyHeader header;
  try {
    YAML::Node root = YAML::Load(policy_text);
    if (root["organisation"]) header.organisation = root["organisation"].as<std::string>();
    for (const YAML::Node& partner : root["partners"]) {
      PolicyPartner p;
      if (partner["id"]) p.id = partner["id"].as<std::string>();
      if (partner["name"]) p.name = partner["name"].as<std::string>();
      if (partner["kind"]) p.kind = partner["kind"].as<std::string>();
      header.partners.push_back(std::move(p));
    }
  } catch (const YAML::Exception&) {
    // The gateway checked the active policy; a text it accepted reads.
  }
  return header;
}

}  // namespace havengate::console
