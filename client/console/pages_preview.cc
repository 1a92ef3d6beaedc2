// The Preview page: a stored item (found by container, vessel, category,
// period) or a pasted item (JSON, as a client pushes it) decided
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
#include "proto/timestamp.h"

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

// The stored-item search: a form, and for each item found a form that
// previews it.
std::string StoredItems(Gateway& gateway, const Params& params, const std::string& csrf) {
  auto input = [&](const char* name, const char* label) {
    return absl::StrCat("<label>", label, " <input name=\"", name, "\" value=\"",
                        Escape(Param(params, name)), "\"></label>");
  };
  std::string options = "<option value=\"\">any</option>";
  for (int c = 1; v1::Alert::Category_IsValid(c); ++c) {
    const std::string& name = v1::Alert::Category_Name(static_cast<v1::Alert::Category>(c));
    absl::StrAppend(&options, "<option", Param(params, "category") == name ? " selected" : "",
                    ">", Escape(name), "</option>");
  }
  std::string out = absl::StrCat(
      "<form method=\"get\" action=\"/preview\" id=\"search-form\"><h2>A stored item</h2>",
      input("container", "Container"), input("vessel", "Vessel (IMO or name)"),
      "<label>Category <select name=\"category\">", options, "</select></label>",
      input("since", "Created since"), input("until", "until"),
      input("proposal_id", "Also under proposal (id, optional)"),
      "<input type=\"hidden\" name=\"search\" value=\"1\">"
      "<button type=\"submit\" id=\"search\">Find</button></form>");
  if (Param(params, "search").empty()) return out;
  v1::FindItemsRequest request;
  request.set_container(Param(params, "container"));
  request.set_vessel(Param(params, "vessel"));
  v1::Alert::Category category = v1::Alert::CATEGORY_UNSPECIFIED;
  if (!Param(params, "category").empty() &&
      !v1::Alert::Category_Parse(Param(params, "category"), &category)) {
    return absl::StrCat(out, ErrorBox("category: not an alert category"));
  }
  request.set_category(category);
  for (const char* bound : {"since", "until"}) {
    if (Param(params, bound).empty()) continue;
    absl::StatusOr<absl::Time> t = ParseTimeArgument(Param(params, bound));
    if (!t.ok()) return absl::StrCat(out, ErrorBox(absl::StrCat(bound, ": ", t.status().message())));
    *(std::string(bound) == "since" ? request.mutable_period()->mutable_since()
                                    : request.mutable_period()->mutable_until()) = ToTimestamp(*t);
  }
  absl::StatusOr<v1::FindItemsResponse> found = gateway.evidence.FindItems(request);
  if (!found.ok()) return absl::StrCat(out, GatewayError("searching", found.status()));
  std::vector<std::vector<std::string>> rows;
  for (v1::Item item : found->items()) {
    item.clear_provenance();  // decided as if pushed here
    const std::string title = item.has_alert() ? item.alert().title() : item.report().title();
    rows.push_back(
        {Escape(absl::StrCat(item.origin(), "/", item.item_id(), "@", item.version())),
         Escape(When(item.created_at())),
         absl::StrCat("<span class=\"value\">", Escape(title), "</span>"),
         absl::StrCat("<form method=\"post\" enctype=\"multipart/form-data\" "
                      "action=\"/preview\" class=\"step\">",
                      CsrfField(csrf), "<input type=\"hidden\" name=\"item_json\" value=\"",
                      Escape(ToJson(item, {.pretty = false})),
                      "\"><input type=\"hidden\" name=\"proposal_id\" value=\"",
                      Escape(Param(params, "proposal_id")),
                      "\"><button type=\"submit\" id=\"preview-", Escape(item.item_id()), "-",
                      item.version(), "\">Preview</button></form>")});
  }
  return absl::StrCat(out, "<p>", found->items_size(), " stored item(s)",
                      found->truncated() ? " (the newest only)" : "", ".</p>",
                      Table({"Item", "Created", "Title", ""}, rows, "found"));
}

}  // namespace

std::string PreviewPage(Gateway& gateway, const Params& params, const std::string& csrf) {
  const std::string& item_json = Param(params, "item_json");
  const std::string& proposal = Param(params, "proposal_id");
  std::string body = absl::StrCat(
      StoredItems(gateway, params, csrf),
      "<form method=\"post\" enctype=\"multipart/form-data\" action=\"/preview\">"
      "<h2>Or a pasted item</h2>",
      CsrfField(csrf),
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
