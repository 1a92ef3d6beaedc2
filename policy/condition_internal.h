// Internal to the policy library: what the parts of the condition language
// (condition.h) hand each other. The lexer (condition_lexer.cc) turns text
// into tokens, the parser (condition_parser.cc) tokens into an AST, the
// checker (condition_checker.cc) the AST into a typed program of
// `Condition::Expr` nodes over the item schema, and the evaluator
// (condition_eval.cc) runs that program on items; condition.cc drives them.
// This header holds the tokens, the AST, the types, the runtime values and
// `Condition::Expr`, and declares each stage's entry point.
#ifndef HAVENGATE_POLICY_CONDITION_INTERNAL_H_
#define HAVENGATE_POLICY_CONDITION_INTERNAL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "havengate/v1/item.pb.h"
#include "policy/condition.h"

namespace havengate::policy {
namespace internal {

// ---------------------------------------------------------------- lexing

enum class Tok {
  kEnd, kIdent, kInt, kUint, kDouble, kString, kLParen, kRParen, kLBracket,
  kRBracket, kComma, kDot, kNot, kAnd, kOr, kEq, kNe, kLt, kLe, kGt, kGe,
  kMinus, kIn, kTrue, kFalse,
};

struct Token {
  Tok kind = Tok::kEnd;
  size_t offset = 0;
  std::string text;  // identifier, or the decoded string literal
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
};

// Tokenises all of `text` into `out`, ending with a kEnd token; returns
// false after the first lexical error (the rest of the text cannot be
// trusted to tokenise meaningfully), which it appends to `errors`.
bool Tokenize(absl::string_view text, std::vector<ConditionError>* errors,
              std::vector<Token>* out);

// ---------------------------------------------------------------- parsing

enum class CmpOp { kEq, kNe, kLt, kLe, kGt, kGe };

struct Ast {
  enum Kind { kBool, kInt, kUint, kDouble, kString, kIdent, kSelect, kCall,
              kList, kNot, kAnd, kOr, kCmp, kIn };
  Kind kind;
  size_t offset = 0;
  std::string name;      // identifier, selected field, function, string value
  bool has_target = false;  // kCall: kids[0] is the receiver
  CmpOp cmp = CmpOp::kEq;
  bool b = false;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  std::vector<std::unique_ptr<Ast>> kids;
};

// Parses the tokens of one condition; on a syntax error appends it (the
// first only) to `errors` and returns nullptr.
std::unique_ptr<Ast> Parse(std::vector<Token> tokens,
                           std::vector<ConditionError>* errors);

// ---------------------------------------------------------------- types

struct Type {
  enum Kind { kBool, kInt, kUint, kDouble, kString, kBytes, kEnum, kMessage,
              kTimestamp, kList, kEnumName, kInvalid };
  Kind kind = kInvalid;
  const google::protobuf::EnumDescriptor* enum_type = nullptr;
  const google::protobuf::Descriptor* message = nullptr;
  const google::protobuf::FieldDescriptor* list = nullptr;  // kList: the repeated field
  bool numeric() const { return kind == kInt || kind == kUint || kind == kDouble; }
};

// Inline: the evaluator asks for every message field it reads.
inline bool IsTimestamp(const google::protobuf::Descriptor* d) {
  return d->full_name() == "google.protobuf.Timestamp";
}

// ---------------------------------------------------------------- values

struct Value {
  enum class K : uint8_t { kError, kBool, kInt, kUint, kDouble, kString,
                           kEnum, kMessage, kTimestamp, kList };
  K k = K::kError;
  bool b = false;
  int64_t i = 0;  // also enum numbers and timestamp seconds
  uint64_t u = 0;
  double d = 0;
  int32_t nanos = 0;
  absl::string_view s;
  const google::protobuf::Message* msg = nullptr;
  const google::protobuf::FieldDescriptor* field = nullptr;  // kList: msg's repeated field
  // kMessage: msg's reflection; kList: the reflection of msg (the list's
  // owner) and of the elements if they are messages. Carried along because
  // Message::GetReflection() is costly per call.
  const google::protobuf::Reflection* refl = nullptr;
  const google::protobuf::Reflection* elem_refl = nullptr;

  static Value Error() { return Value{}; }
  static Value Bool(bool v) {
    Value x;
    x.k = K::kBool;
    x.b = v;
    return x;
  }
};

}  // namespace internal

// ---------------------------------------------------------------- program

struct Condition::Expr {
  enum class Op { kConst, kField, kHas, kNot, kAnd, kOr, kCmp, kInConst,
                  kInList, kStartsWith, kEndsWith, kContains, kSize, kExists,
                  kAll };
  static constexpr int kEnvelope = -1;
  static constexpr int kBody = -2;

  Op op = Op::kConst;
  size_t offset = 0;
  internal::Type type;
  internal::CmpOp cmp = internal::CmpOp::kEq;
  // kConst (strings live in `text`).
  internal::Value value;
  std::string text;
  // kField / kHas: where the path starts and the fields it follows.
  int root = kBody;
  std::vector<const google::protobuf::FieldDescriptor*> path;
  // For each step of `path`: the reflection of the message it yields (or
  // of its elements), null for scalars.
  std::vector<const google::protobuf::Reflection*> step_refl;
  std::vector<std::unique_ptr<Expr>> kids;
  // kInConst: the constant list (strings in `texts`); for enums with small
  // numbers also as a bit set, tested in one step.
  std::vector<internal::Value> list;
  std::vector<std::string> texts;
  uint64_t enum_bits = 0;
  bool use_enum_bits = false;
  // kExists / kAll: the variable's slot.
  int slot = 0;
  bool reads_fields = false;
};

namespace internal {

using Expr = Condition::Expr;

// ---------------------------------------------------------------- checking

// Type-checks `ast` as a condition (true or false) on items whose body is
// of `kind` (ALERT or REPORT). Returns the program, with `*slots` set to
// the number of exists()/all() variable slots it needs; on problems
// appends every error found to `errors` and returns nullptr.
std::unique_ptr<Expr> TypeCheck(const Ast& ast, v1::ItemKind kind,
                                std::vector<ConditionError>* errors, int* slots);

// ---------------------------------------------------------------- evaluation

// The value of a program that reads no field (`reads_fields` false).
Value EvaluateConstant(const Expr& e);

}  // namespace internal
}  // namespace havengate::policy

#endif  // HAVENGATE_POLICY_CONDITION_INTERNAL_H_
