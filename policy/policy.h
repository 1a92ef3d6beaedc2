// The sharing-policy engine: loads a policy (YAML or JSON following
// `havengate.v1.SharingPolicy`), checks it against the item schema, compiles
// it into per-(partner, kind) plans, and decides for every item and every
// partner whether the item is shared and exactly which body fields leave,
// in what form. Semantics: policy.proto's file comment (the decision, step
// by step) and the README's "Writing a sharing policy".
//
// Loading collects every error and warning as a `Diagnostic`
// (`file:line:column: message`); a policy with any error is never returned.
// A `CompiledPolicy` is immutable and thread-safe: share it as
// `std::shared_ptr<const CompiledPolicy>` and swap the pointer to change
// policy; decisions in flight keep the old one.
//
// Nothing here does I/O after loading (key files are read when the policy
// loads), uses the network, or throws.
#ifndef HAVENGATE_POLICY_POLICY_H_
#define HAVENGATE_POLICY_POLICY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "havengate/v1/hits.pb.h"
#include "havengate/v1/item.pb.h"
#include "havengate/v1/policy.pb.h"
#include "policy/diagnostic.h"
#include "policy/explanation.h"
#include "policy/transform.h"

namespace havengate::policy {

class CompiledPolicy;

// Reads and compiles the policy file at `path`; key files are resolved
// relative to its directory. On success returns the policy and appends its
// warnings to `diagnostics` (may be null). On failure returns
// INVALID_ARGUMENT summarising the errors (NOT_FOUND if the file does not
// exist) and appends every error and warning.
[[nodiscard]] absl::StatusOr<std::shared_ptr<const CompiledPolicy>>
LoadPolicyFile(const std::string& path, std::vector<Diagnostic>* diagnostics);

// As LoadPolicyFile, from text; `display_name` names it in diagnostics and
// relative key paths are resolved against `base_dir`.
[[nodiscard]] absl::StatusOr<std::shared_ptr<const CompiledPolicy>>
LoadPolicyText(absl::string_view text, const std::string& display_name,
               const std::string& base_dir,
               std::vector<Diagnostic>* diagnostics);

// As LoadPolicyText, from a message (e.g. from the policy administration
// API). Diagnostics carry no line numbers.
[[nodiscard]] absl::StatusOr<std::shared_ptr<const CompiledPolicy>>
CompilePolicy(const v1::SharingPolicy& policy, const std::string& display_name,
              const std::string& base_dir,
              std::vector<Diagnostic>* diagnostics);

// Creates every key file the policy at `path` names that does not exist
// yet: 32 random bytes, readable by the owner only, in a directory created
// if needed; existing files are never touched. Returns the paths created.
// For setting a policy up on a new machine (tests, the demo, `havenctl
// policy keygen`): key files are secrets and are never committed. Fails
// with INVALID_ARGUMENT if the policy cannot be read.
[[nodiscard]] absl::StatusOr<std::vector<std::string>> CreateMissingKeyFiles(
    const std::string& path);

struct DecideOptions {
  // The item came from a partner (re-sharing): only rules with
  // `forward_received` release it, then the originator's constraints
  // apply. Every matching rule's withhold, redact and transforms apply
  // whether or not it may release.
  bool received_from_partner = false;
  // Fill PartnerDecision::explanation (slower; for officers and tools).
  bool explain = false;
};

// Why a partner does or does not receive an item.
enum class DecisionReason {
  kReleased,
  kNoBody,                 // the item has neither alert nor report
  kPartnerIsOrigin,        // never send an item back to its originator
  kNoRuleMatched,          // default deny: no rule that may release matched
  kNothingReleased,        // rules matched, but no body field with a value is released
  kOriginatorNoReshare,    // received item marked no_reshare
  kOriginatorReshareTo,    // received item's reshare_to does not list the partner
  kOriginatorTlp,          // received TLP:RED / AMBER+STRICT item: never forwarded
  kOriginatorPermission,   // received TLP:AMBER / H2 / H3 item, partner not in reshare_to
};

// One sentence for officers and audit records.
absl::string_view DecisionReasonText(DecisionReason reason);

struct TransformedField {
  absl::string_view path;
  TransformKind kind = TransformKind::kNone;
  // "persons.name: pseudonymise", as audit records spell it.
  std::string ToString() const;
};

struct PartnerDecision {
  std::string partner;
  bool released = false;
  DecisionReason reason = DecisionReason::kNoRuleMatched;
  // What the partner receives: the envelope and the released, transformed
  // body fields. Empty unless `released`.
  v1::Item projected;

  // Field summary for the audit: schema paths, never values. A path names
  // the largest subtree decided the same way (`location` if all of it went,
  // `persons.document_number` if only that was held back); each path
  // appears once even if the item has several elements under it; `*` means
  // the whole body went as it is. Only fields the item holds a value in are
  // listed. The views point into the compiled policy, which `policy` keeps
  // alive. The rule lists are filled whenever rules matched; the field lists
  // when the item was projected (also when nothing with a value was
  // released), not when the originator's constraints stopped it first.
  //
  // `matched_rules`: rules that matched and may release the item.
  // `protecting_rules`: rules that matched (`to`, `kinds`, `when`) but may
  // not release it — a gate held them back (the item is RED/H2/H3 and the
  // rule does not allow that level, or it was received and the rule has no
  // `forward_received`) or their condition could not be evaluated — whose
  // withhold, redact and transforms applied all the same.
  absl::InlinedVector<absl::string_view, 4> matched_rules;
  absl::InlinedVector<absl::string_view, 4> protecting_rules;
  absl::InlinedVector<absl::string_view, 16> released_fields;
  absl::InlinedVector<absl::string_view, 16> withheld_fields;
  absl::InlinedVector<TransformedField, 8> transformed_fields;
  std::shared_ptr<const CompiledPolicy> policy;

  // Filled when DecideOptions::explain is set.
  std::unique_ptr<Explanation> explanation;
};

struct Decision {
  std::string policy_version;
  // One per partner of the policy, in the policy's order.
  std::vector<PartnerDecision> partners;

  // The decision for `partner`, or nullptr if it is not a partner.
  const PartnerDecision* Find(absl::string_view partner) const;
};

// The terms a `requests` rule sets for a request it allows.
struct FieldRequestTerms {
  int approvals_needed = 2;
  absl::Duration expires_after = absl::Hours(72);
  bool may_reshare = false;
};

class CompiledPolicy : public std::enable_shared_from_this<CompiledPolicy> {
 public:
  ~CompiledPolicy();
  CompiledPolicy(const CompiledPolicy&) = delete;
  CompiledPolicy& operator=(const CompiledPolicy&) = delete;

  const std::string& organisation() const { return source_.organisation(); }
  const std::string& version() const { return source_.version(); }
  // Partner ids in the policy's order.
  const std::vector<std::string>& partners() const { return partner_ids_; }
  // The policy as written (after parsing).
  const v1::SharingPolicy& source() const { return source_; }
  // Warnings found when the policy was compiled.
  const std::vector<Diagnostic>& warnings() const { return warnings_; }

  // Decides `item` for every partner. Never fails: an item the policy
  // cannot decide (no body, a condition that cannot be evaluated) is not
  // released — fail closed.
  [[nodiscard]] Decision Decide(const v1::Item& item,
                                const DecideOptions& options = {}) const;

  // Decides `item` for one partner; costs only that partner's rules.
  // NOT_FOUND if `partner` is not a partner of this policy.
  [[nodiscard]] absl::StatusOr<PartnerDecision> DecideFor(
      absl::string_view partner, const v1::Item& item,
      const DecideOptions& options = {}) const;

  // Whether the inbound rules accept `item` from `from_partner`. OK, or
  // PERMISSION_DENIED with the reason in words (no values).
  [[nodiscard]] absl::Status AcceptInbound(const std::string& from_partner,
                                           const v1::Item& item) const;

  // The match keys of `item` under the `matching` section (matching.h):
  // the indexed key types' values as held, personal ones as pseudonym
  // codes only; each (type, key) once.
  [[nodiscard]] std::vector<v1::MatchKey> MatchKeys(const v1::Item& item) const;
  // The key for one value given by an officer (a hit question): the value
  // as MatchKeys would index it. INVALID_ARGUMENT if it gives no key
  // (message names the type, never the value).
  [[nodiscard]] absl::StatusOr<v1::MatchKey> MatchKeyFor(
      v1::MatchKeyType type, absl::string_view value) const;
  // Whether some person in `item` holds a text value (name, date of birth,
  // nationality, document number, employer, badge id) that one of this
  // policy's keys pseudonymises to `code`: whether a partner that received
  // `code` under this policy may have received it for this item. Only
  // codes are compared; no value leaves.
  [[nodiscard]] bool HasPersonPseudonymisedTo(const v1::Item& item,
                                              absl::string_view code) const;
  // Whether the `matching` section indexes `type`.
  bool IndexesMatchKeyType(v1::MatchKeyType type) const;
  // Whether `matching.answer` lets `partner` ask hit questions on `type`
  // (default: no).
  bool AnswersHitQuestion(absl::string_view partner, v1::MatchKeyType type) const;
  // What the `requests` section says about `partner` asking for `fields`
  // (field_requests.h): the terms of the first rule that allows the
  // partner every field; PERMISSION_DENIED naming the first field no rule
  // allows it (default: no partner may ask anything).
  [[nodiscard]] absl::StatusOr<FieldRequestTerms> FieldRequestTermsFor(
      absl::string_view partner, const std::vector<std::string>& fields) const;

  struct Plan;  // The compiled rules; see plan.h.

 private:
  friend class PolicyCompiler;
  friend class PolicyEngine;
  CompiledPolicy();

  v1::SharingPolicy source_;
  std::vector<std::string> partner_ids_;
  std::vector<Diagnostic> warnings_;
  std::unique_ptr<Plan> plan_;
};

}  // namespace havengate::policy

#endif  // HAVENGATE_POLICY_POLICY_H_
