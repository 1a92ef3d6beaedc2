// Internal to the policy library: the compiled form of a sharing policy
// that the compiler (compiler.cc) builds and the engine (engine.cc and
// projector.cc) runs.
//
// Each rule is compiled once per item kind it applies to: its condition
// type-checked for that body, its share / withhold / redact paths turned
// into FieldSets over that body's schema (closed over sub-fields), its other
// transforms attached to leaf nodes. Each partner holds, per kind, the
// indexes of the rules that name it, so deciding for a partner touches only
// those rules. Immutable after compilation.
#ifndef HAVENGATE_POLICY_PLAN_H_
#define HAVENGATE_POLICY_PLAN_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "policy/condition.h"
#include "policy/matching.h"
#include "policy/policy.h"
#include "policy/pseudonymiser.h"
#include "policy/schema.h"
#include "policy/transform.h"
#include "policy/yaml_reader.h"

namespace havengate::policy {

// 0 for alerts, 1 for reports, -1 otherwise.
inline int KindSlot(v1::ItemKind kind) {
  return kind == v1::ALERT ? 0 : kind == v1::REPORT ? 1 : -1;
}
inline const BodySchema& SchemaForSlot(int slot) {
  return slot == 0 ? BodySchema::Alert() : BodySchema::Report();
}

inline uint32_t LevelBit(v1::RestrictedLevel level) { return 1u << level; }

struct CompiledRule {
  struct ForKind {
    bool applies = false;
    // Null: the rule has no condition (always true).
    std::unique_ptr<const Condition> condition;
    // Closed over sub-fields: sharing `location` includes
    // `location.position.latitude`.
    FieldSet share;
    FieldSet withhold;
    FieldSet redact;        // closure of redacted subtrees
    FieldSet redact_roots;  // the nodes named with redact
    // Leaf node -> transform (every kind except redact), sorted by node.
    std::vector<std::pair<int, TransformSpec>> transforms;
  };

  std::string name;
  int index = 0;  // Position in SharingPolicy.rules.
  uint32_t allowed_levels = 0;
  bool forward_received = false;
  ForKind kinds[2];
};

struct PartnerPlan {
  std::string id;
  // Indexes into Plan::rules of the rules naming this partner, per kind
  // slot, ascending.
  std::vector<int> rules[2];
};

struct CompiledPolicy::Plan {
  std::vector<CompiledRule> rules;
  std::vector<PartnerPlan> partners;
  absl::flat_hash_map<std::string, int> partner_index;
  // Per kind slot: for each rule index, its position among the rules that
  // apply to the kind (-1 if none), for per-decision memos.
  std::vector<int> kind_position[2];
  int kind_rule_count[2] = {0, 0};
  std::vector<std::unique_ptr<const Pseudonymiser>> keys;
  // The `matching` section: key types indexed (defaults filled in) and the
  // key for personal values held in clear (null if none is named; one of
  // `keys`).
  std::vector<v1::MatchKeyType> match_index;
  const Pseudonymiser* match_pseudonymiser = nullptr;
};

// Compiles a policy whose values came from text described by `sources`
// (an empty SourceMap when there is no text). Used by the loaders and by
// tests that read a policy nested inside another YAML document.
// `unreliable_sections` (may be null) names the top-level sections of a
// policy that could not be read completely: names they would define are
// not reported as unknown (that would repeat the read error).
[[nodiscard]] absl::StatusOr<std::shared_ptr<const CompiledPolicy>>
CompileWithSources(const v1::SharingPolicy& policy, const SourceMap& sources,
                   const std::string& base_dir,
                   std::vector<Diagnostic>* diagnostics,
                   const absl::flat_hash_set<std::string>* unreliable_sections = nullptr);

// Reads and compiles a policy from a YAML node of the document `sources`
// describes (a policy file, or a policy nested in a corpus case). Defined
// in yaml_reader.cc.
[[nodiscard]] absl::StatusOr<std::shared_ptr<const CompiledPolicy>>
CompileYamlNode(const YAML::Node& root, SourceMap& sources, const std::string& base_dir,
                std::vector<Diagnostic>* diagnostics);

}  // namespace havengate::policy

#endif  // HAVENGATE_POLICY_PLAN_H_
