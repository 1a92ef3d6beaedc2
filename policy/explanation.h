// Explanations of sharing decisions, for policy officers: for one item and
// one partner, which rules were considered and why each matched or not,
// and for every field the item holds whether it was released, transformed,
// withheld or not shared, and by which rules.
//
// Explanations name rules, fields and reasons — never field values — so
// they are as safe to show, log and audit as the decision itself. Plain
// values.
#ifndef HAVENGATE_POLICY_EXPLANATION_H_
#define HAVENGATE_POLICY_EXPLANATION_H_

#include <string>
#include <vector>

namespace havengate::policy {

struct RuleTrace {
  enum class Outcome {
    kMatched,
    kConditionFalse,
    // The three below release nothing, but the rule's withhold, redact and
    // transforms apply (protections fail closed).
    kConditionError,      // could not be evaluated: may have matched
    kNeedsRestricted,     // matched; item is RED/H2/H3, the rule does not allow it
    kNotForReceived,      // matched; received item, rule lacks forward_received
  };
  std::string rule;
  Outcome outcome = Outcome::kConditionFalse;
  std::string detail;
};

struct FieldTrace {
  enum class Verdict {
    kReleased,     // sent as is
    kTransformed,  // sent changed (pseudonymised, masked, ...)
    kRedacted,     // removed by a redact transform
    kWithheld,     // removed by a matching rule's withhold
    kNotShared,    // no matching rule shares it
  };
  // Schema path, e.g. `persons.name` (for every element of `persons`).
  std::string path;
  Verdict verdict = Verdict::kNotShared;
  std::vector<std::string> shared_by;
  std::vector<std::string> withheld_by;
  // kTransformed / kRedacted: the transform and the rule that set it.
  std::string transform;
  std::string transform_by;
};

struct Explanation {
  std::string partner;
  bool released = false;
  // One sentence: why the partner receives the item or not.
  std::string summary;
  std::vector<RuleTrace> rules;
  // Every field the item holds a value in, in schema order.
  std::vector<FieldTrace> fields;

  // Several lines of plain text for havenctl.
  std::string ToString() const;
};

const char* OutcomeName(RuleTrace::Outcome outcome);
const char* VerdictName(FieldTrace::Verdict verdict);

}  // namespace havengate::policy

#endif  // HAVENGATE_POLICY_EXPLANATION_H_
