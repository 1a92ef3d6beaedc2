// The Proposals page: every entry of the policy history with the step it
// allows — approve (another officer: the gateway refuses the proposer and
// the page shows its reason), activate, roll back — and what the gateway
// recorded for the step just taken.
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/console/html.h"
#include "client/console/page_parts.h"
#include "client/console/pages.h"
#include "proto/timestamp.h"

namespace havengate::console {
namespace {

std::string StepForm(const std::string& csrf, const std::string& action,
                     const std::string& key, const std::string& value, const std::string& label,
                     bool comment) {
  return absl::StrCat(
      "<form method=\"post\" enctype=\"multipart/form-data\" action=\"/proposals\" class=\"step\">", CsrfField(csrf),
      "<input type=\"hidden\" name=\"action\" value=\"", Escape(action), "\">",
      "<input type=\"hidden\" name=\"", Escape(key), "\" value=\"", Escape(value), "\">",
      comment ? "<input name=\"comment\" placeholder=\"comment\" maxlength=\"2000\">" : "",
      "<button type=\"submit\" id=\"", Escape(action), "-", Escape(value), "\"",
      action == "activate" || action == "rollback" ? " data-confirm=\"1\"" : "", ">",
      Escape(label), "</button></form>");
}

std::string Recorded(const v1::PolicyProposal& p, const std::string& done) {
  std::string out = absl::StrCat("Proposal ", p.id(), " (version ", p.version(), ") ", done,
                                 "; now ", v1::PolicyProposal::State_Name(p.state()), ".");
  if (!p.approved_by().empty()) {
    absl::StrAppend(&out, " Approved by ", p.approved_by(), " at ", When(p.approved_at()), ".");
  }
  if (!p.activated_by().empty()) {
    absl::StrAppend(&out, " Activated by ", p.activated_by(), " at ", When(p.activated_at()),
                    ".");
  }
  absl::StrAppend(&out, " The gateway's audit log records the step with your identity.");
  return out;
}

// What the gateway's audit log holds about `version`: its POLICY_* records
// since the proposal was made (asked through Evidence.Extract, so the
// question is audited too).
std::string AuditTrail(Gateway& gateway, const v1::PolicyProposal& p) {
  v1::ExtractRequest request;
  // One second of slack: the history and the audit record each take
  // their own clock reading.
  *request.mutable_period()->mutable_since() =
      ToTimestamp(FromTimestamp(p.proposed_at()) - absl::Seconds(1));
  absl::StatusOr<v1::ExtractResponse> extract = gateway.evidence.Extract(request);
  if (!extract.ok()) return GatewayError("reading the audit log", extract.status());
  std::vector<std::vector<std::string>> rows;
  for (const v1::AuditRecord& r : extract->records()) {
    if (r.policy_version() != p.version()) continue;
    switch (r.type()) {
      case v1::POLICY_PROPOSED:
      case v1::POLICY_APPROVED:
      case v1::POLICY_ACTIVATED:
      case v1::POLICY_ROLLED_BACK:
      case v1::POLICY_REJECTED:
        break;
      default:
        continue;
    }
    rows.push_back({absl::StrCat(r.sequence()), Escape(When(r.recorded_at())),
                    Escape(v1::AuditEventType_Name(r.type())), Escape(r.actor()),
                    Escape(r.reason().empty() ? r.detail() : r.reason())});
  }
  return absl::StrCat("<section id=\"trail\" data-id=\"", Escape(p.id()),
                      "\"><h2>What the audit log recorded for version ", Escape(p.version()),
                      "</h2>", extract->truncated() ? "<p>(the first records only)</p>" : "",
                      Table({"Sequence", "Recorded", "Event", "Officer", "Detail"}, rows,
                            "trail"),
                      "</section>");
}

std::string TakeStep(Gateway& gateway, const Params& params) {
  const std::string& action = Param(params, "action");
  const std::string& comment = Param(params, "comment");
  absl::StatusOr<v1::PolicyProposal> done;
  std::string verb;
  if (action == "approve") {
    done = gateway.admin.Approve(Param(params, "proposal_id"), comment);
    verb = "approved";
  } else if (action == "activate") {
    done = gateway.admin.Activate(Param(params, "proposal_id"));
    verb = "activated";
  } else if (action == "rollback") {
    done = gateway.admin.Rollback(Param(params, "version"), comment);
    verb = "rolled back to";
  } else {
    return "";
  }
  if (!done.ok()) return GatewayError(absl::StrCat("The step (", action, ") was refused"), done.status());
  return OkBox(Recorded(*done, verb));
}

}  // namespace

std::string ProposalsPage(Gateway& gateway, const Params& params, const std::string& csrf) {
  std::string result = TakeStep(gateway, params);
  absl::StatusOr<v1::PolicyHistoryResponse> history = gateway.admin.History(false);
  if (!history.ok()) {
    return absl::StrCat(result, GatewayError("reading the policy history", history.status()));
  }
  // The trail of the proposal just stepped on (refused or not), or of the
  // one asked for; a rollback names a version.
  const std::string& trail_id = Param(params, "proposal_id").empty() ? Param(params, "trail")
                                                                      : Param(params, "proposal_id");
  std::string trail;
  std::vector<std::vector<std::string>> rows;
  for (const v1::PolicyProposal& p : history->proposals()) {
    if ((!trail_id.empty() && p.id() == trail_id) ||
        (trail_id.empty() && !Param(params, "version").empty() &&
         p.version() == Param(params, "version"))) {
      trail = AuditTrail(gateway, p);
    }
    std::string step;
    switch (p.state()) {
      case v1::PolicyProposal::PROPOSED:
        step = StepForm(csrf, "approve", "proposal_id", p.id(), "Approve", true);
        break;
      case v1::PolicyProposal::APPROVED:
        step = StepForm(csrf, "activate", "proposal_id", p.id(), "Activate", false);
        break;
      case v1::PolicyProposal::SUPERSEDED:
        step = StepForm(csrf, "rollback", "version", p.version(), "Roll back to this", true);
        break;
      default:
        step = "<span class=\"good\">active</span>";
    }
    rows.push_back({Escape(p.id()), Escape(p.version()),
                    Escape(v1::PolicyProposal::State_Name(p.state())),
                    absl::StrCat(Escape(p.proposed_by()), "<br><small>",
                                 Escape(When(p.proposed_at())), "</small>"),
                    Escape(p.comment()), Escape(p.approved_by()), step,
                    absl::StrCat("<a href=\"/proposals?trail=", UrlEncode(p.id()),
                                 "\">audit</a>")});
  }
  return absl::StrCat(
      "<div id=\"result\">", result, "</div>",
      "<p>Four eyes: a proposal is approved by an officer other than its proposer, then "
      "activated. <a href=\"/policy\">Write a candidate</a>.</p>",
      Table({"Id", "Version", "State", "Proposed", "Comment", "Approved by", "Step", ""}, rows,
            "proposals"),
      trail);
}

}  // namespace havengate::console
