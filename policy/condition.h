// Rule conditions (`when:`): a subset of CEL, the expression language of
// Kubernetes, Envoy and cloud IAM, type-checked against the item schema when
// the policy loads and evaluated against each item.
//
// Supported: literals (`"text"`, `'text'`, 42, 42u, 1.5, true, false),
// references to body fields (`category`, `location.unlocode`) and envelope
// fields (`classification.tlp`, `classification.handling_code`, `origin`,
// `item_id`, `version`, `created_at`, ...), enum values by name
// (`PIN_CODE_FRAUD`, `HIGH`, `AMBER`; compared by name with == and != and by
// their order with < <= > >=), `== != < <= > >=`, `in [..]` and `in` a list
// field, `&& || !`, parentheses, `has(field)`, `s.startsWith(t)`,
// `s.endsWith(t)`, `s.contains(t)`, `size(x)` / `x.size()`,
// `list.exists(v, cond)` and `list.all(v, cond)` over repeated fields, and
// `timestamp("2026-11-28T00:00:00Z")` to compare times.
//
// A field of an absent message reads as its default (empty text, 0, the
// first enum value), as in CEL over protobuf. Evaluation follows CEL's
// error rules (`false && error` is false); a condition whose result is not
// `true` does not match — fail closed.
//
// A compiled Condition is immutable and thread-safe.
#ifndef HAVENGATE_POLICY_CONDITION_H_
#define HAVENGATE_POLICY_CONDITION_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "havengate/v1/item.pb.h"

namespace havengate::policy {

// A problem in a condition, at byte `offset` of its text.
struct ConditionError {
  size_t offset = 0;
  std::string message;
};

// Limits that keep a hostile or mistaken condition cheap to check and run.
inline constexpr size_t kMaxConditionBytes = 10'000;
inline constexpr int kMaxConditionDepth = 64;

class Condition {
 public:
  enum class Result { kFalse, kTrue, kError };

  // Parses and type-checks `text` for items whose body is of `kind`. On any
  // problem returns nullptr and appends every error found to `errors`.
  static std::unique_ptr<const Condition> Compile(
      absl::string_view text, v1::ItemKind kind,
      std::vector<ConditionError>* errors);

  ~Condition();
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  // kTrue / kFalse, or kError if the item's body is not of this
  // condition's kind or evaluation failed.
  Result Evaluate(const v1::Item& item) const;

  // The value of a condition that reads no field (e.g. `false`,
  // `1 == 2`), or nullopt.
  std::optional<bool> constant() const { return constant_; }

  // Bits (1 << v1::RED, 1 << v1::H2, 1 << v1::H3) of restricted levels that
  // the condition requires the item to carry, recognised in top-level
  // conjuncts such as `classification.tlp == RED`. Used to warn about rules
  // that can never match because they do not allow that level.
  uint32_t required_levels() const { return required_levels_; }

  struct Expr;

 private:
  Condition() = default;
  std::unique_ptr<Expr> root_;
  v1::ItemKind kind_ = v1::ITEM_KIND_UNSPECIFIED;
  int slots_ = 0;
  std::optional<bool> constant_;
  uint32_t required_levels_ = 0;
};

}  // namespace havengate::policy

#endif  // HAVENGATE_POLICY_CONDITION_H_
