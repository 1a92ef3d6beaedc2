#include "policy/diff.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/item_paths.h"

namespace havengate::policy {

std::map<std::string, std::string> FieldForms(const PartnerDecision& decision) {
  std::map<std::string, std::string> forms;
  if (!decision.released) return forms;
  for (const std::string& path : PresentLeafPaths(decision.projected)) {
    std::string form = "as is";
    for (const TransformedField& t : decision.transformed_fields) {
      if (t.path == path) form = std::string(TransformName(t.kind));
    }
    forms[path] = form;
  }
  return forms;
}

PolicyDiff DiffPolicies(const CompiledPolicy& before, const CompiledPolicy& after,
                        const std::vector<NamedItem>& items, const DecideOptions& options) {
  PolicyDiff diff;
  diff.old_version = before.version();
  diff.new_version = after.version();
  std::vector<std::string> partners = before.partners();
  for (const std::string& p : after.partners()) {
    if (std::find(partners.begin(), partners.end(), p) == partners.end()) partners.push_back(p);
  }
  for (const NamedItem& item : items) {
    Decision old_decision = before.Decide(item.item, options);
    Decision new_decision = after.Decide(item.item, options);
    for (const std::string& partner : partners) {
      const PartnerDecision* o = old_decision.Find(partner);
      const PartnerDecision* n = new_decision.Find(partner);
      PartnerChange change;
      change.item = item.name;
      change.partner = partner;
      change.received_before = o != nullptr && o->released;
      change.received_after = n != nullptr && n->released;
      std::map<std::string, std::string> old_forms, new_forms;
      if (o != nullptr) old_forms = FieldForms(*o);
      if (n != nullptr) new_forms = FieldForms(*n);
      for (const auto& [path, form] : new_forms) {
        auto it = old_forms.find(path);
        if (it == old_forms.end()) {
          change.gained.push_back(form == "as is" ? path : absl::StrCat(path, " (", form, ")"));
        } else if (it->second != form) {
          change.changed.push_back(absl::StrCat(path, ": ", it->second, " -> ", form));
        }
      }
      for (const auto& [path, form] : old_forms) {
        if (!new_forms.count(path)) change.lost.push_back(path);
      }
      if (change.received_before != change.received_after || !change.gained.empty() ||
          !change.lost.empty() || !change.changed.empty()) {
        diff.changes.push_back(std::move(change));
      }
    }
  }
  return diff;
}

std::vector<PartnerSummary> SummariseByPartner(const PolicyDiff& diff) {
  std::vector<PartnerSummary> out;
  std::map<std::string, size_t> index;
  for (const PartnerChange& c : diff.changes) {
    auto [it, added] = index.emplace(c.partner, out.size());
    if (added) out.emplace_back().partner = c.partner;
    PartnerSummary& s = out[it->second];
    if (c.received_after && !c.received_before) {
      ++s.items_gained;
    } else if (c.received_before && !c.received_after) {
      ++s.items_lost;
    } else {
      ++s.items_changed;
    }
    for (const std::string& path : c.gained) ++s.gained[path];
    for (const std::string& path : c.lost) ++s.lost[path];
    for (const std::string& form : c.changed) ++s.changed[form];
  }
  return out;
}

std::string PolicyDiff::ToString() const {
  return absl::StrCat("policy ", old_version, " -> ", new_version, "\n",
                      ChangesToString());
}

std::string PolicyDiff::ChangesToString() const {
  std::string out;
  if (changes.empty()) {
    absl::StrAppend(&out, "no partner's view of these items changes\n");
    return out;
  }
  for (const PartnerChange& c : changes) {
    absl::StrAppend(&out, c.item, " -> ", c.partner, ": ");
    if (c.received_before && !c.received_after) {
      absl::StrAppend(&out, "NO LONGER RECEIVES the item\n");
    } else if (!c.received_before && c.received_after) {
      absl::StrAppend(&out, "NOW RECEIVES the item\n");
    } else {
      absl::StrAppend(&out, "receives a different view\n");
    }
    if (!c.gained.empty()) absl::StrAppend(&out, "  + ", absl::StrJoin(c.gained, "\n  + "), "\n");
    if (!c.lost.empty()) absl::StrAppend(&out, "  - ", absl::StrJoin(c.lost, "\n  - "), "\n");
    if (!c.changed.empty()) absl::StrAppend(&out, "  ~ ", absl::StrJoin(c.changed, "\n  ~ "), "\n");
  }
  return out;
}

}  // namespace havengate::policy
