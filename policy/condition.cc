// Compiling conditions: runs the lexer, parser and type checker in turn
// (condition_internal.h), folds conditions that read no field to a
// constant, and notes the restricted levels a condition requires.
// Evaluating them is in condition_eval.cc.
#include "policy/condition.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "havengate/v1/policy.pb.h"
#include "policy/condition_internal.h"

namespace havengate::policy {
namespace {

using internal::CmpOp;
using internal::Expr;

bool IsTlpOrHandling(const Expr& e, const char* field) {
  return e.op == Expr::Op::kField && e.root == Expr::kEnvelope &&
         e.path.size() == 2 && e.path[0]->name() == "classification" &&
         e.path[1]->name() == field;
}

// Restricted levels that a top-level conjunct such as
// `classification.tlp == RED` demands.
uint32_t RequiredLevels(const Expr& e) {
  if (e.op == Expr::Op::kAnd) {
    return RequiredLevels(*e.kids[0]) | RequiredLevels(*e.kids[1]);
  }
  if (e.op != Expr::Op::kCmp || e.kids[1]->op != Expr::Op::kConst) return 0;
  const Expr& field = *e.kids[0];
  int64_t value = e.kids[1]->value.i;
  bool eq = e.cmp == CmpOp::kEq;
  bool ge = e.cmp == CmpOp::kGe;
  if (IsTlpOrHandling(field, "tlp") && (eq || ge) &&
      value == v1::Classification::RED) {
    return 1u << v1::RED;
  }
  if (IsTlpOrHandling(field, "handling_code") && eq) {
    if (value == v1::Classification::H2) return 1u << v1::H2;
    if (value == v1::Classification::H3) return 1u << v1::H3;
  }
  return 0;
}

}  // namespace

Condition::~Condition() = default;

std::unique_ptr<const Condition> Condition::Compile(
    absl::string_view text, v1::ItemKind kind,
    std::vector<ConditionError>* errors) {
  if (kind != v1::ALERT && kind != v1::REPORT) {
    errors->push_back({0, "conditions apply to alerts or reports"});
    return nullptr;
  }
  if (text.size() > kMaxConditionBytes) {
    errors->push_back({0, absl::StrCat("the condition is longer than ",
                                       kMaxConditionBytes, " characters")});
    return nullptr;
  }
  std::vector<internal::Token> tokens;
  if (!internal::Tokenize(text, errors, &tokens)) return nullptr;
  size_t before = errors->size();
  std::unique_ptr<internal::Ast> ast = internal::Parse(std::move(tokens), errors);
  if (ast == nullptr || errors->size() != before) return nullptr;
  int slots = 0;
  std::unique_ptr<Expr> root = internal::TypeCheck(*ast, kind, errors, &slots);
  if (root == nullptr || errors->size() != before) return nullptr;
  std::unique_ptr<Condition> c(new Condition());
  c->kind_ = kind;
  c->slots_ = slots;
  c->required_levels_ = RequiredLevels(*root);
  if (!root->reads_fields) {
    internal::Value v = internal::EvaluateConstant(*root);
    c->constant_ = v.k == internal::Value::K::kBool && v.b;
  }
  c->root_ = std::move(root);
  return c;
}

}  // namespace havengate::policy
