// The Policy page: the active policy (text), its history (who proposed,
// approved, activated, when), and the candidate editor. Validation
// diagnostics show inline: the candidate is listed line by line and each
// diagnostic sits under its line, at its column, with the engine's words
// (including its "did you mean" suggestions).
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/console/html.h"
#include "client/console/page_parts.h"
#include "client/console/pages.h"

namespace havengate::console {
namespace {

std::string HistoryTable(const v1::PolicyHistoryResponse& history) {
  std::vector<std::vector<std::string>> rows;
  for (const v1::PolicyProposal& p : history.proposals()) {
    rows.push_back({Escape(p.id()), Escape(p.version()),
                    Escape(v1::PolicyProposal::State_Name(p.state())),
                    absl::StrCat(Escape(p.proposed_by()), "<br><small>",
                                 Escape(When(p.proposed_at())), "</small>"),
                    Escape(p.comment()),
                    absl::StrCat(Escape(p.approved_by()), "<br><small>",
                                 Escape(When(p.approved_at())), "</small>"),
                    absl::StrCat(Escape(p.activated_by()), "<br><small>",
                                 Escape(When(p.activated_at())), "</small>")});
  }
  return Table({"Id", "Version", "State", "Proposed", "Comment", "Approved", "Activated"},
               rows, "history");
}

// The candidate, line by line, each diagnostic under its line.
std::string Listing(const std::string& text, const v1::ValidatePolicyResponse& report) {
  std::map<int, std::vector<const v1::PolicyDiagnostic*>> by_line;
  std::vector<const v1::PolicyDiagnostic*> unplaced;
  for (const v1::PolicyDiagnostic& d : report.diagnostics()) {
    (d.line() > 0 ? by_line[d.line()] : unplaced).push_back(&d);
  }
  std::string out;
  for (const v1::PolicyDiagnostic* d : unplaced) {
    absl::StrAppend(&out, "<p class=\"diagnostic ",
                    d->severity() == v1::PolicyDiagnostic::ERROR ? "error" : "warning", "\">",
                    Escape(d->message()), "</p>");
  }
  absl::StrAppend(&out, "<ol class=\"listing\">");
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    auto found = by_line.find(number);
    absl::StrAppend(&out, "<li id=\"L", number, "\"",
                    found == by_line.end() ? "" : " class=\"has-diagnostic\"", "><code>",
                    Escape(line), "</code>");
    if (found != by_line.end()) {
      for (const v1::PolicyDiagnostic* d : found->second) {
        const bool error = d->severity() == v1::PolicyDiagnostic::ERROR;
        absl::StrAppend(
            &out, "<div class=\"diagnostic ", error ? "error" : "warning", "\" data-line=\"",
            d->line(), "\" data-column=\"", d->column(), "\"><code class=\"caret\">",
            std::string(d->column() > 1 ? d->column() - 1 : 0, ' '), "^</code> ",
            error ? "error" : "warning", " at line ", d->line(), ", column ", d->column(), ": ",
            Escape(d->message()), "</div>");
      }
    }
    absl::StrAppend(&out, "</li>");
  }
  absl::StrAppend(&out, "</ol>");
  return out;
}

std::string Editor(const std::string& text, const std::string& csrf) {
  return absl::StrCat(
      "<form method=\"post\" enctype=\"multipart/form-data\" action=\"/policy\" class=\"editor\">", CsrfField(csrf),
      "<label for=\"policy_text\">Candidate policy (YAML)</label>"
      "<textarea id=\"policy_text\" name=\"policy_text\" rows=\"24\" spellcheck=\"false\">",
      Escape(text),
      "</textarea><div class=\"actions\">"
      "<button type=\"submit\" name=\"action\" value=\"validate\" id=\"validate\">Check</button>"
      "<label for=\"comment\">Why the change (for the approver and the audit)</label>"
      "<input id=\"comment\" name=\"comment\" maxlength=\"2000\">"
      "<button type=\"submit\" name=\"action\" value=\"propose\" id=\"propose\">"
      "Propose for approval</button></div></form>");
}

}  // namespace

std::string PolicyPage(Gateway& gateway, const Params& params, const std::string& csrf) {
  absl::StatusOr<v1::PolicyHistoryResponse> history = gateway.admin.History(true);
  if (!history.ok()) return GatewayError("reading the policy history", history.status());
  std::optional<v1::PolicyProposal> active = ActiveEntry(*history);
  const std::string& action = Param(params, "action");
  std::string candidate = Param(params, "policy_text");
  if (action.empty() && candidate.empty() && active) candidate = active->policy_text();

  std::string result;
  if (action == "validate" || action == "propose") {
    v1::PolicyCandidate c;
    c.set_policy_text(candidate);
    absl::StatusOr<v1::ValidatePolicyResponse> report = gateway.admin.Validate(c);
    if (!report.ok()) {
      result = GatewayError("checking the candidate", report.status());
    } else if (!report->valid()) {
      result = absl::StrCat(ErrorBox(absl::StrCat("The candidate has ",
                                                  report->diagnostics_size(),
                                                  " problem(s); nothing was stored.")),
                            Listing(candidate, *report));
    } else if (action == "validate") {
      result = absl::StrCat(OkBox(absl::StrCat("Valid: version ", report->version(),
                                               " can be proposed.")),
                            report->diagnostics_size() > 0 ? Listing(candidate, *report) : "");
    } else {
      absl::StatusOr<v1::PolicyProposal> proposed =
          gateway.admin.Propose(candidate, Param(params, "comment"));
      result = proposed.ok()
                   ? absl::StrCat("<p class=\"ok\" role=\"status\" id=\"proposed\" data-id=\"",
                                  Escape(proposed->id()), "\">Proposal ", Escape(proposed->id()),
                                  " (version ", Escape(proposed->version()),
                                  ") is stored and waits for another officer's approval. "
                                  "<a href=\"/proposals\">Proposals</a></p>")
                   : GatewayError("proposing", proposed.status());
    }
  }

  std::string body = absl::StrCat("<div id=\"result\">", result, "</div>");
  absl::StrAppend(&body, "<section><h2>Candidate</h2>", Editor(candidate, csrf), "</section>");
  if (active) {
    absl::StrAppend(&body, "<section><h2>Active policy: version ", Escape(active->version()),
                    "</h2><pre class=\"policy\" id=\"active-policy\">",
                    Escape(active->policy_text()), "</pre></section>");
  }
  absl::StrAppend(&body, "<section><h2>History</h2>", HistoryTable(*history), "</section>");
  return body;
}

}  // namespace havengate::console
