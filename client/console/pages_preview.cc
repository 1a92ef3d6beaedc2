// The Preview page: a pasted item (JSON, as a client pushes it) decided
// for every partner by the gateway, under the active policy and, if a
// proposal is named, under that candidate: one row per field the item
// holds, one column per partner — released as is, withheld, or changed
// (pseudonymised, truncated, rounded, replaced) — and the rules that
// decided.
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/console/html.h"
#include "client/console/page_parts.h"
#include "client/console/pages.h"
#include "policy/item_paths.h"
#include "proto/json.h"

namespace havengate::console {
namespace {

// How `partner` receives `path` of `item`.
std::string FieldStatus(const v1::Item& item, const v1::PartnerView& view,
                        const std::string& path) {
  if (!view.released()) return "not shared";
  absl::StatusOr<std::vector<std::string>> sent = policy::ValuesAtPath(view.item(), path);
  absl::StatusOr<std::vector<std::string>> held = policy::ValuesAtPath(item, path);
  if (!sent.ok() || sent->empty()) return "withheld";
  if (held.ok() && *sent == *held) return "released";
  return "changed";
}

std::string DecisionTable(const v1::Item& item, const v1::PreviewPolicyResponse& preview,
                          const std::string& which) {
  std::vector<std::string> header = {"Field", "Value held here"};
  for (const v1::PartnerView& view : preview.partners()) header.push_back(view.partner());
  std::vector<std::vector<std::string>> rows;
  for (const std::string& path : policy::PresentLeafPaths(item)) {
    absl::StatusOr<std::vector<std::string>> values = policy::ValuesAtPath(item, path);
    std::vector<std::string> row = {
        absl::StrCat("<code>", Escape(path), "</code>"),
        absl::StrCat("<span class=\"value\">",
                     Escape(values.ok() ? absl::StrJoin(*values, "; ") : ""), "</span>")};
    for (const v1::PartnerView& view : preview.partners()) {
      const std::string status = FieldStatus(item, view, path);
      row.push_back(absl::StrCat("<span class=\"field ", status == "not shared" ? "none" : status,
                                 "\" data-policy=\"", Escape(which), "\" data-partner=\"",
                                 Escape(view.partner()), "\" data-path=\"", Escape(path),
                                 "\">", Escape(status), "</span>"));
    }
    rows.push_back(std::move(row));
  }
  std::vector<std::string> rules = {"<strong>deciding rules</strong>", ""};
  for (const v1::PartnerView& view : preview.partners()) {
    std::string cell = absl::StrCat("<small>", Escape(view.reason()), "</small>");
    if (view.matched_rules_size() > 0) {
      absl::StrAppend(&cell, "<br>released by: ", Escape(absl::StrJoin(view.matched_rules(), ", ")));
    }
    if (view.protecting_rules_size() > 0) {
      absl::StrAppend(&cell, "<br>protected by: ",
                      Escape(absl::StrJoin(view.protecting_rules(), ", ")));
    }
    rules.push_back(std::move(cell));
  }
  rows.push_back(std::move(rules));
  return Table(header, rows, absl::StrCat("preview ", which));
}

}  // namespace

std::string PreviewPage(Gateway& gateway, const Params& params, const std::string& csrf) {
  const std::string& item_json = Param(params, "item_json");
  const std::string& proposal = Param(params, "proposal_id");
  std::string body = absl::StrCat(
      "<form method=\"post\" enctype=\"multipart/form-data\" action=\"/preview\">", CsrfField(csrf),
      "<label for=\"item_json\">Item (JSON, as an integration client pushes it)</label>"
      "<textarea id=\"item_json\" name=\"item_json\" rows=\"14\" spellcheck=\"false\">",
      Escape(item_json),
      "</textarea><label for=\"proposal_id\">Also under proposal (id, optional)</label>"
      "<input id=\"proposal_id\" name=\"proposal_id\" value=\"",
      Escape(proposal), "\"><button type=\"submit\" id=\"preview\">Preview</button></form>");
  if (item_json.empty()) return body;
  absl::StatusOr<v1::Item> item = ParseJsonAs<v1::Item>(item_json);
  if (!item.ok()) {
    return absl::StrCat(body, ErrorBox(absl::StrCat("The item does not read: ",
                                                    item.status().message())));
  }
  std::vector<std::pair<std::string, std::string>> policies = {{"active", ""}};
  if (!proposal.empty()) policies.emplace_back("candidate", proposal);
  for (const auto& [which, id] : policies) {
    v1::PreviewPolicyRequest request;
    *request.mutable_item() = *item;
    if (!id.empty()) request.mutable_candidate()->set_proposal_id(id);
    absl::StatusOr<v1::PreviewPolicyResponse> preview = gateway.admin.Preview(request);
    if (!preview.ok()) {
      absl::StrAppend(&body, GatewayError(absl::StrCat("previewing under the ", which, " policy"),
                                          preview.status()));
      continue;
    }
    absl::StrAppend(&body, "<section id=\"preview-", which, "\"><h2>Under the ", which,
                    " policy (version ", Escape(preview->policy_version()), ")</h2>",
                    DecisionTable(*item, *preview, which), "</section>");
  }
  return body;
}

}  // namespace havengate::console
