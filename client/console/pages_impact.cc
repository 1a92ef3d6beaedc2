// The Impact page: what would change if a proposal replaced the active
// policy, over the items the gateway stored in a period (PolicyAdmin.Diff):
// per partner the fields gained, lost or changed and in how many items,
// with a drill-down to the items.
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/console/html.h"
#include "client/console/page_parts.h"
#include "client/console/pages.h"
#include "proto/timestamp.h"

namespace havengate::console {
namespace {

std::string List(const google::protobuf::RepeatedPtrField<std::string>& values) {
  if (values.empty()) return "-";
  std::string out = "<ul>";
  for (const std::string& v : values) absl::StrAppend(&out, "<li>", Escape(v), "</li>");
  return absl::StrCat(out, "</ul>");
}

}  // namespace

std::string ImpactPage(Gateway& gateway, const Params& params) {
  const std::string& proposal = Param(params, "proposal_id");
  std::string body = absl::StrCat(
      "<form method=\"get\" action=\"/impact\"><label>Proposal (id) <input name=\"proposal_id\" "
      "value=\"", Escape(proposal), "\"></label><label>Stored since (optional) <input "
      "name=\"since\" value=\"", Escape(Param(params, "since")), "\"></label>"
      "<button type=\"submit\" id=\"impact\">Compare with the active policy</button></form>");
  if (proposal.empty()) return body;
  v1::DiffPolicyRequest request;
  request.mutable_candidate()->set_proposal_id(proposal);
  if (!Param(params, "since").empty()) {
    absl::StatusOr<absl::Time> since = ParseTimeArgument(Param(params, "since"));
    if (!since.ok()) return absl::StrCat(body, ErrorBox(since.status().message()));
    *request.mutable_since() = ToTimestamp(*since);
  }
  absl::StatusOr<v1::DiffPolicyResponse> diff = gateway.admin.Diff(request);
  if (!diff.ok()) return absl::StrCat(body, GatewayError("comparing", diff.status()));
  absl::StrAppend(&body, "<p id=\"impact-summary\">Version ", Escape(diff->candidate_version()),
                  " against ", Escape(diff->base_version()), " over ", diff->items_compared(),
                  " stored item(s)", diff->truncated() ? " (the newest only)" : "", ": ",
                  diff->partners_size() == 0 ? "no partner's view changes."
                                             : "these partners' views change.",
                  "</p>");
  std::vector<std::vector<std::string>> rows;
  for (const v1::PartnerImpactSummary& p : diff->partners()) {
    rows.push_back({absl::StrCat("<span class=\"partner\">", Escape(p.partner()), "</span>"),
                    absl::StrCat(p.items_gained(), " / ", p.items_lost(), " / ",
                                 p.items_changed()),
                    List(p.gained()), List(p.lost()), List(p.changed())});
  }
  absl::StrAppend(&body, Table({"Partner", "Items gained / lost / changed", "Fields gained",
                                "Fields lost", "Form changed"},
                               rows, "impact"));
  std::map<std::string, std::vector<const v1::PartnerImpact*>> by_partner;
  for (const v1::PartnerImpact& c : diff->changes()) by_partner[c.partner()].push_back(&c);
  for (const auto& [partner, changes] : by_partner) {
    std::vector<std::vector<std::string>> items;
    for (const v1::PartnerImpact* c : changes) {
      items.push_back({Escape(c->item()), c->received_before() ? "yes" : "no",
                       c->received_after() ? "yes" : "no",
                       Escape(absl::StrJoin(c->gained(), ", ")),
                       Escape(absl::StrJoin(c->lost(), ", ")),
                       Escape(absl::StrJoin(c->changed(), ", "))});
    }
    absl::StrAppend(&body, "<details><summary>", Escape(partner), ": ", changes.size(),
                    " item(s)</summary>",
                    Table({"Item", "Before", "After", "Gained", "Lost", "Changed"}, items),
                    "</details>");
  }
  return body;
}

}  // namespace havengate::console
