// Policy diffs for officers: the impact of replacing one policy version by
// another on a set of sample items — which partners gain or lose which
// fields, or the item altogether, and which fields change form (e.g. a name
// no longer pseudonymised). Shown before a change is approved.
//
// Works on decisions only (paths and transform names, never values). Pure
// functions over immutable policies; thread-safe.
#ifndef HAVENGATE_POLICY_DIFF_H_
#define HAVENGATE_POLICY_DIFF_H_

#include <map>
#include <string>
#include <vector>

#include "havengate/v1/item.pb.h"
#include "policy/policy.h"

namespace havengate::policy {

struct NamedItem {
  std::string name;  // e.g. the file it came from
  v1::Item item;
};

struct PartnerChange {
  std::string item;
  std::string partner;
  bool received_before = false;
  bool received_after = false;
  // Leaf paths with a value that the partner receives only after / only
  // before the change.
  std::vector<std::string> gained;
  std::vector<std::string> lost;
  // "persons.name: pseudonymise -> as is"
  std::vector<std::string> changed;
};

struct PolicyDiff {
  std::string old_version;
  std::string new_version;
  std::vector<PartnerChange> changes;  // only partners whose view changed
  bool empty() const { return changes.empty(); }
  // Plain text: "policy OLD -> NEW", then ChangesToString().
  std::string ToString() const;
  // One block per item and partner ("no partner's view of these items
  // changes" if none).
  std::string ChangesToString() const;
};

// One partner's changes over all items of a diff: how many items it gains,
// loses or receives differently, and per field (or change of form) in how
// many items.
struct PartnerSummary {
  std::string partner;
  int items_gained = 0;
  int items_lost = 0;
  int items_changed = 0;
  std::map<std::string, int> gained;
  std::map<std::string, int> lost;
  std::map<std::string, int> changed;
};

// Per partner, in the order partners first appear in `diff.changes`.
std::vector<PartnerSummary> SummariseByPartner(const PolicyDiff& diff);

// Leaf paths a partner receives, each with its form: "as is" or the
// transform's name.
std::map<std::string, std::string> FieldForms(const PartnerDecision& decision);

// Decides every item under both policies (for the union of their partners)
// and reports what changes.
PolicyDiff DiffPolicies(const CompiledPolicy& before, const CompiledPolicy& after,
                        const std::vector<NamedItem>& items,
                        const DecideOptions& options = {});

}  // namespace havengate::policy

#endif  // HAVENGATE_POLICY_DIFF_H_
