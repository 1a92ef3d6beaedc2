#include "policy/explanation.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace havengate::policy {

const char* OutcomeName(RuleTrace::Outcome outcome) {
  switch (outcome) {
    case RuleTrace::Outcome::kMatched: return "matched";
    case RuleTrace::Outcome::kConditionFalse: return "condition false";
    case RuleTrace::Outcome::kConditionError:
      return "protects only: condition could not be evaluated";
    case RuleTrace::Outcome::kNeedsRestricted: return "protects only: restricted item";
    case RuleTrace::Outcome::kNotForReceived: return "protects only: received item";
  }
  return "?";
}

const char* VerdictName(FieldTrace::Verdict verdict) {
  switch (verdict) {
    case FieldTrace::Verdict::kReleased: return "released";
    case FieldTrace::Verdict::kTransformed: return "transformed";
    case FieldTrace::Verdict::kRedacted: return "redacted";
    case FieldTrace::Verdict::kWithheld: return "withheld";
    case FieldTrace::Verdict::kNotShared: return "not shared";
  }
  return "?";
}

std::string Explanation::ToString() const {
  std::string out = absl::StrCat("partner ", partner, ": ", summary, "\n");
  if (!rules.empty()) absl::StrAppend(&out, "  rules:\n");
  for (const RuleTrace& r : rules) {
    absl::StrAppend(&out, "    ", r.rule, ": ", OutcomeName(r.outcome));
    if (!r.detail.empty()) absl::StrAppend(&out, " (", r.detail, ")");
    absl::StrAppend(&out, "\n");
  }
  if (!fields.empty()) absl::StrAppend(&out, "  fields:\n");
  for (const FieldTrace& f : fields) {
    absl::StrAppend(&out, "    ", f.path, ": ", VerdictName(f.verdict));
    std::vector<std::string> why;
    if (!f.transform.empty()) {
      why.push_back(absl::StrCat(f.transform, " by ", f.transform_by));
    }
    if (!f.withheld_by.empty()) {
      why.push_back(absl::StrCat("withheld by ", absl::StrJoin(f.withheld_by, ", ")));
    }
    if (!f.shared_by.empty()) {
      why.push_back(absl::StrCat("shared by ", absl::StrJoin(f.shared_by, ", ")));
    }
    if (!why.empty()) absl::StrAppend(&out, " (", absl::StrJoin(why, "; "), ")");
    absl::StrAppend(&out, "\n");
  }
  return out;
}

}  // namespace havengate::policy
