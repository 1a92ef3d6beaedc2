#include "policy/condition.h"

#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/timestamp.pb.h"
#include "havengate/v1/policy.pb.h"
#include "policy/schema.h"
#include "policy/suggest.h"
#include "proto/timestamp.h"

namespace havengate::policy {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

namespace {

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

class Lexer {
 public:
  Lexer(absl::string_view text, std::vector<ConditionError>* errors)
      : text_(text), errors_(errors) {}

  // Tokenises everything; returns false after the first lexical error (the
  // rest of the text cannot be trusted to tokenise meaningfully).
  bool Run(std::vector<Token>* out) {
    while (true) {
      Token t;
      if (!Next(&t)) return false;
      out->push_back(t);
      if (t.kind == Tok::kEnd) return true;
    }
  }

 private:
  bool Fail(size_t offset, std::string message) {
    errors_->push_back({offset, std::move(message)});
    return false;
  }

  bool Next(Token* t) {
    while (pos_ < text_.size() && absl::ascii_isspace(text_[pos_])) ++pos_;
    t->offset = pos_;
    if (pos_ >= text_.size()) {
      // "Ends too early" points just after the last written character, not
      // at trailing line breaks.
      size_t end = text_.size();
      while (end > 0 && absl::ascii_isspace(text_[end - 1])) --end;
      t->offset = end;
      t->kind = Tok::kEnd;
      return true;
    }
    char c = text_[pos_];
    char n = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
    if (absl::ascii_isalpha(c) || c == '_') return Identifier(t);
    if (absl::ascii_isdigit(c) || (c == '.' && absl::ascii_isdigit(n))) {
      return Number(t);
    }
    if (c == '"' || c == '\'') return String(t);
    auto two = [&](Tok kind) {
      t->kind = kind;
      pos_ += 2;
      return true;
    };
    auto one = [&](Tok kind) {
      t->kind = kind;
      pos_ += 1;
      return true;
    };
    switch (c) {
      case '(': return one(Tok::kLParen);
      case ')': return one(Tok::kRParen);
      case '[': return one(Tok::kLBracket);
      case ']': return one(Tok::kRBracket);
      case ',': return one(Tok::kComma);
      case '.': return one(Tok::kDot);
      case '-': return one(Tok::kMinus);
      case '=':
        if (n == '=') return two(Tok::kEq);
        return Fail(pos_, "use `==` to compare (a single `=` is not an operator)");
      case '!':
        if (n == '=') return two(Tok::kNe);
        return one(Tok::kNot);
      case '<':
        if (n == '=') return two(Tok::kLe);
        return one(Tok::kLt);
      case '>':
        if (n == '=') return two(Tok::kGe);
        return one(Tok::kGt);
      case '&':
        if (n == '&') return two(Tok::kAnd);
        return Fail(pos_, "use `&&` for \"and\"");
      case '|':
        if (n == '|') return two(Tok::kOr);
        return Fail(pos_, "use `||` for \"or\"");
      case '+': case '*': case '/': case '%': case '?': case ':':
        return Fail(pos_, absl::StrCat("`", std::string(1, c),
                                       "`: arithmetic and `? :` are not "
                                       "supported in conditions"));
      default:
        return Fail(pos_, absl::StrCat("unexpected character `",
                                       std::string(1, c), "`"));
    }
  }

  bool Identifier(Token* t) {
    size_t start = pos_;
    while (pos_ < text_.size() &&
           (absl::ascii_isalnum(text_[pos_]) || text_[pos_] == '_')) {
      ++pos_;
    }
    t->text = std::string(text_.substr(start, pos_ - start));
    if (t->text == "in") {
      t->kind = Tok::kIn;
    } else if (t->text == "true") {
      t->kind = Tok::kTrue;
    } else if (t->text == "false") {
      t->kind = Tok::kFalse;
    } else if (t->text == "and" || t->text == "AND") {
      return Fail(start, "use `&&` for \"and\"");
    } else if (t->text == "or" || t->text == "OR") {
      return Fail(start, "use `||` for \"or\"");
    } else if (t->text == "not" || t->text == "NOT") {
      return Fail(start, "use `!` for \"not\"");
    } else if (t->text == "null") {
      return Fail(start, "`null` is not supported; use has(field) to test "
                         "whether a field is set");
    } else {
      t->kind = Tok::kIdent;
    }
    return true;
  }

  bool Number(Token* t) {
    size_t start = pos_;
    bool is_double = false;
    {
      while (pos_ < text_.size() && absl::ascii_isdigit(text_[pos_])) ++pos_;
      if (pos_ < text_.size() && text_[pos_] == '.' && pos_ + 1 < text_.size() &&
          absl::ascii_isdigit(text_[pos_ + 1])) {
        is_double = true;
        ++pos_;
        while (pos_ < text_.size() && absl::ascii_isdigit(text_[pos_])) ++pos_;
      }
      if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
        size_t save = pos_++;
        if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
        if (pos_ < text_.size() && absl::ascii_isdigit(text_[pos_])) {
          is_double = true;
          while (pos_ < text_.size() && absl::ascii_isdigit(text_[pos_])) ++pos_;
        } else {
          pos_ = save;
        }
      }
    }
    std::string digits(text_.substr(start, pos_ - start));
    bool is_unsigned = !is_double && pos_ < text_.size() &&
                       (text_[pos_] == 'u' || text_[pos_] == 'U');
    if (is_unsigned) ++pos_;
    if (pos_ < text_.size() &&
        (absl::ascii_isalpha(text_[pos_]) || text_[pos_] == '_')) {
      return Fail(start, absl::StrCat("`", text_.substr(start, pos_ + 1 - start),
                                      "` is not a number; put text in quotes"));
    }
    bool ok;
    if (is_double) {
      t->kind = Tok::kDouble;
      ok = absl::SimpleAtod(digits, &t->d) && std::isfinite(t->d);
    } else if (is_unsigned) {
      t->kind = Tok::kUint;
      ok = absl::SimpleAtoi(digits, &t->u);
    } else {
      t->kind = Tok::kInt;
      ok = absl::SimpleAtoi(digits, &t->i);
    }
    if (!ok) return Fail(start, absl::StrCat("`", digits, "` is not a valid number"));
    return true;
  }

  bool String(Token* t) {
    char quote = text_[pos_];
    size_t start = pos_++;
    std::string value;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      char c = text_[pos_];
      if (c == '\n') break;
      if (c == '\\') {
        if (pos_ + 1 >= text_.size()) break;
        char e = text_[pos_ + 1];
        switch (e) {
          case '\\': value.push_back('\\'); break;
          case '"': value.push_back('"'); break;
          case '\'': value.push_back('\''); break;
          case 'n': value.push_back('\n'); break;
          case 't': value.push_back('\t'); break;
          case 'r': value.push_back('\r'); break;
          default:
            return Fail(pos_, absl::StrCat("unknown escape `\\",
                                           std::string(1, e), "` in text"));
        }
        pos_ += 2;
        continue;
      }
      value.push_back(c);
      ++pos_;
    }
    if (pos_ >= text_.size() || text_[pos_] != quote) {
      return Fail(start, absl::StrCat("text starting here has no closing ",
                                      std::string(1, quote)));
    }
    ++pos_;
    t->kind = Tok::kString;
    t->text = std::move(value);
    return true;
  }

  absl::string_view text_;
  std::vector<ConditionError>* errors_;
  size_t pos_ = 0;
};

// ---------------------------------------------------------------- parsing

enum class CmpOp { kEq, kNe, kLt, kLe, kGt, kGe };

absl::string_view CmpText(CmpOp op) {
  switch (op) {
    case CmpOp::kEq: return "==";
    case CmpOp::kNe: return "!=";
    case CmpOp::kLt: return "<";
    case CmpOp::kLe: return "<=";
    case CmpOp::kGt: return ">";
    case CmpOp::kGe: return ">=";
  }
  return "?";
}

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

class Parser {
 public:
  Parser(std::vector<Token> tokens, std::vector<ConditionError>* errors)
      : tokens_(std::move(tokens)), errors_(errors) {}

  std::unique_ptr<Ast> Parse() {
    std::unique_ptr<Ast> e = Or();
    if (e == nullptr) return nullptr;
    if (Peek().kind != Tok::kEnd) {
      return Fail(Peek().offset, "expected `&&`, `||` or the end of the "
                                 "condition here");
    }
    return e;
  }

 private:
  const Token& Peek() const { return tokens_[pos_]; }
  const Token& Take() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }
  bool Accept(Tok kind) {
    if (Peek().kind != kind) return false;
    Take();
    return true;
  }
  std::unique_ptr<Ast> Fail(size_t offset, std::string message) {
    if (!failed_) errors_->push_back({offset, std::move(message)});
    failed_ = true;
    return nullptr;
  }
  std::unique_ptr<Ast> Make(Ast::Kind kind, size_t offset) {
    auto a = std::make_unique<Ast>();
    a->kind = kind;
    a->offset = offset;
    return a;
  }

  // Guards recursion depth against pathological input like "((((((...".
  struct Depth {
    explicit Depth(Parser* p) : p(p) { ++p->depth_; }
    ~Depth() { --p->depth_; }
    Parser* p;
  };

  std::unique_ptr<Ast> Binary(Ast::Kind kind, Tok op,
                              std::unique_ptr<Ast> (Parser::*next)()) {
    std::unique_ptr<Ast> left = (this->*next)();
    while (left != nullptr && Peek().kind == op) {
      size_t at = Take().offset;
      std::unique_ptr<Ast> right = (this->*next)();
      if (right == nullptr) return nullptr;
      auto node = Make(kind, at);
      node->kids.push_back(std::move(left));
      node->kids.push_back(std::move(right));
      left = std::move(node);
    }
    return left;
  }

  std::unique_ptr<Ast> Or() { return Binary(Ast::kOr, Tok::kOr, &Parser::And); }
  std::unique_ptr<Ast> And() { return Binary(Ast::kAnd, Tok::kAnd, &Parser::Relation); }

  std::unique_ptr<Ast> Relation() {
    std::unique_ptr<Ast> left = Unary();
    if (left == nullptr) return nullptr;
    const Token& t = Peek();
    CmpOp op;
    bool is_in = false;
    switch (t.kind) {
      case Tok::kEq: op = CmpOp::kEq; break;
      case Tok::kNe: op = CmpOp::kNe; break;
      case Tok::kLt: op = CmpOp::kLt; break;
      case Tok::kLe: op = CmpOp::kLe; break;
      case Tok::kGt: op = CmpOp::kGt; break;
      case Tok::kGe: op = CmpOp::kGe; break;
      case Tok::kIn: is_in = true; op = CmpOp::kEq; break;
      default: return left;
    }
    size_t at = Take().offset;
    std::unique_ptr<Ast> right = Unary();
    if (right == nullptr) return nullptr;
    auto node = Make(is_in ? Ast::kIn : Ast::kCmp, at);
    node->cmp = op;
    node->kids.push_back(std::move(left));
    node->kids.push_back(std::move(right));
    switch (Peek().kind) {
      case Tok::kEq: case Tok::kNe: case Tok::kLt: case Tok::kLe:
      case Tok::kGt: case Tok::kGe: case Tok::kIn:
        return Fail(Peek().offset, "comparisons cannot be chained; join "
                                   "them with `&&`");
      default:
        return node;
    }
  }

  std::unique_ptr<Ast> Unary() {
    Depth depth(this);
    if (depth_ > kMaxConditionDepth) {
      return Fail(Peek().offset, "the condition is nested too deeply");
    }
    if (Peek().kind == Tok::kNot) {
      size_t at = Take().offset;
      std::unique_ptr<Ast> operand = Unary();
      if (operand == nullptr) return nullptr;
      auto node = Make(Ast::kNot, at);
      node->kids.push_back(std::move(operand));
      return node;
    }
    if (Peek().kind == Tok::kMinus) {
      size_t at = Take().offset;
      const Token& t = Peek();
      if (t.kind == Tok::kInt) {
        Take();
        auto node = Make(Ast::kInt, at);
        node->i = -t.i;
        return node;
      }
      if (t.kind == Tok::kDouble) {
        Take();
        auto node = Make(Ast::kDouble, at);
        node->d = -t.d;
        return node;
      }
      return Fail(at, "only numbers can be negative");
    }
    return Member();
  }

  std::unique_ptr<Ast> Member() {
    std::unique_ptr<Ast> e = Primary();
    while (e != nullptr) {
      if (Peek().kind == Tok::kDot) {
        Take();
        const Token& name = Peek();
        if (name.kind != Tok::kIdent) {
          return Fail(name.offset, "expected a field or function name after `.`");
        }
        Take();
        if (Peek().kind == Tok::kLParen) {
          auto call = Make(Ast::kCall, name.offset);
          call->name = name.text;
          call->has_target = true;
          call->kids.push_back(std::move(e));
          if (!Arguments(call.get())) return nullptr;
          e = std::move(call);
        } else {
          auto select = Make(Ast::kSelect, name.offset);
          select->name = name.text;
          select->kids.push_back(std::move(e));
          e = std::move(select);
        }
      } else if (Peek().kind == Tok::kLBracket) {
        return Fail(Peek().offset, "indexing with [..] is not supported; use "
                                   "exists(...) or all(...) on lists");
      } else {
        break;
      }
    }
    return e;
  }

  bool Arguments(Ast* call) {
    Take();  // '('
    if (Accept(Tok::kRParen)) return true;
    while (true) {
      std::unique_ptr<Ast> arg = Or();
      if (arg == nullptr) return false;
      call->kids.push_back(std::move(arg));
      if (Accept(Tok::kRParen)) return true;
      if (!Accept(Tok::kComma)) {
        Fail(Peek().offset, "expected `,` or `)`");
        return false;
      }
    }
  }

  std::unique_ptr<Ast> Primary() {
    const Token& t = Peek();
    switch (t.kind) {
      case Tok::kIdent: {
        Take();
        if (Peek().kind == Tok::kLParen) {
          auto call = Make(Ast::kCall, t.offset);
          call->name = t.text;
          if (!Arguments(call.get())) return nullptr;
          return call;
        }
        auto id = Make(Ast::kIdent, t.offset);
        id->name = t.text;
        return id;
      }
      case Tok::kLParen: {
        Take();
        std::unique_ptr<Ast> e = Or();
        if (e == nullptr) return nullptr;
        if (!Accept(Tok::kRParen)) return Fail(Peek().offset, "expected `)`");
        return e;
      }
      case Tok::kLBracket: {
        auto list = Make(Ast::kList, Take().offset);
        if (Accept(Tok::kRBracket)) return list;
        while (true) {
          std::unique_ptr<Ast> element = Or();
          if (element == nullptr) return nullptr;
          list->kids.push_back(std::move(element));
          if (Accept(Tok::kRBracket)) return list;
          if (!Accept(Tok::kComma)) return Fail(Peek().offset, "expected `,` or `]`");
          if (Accept(Tok::kRBracket)) return list;  // trailing comma
        }
      }
      case Tok::kString: {
        auto s = Make(Ast::kString, Take().offset);
        s->name = t.text;
        return s;
      }
      case Tok::kInt: {
        auto n = Make(Ast::kInt, Take().offset);
        n->i = t.i;
        return n;
      }
      case Tok::kUint: {
        auto n = Make(Ast::kUint, Take().offset);
        n->u = t.u;
        return n;
      }
      case Tok::kDouble: {
        auto n = Make(Ast::kDouble, Take().offset);
        n->d = t.d;
        return n;
      }
      case Tok::kTrue:
      case Tok::kFalse: {
        auto b = Make(Ast::kBool, Take().offset);
        b->b = t.kind == Tok::kTrue;
        return b;
      }
      case Tok::kEnd:
        return Fail(t.offset, "the condition ends too early");
      default:
        return Fail(t.offset, "expected a field, a value or `(` here");
    }
  }

  std::vector<Token> tokens_;
  std::vector<ConditionError>* errors_;
  size_t pos_ = 0;
  int depth_ = 0;
  bool failed_ = false;
};

// ---------------------------------------------------------------- types

struct Type {
  enum Kind { kBool, kInt, kUint, kDouble, kString, kBytes, kEnum, kMessage,
              kTimestamp, kList, kEnumName, kInvalid };
  Kind kind = kInvalid;
  const EnumDescriptor* enum_type = nullptr;
  const Descriptor* message = nullptr;
  const FieldDescriptor* list = nullptr;  // kList: the repeated field
  bool numeric() const { return kind == kInt || kind == kUint || kind == kDouble; }
};

bool IsTimestamp(const Descriptor* d) {
  return d->full_name() == "google.protobuf.Timestamp";
}

Type ElementType(const FieldDescriptor* f) {
  Type t;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL: t.kind = Type::kBool; break;
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64: t.kind = Type::kInt; break;
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64: t.kind = Type::kUint; break;
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE: t.kind = Type::kDouble; break;
    case FieldDescriptor::CPPTYPE_STRING:
      t.kind = f->type() == FieldDescriptor::TYPE_BYTES ? Type::kBytes : Type::kString;
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      t.kind = Type::kEnum;
      t.enum_type = f->enum_type();
      break;
    case FieldDescriptor::CPPTYPE_MESSAGE:
      t.kind = IsTimestamp(f->message_type()) ? Type::kTimestamp : Type::kMessage;
      t.message = f->message_type();
      break;
  }
  return t;
}

const Reflection* SubReflection(const FieldDescriptor* f) {
  return f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE ? ReflectionOf(f->message_type())
                                                           : nullptr;
}

Type FieldType(const FieldDescriptor* f) {
  if (!f->is_repeated()) return ElementType(f);
  Type t;
  t.kind = Type::kList;
  t.list = f;
  return t;
}

std::string Describe(const Type& t) {
  switch (t.kind) {
    case Type::kBool: return "true/false";
    case Type::kInt:
    case Type::kUint: return "a whole number";
    case Type::kDouble: return "a number";
    case Type::kString: return "text";
    case Type::kBytes: return "binary data";
    case Type::kEnum: return absl::StrCat("a `", t.enum_type->name(), "` value");
    case Type::kMessage: return absl::StrCat("a group of fields (`", t.message->name(), "`)");
    case Type::kTimestamp: return "a time";
    case Type::kList: return absl::StrCat("a list of ", Describe(ElementType(t.list)));
    case Type::kEnumName: return "a name";
    case Type::kInvalid: return "invalid";
  }
  return "?";
}

std::string EnumNames(const EnumDescriptor* e) {
  std::vector<std::string> names;
  for (int i = 0; i < e->value_count(); ++i) {
    if (e->value(i)->number() != 0) names.push_back(e->value(i)->name());
  }
  return absl::StrJoin(names, ", ");
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
  const Message* msg = nullptr;
  const FieldDescriptor* field = nullptr;  // kList: msg's repeated field
  // kMessage: msg's reflection; kList: the reflection of msg (the list's
  // owner) and of the elements if they are messages. Carried along because
  // Message::GetReflection() is costly per call.
  const Reflection* refl = nullptr;
  const Reflection* elem_refl = nullptr;

  static Value Error() { return Value{}; }
  static Value Bool(bool v) {
    Value x;
    x.k = K::kBool;
    x.b = v;
    return x;
  }
};

}  // namespace

// ---------------------------------------------------------------- program

struct Condition::Expr {
  enum class Op { kConst, kField, kHas, kNot, kAnd, kOr, kCmp, kInConst,
                  kInList, kStartsWith, kEndsWith, kContains, kSize, kExists,
                  kAll };
  static constexpr int kEnvelope = -1;
  static constexpr int kBody = -2;

  Op op = Op::kConst;
  size_t offset = 0;
  Type type;
  CmpOp cmp = CmpOp::kEq;
  // kConst (strings live in `text`).
  Value value;
  std::string text;
  // kField / kHas: where the path starts and the fields it follows.
  int root = kBody;
  std::vector<const FieldDescriptor*> path;
  // For each step of `path`: the reflection of the message it yields (or
  // of its elements), null for scalars.
  std::vector<const Reflection*> step_refl;
  std::vector<std::unique_ptr<Expr>> kids;
  // kInConst: the constant list (strings in `texts`); for enums with small
  // numbers also as a bit set, tested in one step.
  std::vector<Value> list;
  std::vector<std::string> texts;
  uint64_t enum_bits = 0;
  bool use_enum_bits = false;
  // kExists / kAll: the variable's slot.
  int slot = 0;
  bool reads_fields = false;
};

namespace {

using Expr = Condition::Expr;

// ---------------------------------------------------------------- checking

class Checker {
 public:
  Checker(v1::ItemKind kind, std::vector<ConditionError>* errors)
      : errors_(errors) {
    body_ = kind == v1::ALERT ? v1::Alert::descriptor()
                              : v1::IntelligenceReport::descriptor();
    kind_name_ = kind == v1::ALERT ? "an alert" : "a report";
  }

  int slots() const { return max_slots_; }

  std::unique_ptr<Expr> CheckBool(const Ast& a) {
    std::unique_ptr<Expr> e = Check(a);
    if (e == nullptr) return nullptr;
    if (e->type.kind != Type::kBool) {
      return Fail(a.offset, absl::StrCat("a condition must be true or false; "
                                         "this is ", Describe(e->type)));
    }
    return e;
  }

 private:
  struct Var {
    std::string name;
    int slot;
    Type type;
  };

  std::unique_ptr<Expr> Fail(size_t offset, std::string message) {
    errors_->push_back({offset, std::move(message)});
    return nullptr;
  }

  static std::unique_ptr<Expr> Make(Expr::Op op, size_t offset, Type type) {
    auto e = std::make_unique<Expr>();
    e->op = op;
    e->offset = offset;
    e->type = type;
    return e;
  }
  static Type Of(Type::Kind k) {
    Type t;
    t.kind = k;
    return t;
  }

  std::unique_ptr<Expr> Check(const Ast& a) {
    switch (a.kind) {
      case Ast::kBool: {
        auto e = Make(Expr::Op::kConst, a.offset, Of(Type::kBool));
        e->value = Value::Bool(a.b);
        return e;
      }
      case Ast::kInt: {
        auto e = Make(Expr::Op::kConst, a.offset, Of(Type::kInt));
        e->value.k = Value::K::kInt;
        e->value.i = a.i;
        return e;
      }
      case Ast::kUint: {
        auto e = Make(Expr::Op::kConst, a.offset, Of(Type::kUint));
        e->value.k = Value::K::kUint;
        e->value.u = a.u;
        return e;
      }
      case Ast::kDouble: {
        auto e = Make(Expr::Op::kConst, a.offset, Of(Type::kDouble));
        e->value.k = Value::K::kDouble;
        e->value.d = a.d;
        return e;
      }
      case Ast::kString: {
        auto e = Make(Expr::Op::kConst, a.offset, Of(Type::kString));
        e->value.k = Value::K::kString;
        e->text = a.name;
        return e;
      }
      case Ast::kIdent:
        return Identifier(a);
      case Ast::kSelect:
        return Select(a);
      case Ast::kCall:
        return Call(a);
      case Ast::kList:
        return Fail(a.offset, "a list [..] can only follow `in`");
      case Ast::kNot: {
        auto operand = CheckBool(*a.kids[0]);
        if (operand == nullptr) return nullptr;
        auto e = Make(Expr::Op::kNot, a.offset, Of(Type::kBool));
        e->reads_fields = operand->reads_fields;
        e->kids.push_back(std::move(operand));
        return e;
      }
      case Ast::kAnd:
      case Ast::kOr: {
        // Check both sides even if the left fails, to report every error.
        auto left = CheckBool(*a.kids[0]);
        auto right = CheckBool(*a.kids[1]);
        if (left == nullptr || right == nullptr) return nullptr;
        auto e = Make(a.kind == Ast::kAnd ? Expr::Op::kAnd : Expr::Op::kOr,
                      a.offset, Of(Type::kBool));
        e->reads_fields = left->reads_fields || right->reads_fields;
        e->kids.push_back(std::move(left));
        e->kids.push_back(std::move(right));
        return e;
      }
      case Ast::kCmp:
        return Compare(a);
      case Ast::kIn:
        return In(a);
    }
    return Fail(a.offset, "unsupported expression");
  }

  const Var* FindVar(const std::string& name) const {
    for (auto it = vars_.rbegin(); it != vars_.rend(); ++it) {
      if (it->name == name) return &*it;
    }
    return nullptr;
  }

  static const FieldDescriptor* EnvelopeField(const std::string& name) {
    const FieldDescriptor* f = v1::Item::descriptor()->FindFieldByName(name);
    if (f == nullptr || f->containing_oneof() != nullptr) return nullptr;
    return f;
  }

  std::unique_ptr<Expr> FieldExpr(size_t offset, int root,
                                  const FieldDescriptor* f) {
    auto e = Make(Expr::Op::kField, offset, FieldType(f));
    e->root = root;
    e->path.push_back(f);
    e->step_refl.push_back(SubReflection(f));
    e->reads_fields = true;
    return e;
  }

  std::unique_ptr<Expr> Identifier(const Ast& a) {
    if (const Var* v = FindVar(a.name)) {
      auto e = Make(Expr::Op::kField, a.offset, v->type);
      e->root = v->slot;
      e->reads_fields = true;
      return e;
    }
    if (const FieldDescriptor* f = body_->FindFieldByName(a.name)) {
      return FieldExpr(a.offset, Expr::kBody, f);
    }
    if (const FieldDescriptor* f = EnvelopeField(a.name)) {
      return FieldExpr(a.offset, Expr::kEnvelope, f);
    }
    // Possibly an enum value name: resolved by the comparison around it.
    auto e = Make(Expr::Op::kConst, a.offset, Of(Type::kEnumName));
    e->text = a.name;
    return e;
  }

  std::vector<std::string> KnownNames() const {
    std::vector<std::string> names;
    for (const Var& v : vars_) names.push_back(v.name);
    for (int i = 0; i < body_->field_count(); ++i) names.push_back(body_->field(i)->name());
    const Descriptor* item = v1::Item::descriptor();
    for (int i = 0; i < item->field_count(); ++i) {
      if (item->field(i)->containing_oneof() == nullptr) names.push_back(item->field(i)->name());
    }
    return names;
  }

  // An identifier that is neither a variable nor a field, used where no
  // enum type gives it meaning.
  std::unique_ptr<Expr> UnknownName(const Expr& e) {
    std::string hint = DidYouMean(e.text, KnownNames());
    if (hint.empty() && absl::AsciiStrToUpper(e.text) == e.text) {
      hint = "; an enum value such as PIN_CODE_FRAUD must be compared with a "
             "field of that type, e.g. `category == PIN_CODE_FRAUD`";
    }
    return Fail(e.offset, absl::StrCat("`", e.text, "` is not a field of ",
                                       kind_name_, " or its envelope", hint));
  }

  std::unique_ptr<Expr> Resolve(std::unique_ptr<Expr> e) {
    if (e != nullptr && e->type.kind == Type::kEnumName) return UnknownName(*e);
    return e;
  }

  std::unique_ptr<Expr> Select(const Ast& a) {
    auto operand = Resolve(Check(*a.kids[0]));
    if (operand == nullptr) return nullptr;
    const Type& t = operand->type;
    if (operand->op != Expr::Op::kField) {
      return Fail(a.offset, absl::StrCat("`.", a.name, "` can only follow a field"));
    }
    if (t.kind == Type::kList) {
      std::string list = operand->path.empty() ? "this" : operand->path.back()->name();
      return Fail(a.offset,
                  absl::StrCat("`", list, "` is a list; to test its elements "
                               "write e.g. `", list, ".exists(x, x.", a.name,
                               " == ...)`"));
    }
    if (t.kind != Type::kMessage) {
      return Fail(a.offset, absl::StrCat("`", a.name, "`: ", Describe(t),
                                         " has no fields"));
    }
    const FieldDescriptor* f = t.message->FindFieldByName(a.name);
    if (f == nullptr) {
      std::vector<std::string> names;
      for (int i = 0; i < t.message->field_count(); ++i) names.push_back(t.message->field(i)->name());
      return Fail(a.offset, absl::StrCat("`", t.message->name(), "` has no field `",
                                         a.name, "`", DidYouMean(a.name, names)));
    }
    operand->path.push_back(f);
    operand->step_refl.push_back(SubReflection(f));
    operand->type = FieldType(f);
    operand->offset = a.offset;
    return operand;
  }

  std::unique_ptr<Expr> Call(const Ast& a) {
    const std::string& fn = a.name;
    size_t nargs = a.kids.size() - (a.has_target ? 1 : 0);
    auto arg = [&](size_t i) -> const Ast& { return *a.kids[i + (a.has_target ? 1 : 0)]; };
    if (fn == "has" && !a.has_target) {
      if (nargs != 1) return Fail(a.offset, "has() takes one field, e.g. has(location.position)");
      auto f = Check(arg(0));
      if (f == nullptr) return nullptr;
      if (f->op != Expr::Op::kField || f->path.empty()) {
        return Fail(arg(0).offset, "has() takes a field, e.g. has(location.position)");
      }
      f->op = Expr::Op::kHas;
      f->type = Of(Type::kBool);
      return f;
    }
    if (fn == "timestamp" && !a.has_target) {
      if (nargs != 1 || arg(0).kind != Ast::kString) {
        return Fail(a.offset, "timestamp() takes a time in quotes, e.g. "
                              "timestamp(\"2026-11-28T00:00:00Z\")");
      }
      absl::Time time;
      std::string err;
      if (!absl::ParseTime(absl::RFC3339_full, arg(0).name, &time, &err)) {
        return Fail(arg(0).offset, "not a time in RFC 3339 form, e.g. "
                                   "2026-11-28T14:05:00Z");
      }
      auto e = Make(Expr::Op::kConst, a.offset, Of(Type::kTimestamp));
      e->value.k = Value::K::kTimestamp;
      const google::protobuf::Timestamp ts = ToTimestamp(time);
      e->value.i = ts.seconds();
      e->value.nanos = ts.nanos();
      return e;
    }
    if (fn == "size") {
      std::unique_ptr<Expr> target;
      if (a.has_target && nargs == 0) {
        target = Resolve(Check(*a.kids[0]));
      } else if (!a.has_target && nargs == 1) {
        target = Resolve(Check(arg(0)));
      } else {
        return Fail(a.offset, "size() takes one text or list, e.g. size(persons)");
      }
      if (target == nullptr) return nullptr;
      if (target->type.kind != Type::kString && target->type.kind != Type::kList) {
        return Fail(a.offset, absl::StrCat("size() works on text and lists, not on ",
                                           Describe(target->type)));
      }
      auto e = Make(Expr::Op::kSize, a.offset, Of(Type::kInt));
      e->reads_fields = target->reads_fields;
      e->kids.push_back(std::move(target));
      return e;
    }
    if (a.has_target && (fn == "startsWith" || fn == "endsWith" || fn == "contains")) {
      auto target = Resolve(Check(*a.kids[0]));
      if (nargs != 1) {
        return Fail(a.offset, absl::StrCat(fn, "() takes one text, e.g. ", fn, "(\"MSCU\")"));
      }
      auto needle = Resolve(Check(arg(0)));
      if (target == nullptr || needle == nullptr) return nullptr;
      if (target->type.kind != Type::kString) {
        return Fail(a.offset, absl::StrCat(fn, "() works on text, not on ",
                                           Describe(target->type)));
      }
      if (needle->type.kind != Type::kString) {
        return Fail(arg(0).offset, absl::StrCat(fn, "() takes text, not ",
                                                Describe(needle->type)));
      }
      auto e = Make(fn == "startsWith" ? Expr::Op::kStartsWith
                    : fn == "endsWith" ? Expr::Op::kEndsWith
                                       : Expr::Op::kContains,
                    a.offset, Of(Type::kBool));
      e->reads_fields = target->reads_fields || needle->reads_fields;
      e->kids.push_back(std::move(target));
      e->kids.push_back(std::move(needle));
      return e;
    }
    if (a.has_target && (fn == "exists" || fn == "all")) {
      auto list = Resolve(Check(*a.kids[0]));
      if (list == nullptr) return nullptr;
      if (list->type.kind != Type::kList) {
        return Fail(a.offset, absl::StrCat(fn, "() works on lists (such as "
                                           "containers or persons), not on ",
                                           Describe(list->type)));
      }
      if (nargs != 2 || arg(0).kind != Ast::kIdent) {
        return Fail(a.offset, absl::StrCat(fn, "() takes a name and a condition, "
                                           "e.g. containers.", fn,
                                           "(c, c.port_of_loading == \"ECGYE\")"));
      }
      const std::string& var = arg(0).name;
      if (body_->FindFieldByName(var) != nullptr || EnvelopeField(var) != nullptr ||
          FindVar(var) != nullptr) {
        return Fail(arg(0).offset, absl::StrCat("`", var, "` is already the name "
                                                "of a field; choose another "
                                                "name for the element"));
      }
      int slot = static_cast<int>(vars_.size());
      vars_.push_back(Var{var, slot, ElementType(list->type.list)});
      max_slots_ = std::max(max_slots_, slot + 1);
      auto body = CheckBool(arg(1));
      vars_.pop_back();
      if (body == nullptr) return nullptr;
      auto e = Make(fn == "exists" ? Expr::Op::kExists : Expr::Op::kAll,
                    a.offset, Of(Type::kBool));
      e->slot = slot;
      e->reads_fields = true;
      e->kids.push_back(std::move(list));
      e->kids.push_back(std::move(body));
      return e;
    }
    return Fail(a.offset,
                absl::StrCat("unknown function `", fn, "`; conditions can use "
                             "has(), size(), timestamp(), startsWith(), "
                             "endsWith(), contains(), exists() and all()"));
  }

  // Gives an enum-name constant its value from the enum type on the other
  // side of a comparison.
  std::unique_ptr<Expr> ResolveEnum(std::unique_ptr<Expr> e, const Type& other,
                                    const std::string& what) {
    if (e->type.kind != Type::kEnumName) return e;
    if (other.kind != Type::kEnum) return UnknownName(*e);
    const auto* v = other.enum_type->FindValueByName(e->text);
    if (v == nullptr) {
      std::vector<std::string> names;
      for (int i = 0; i < other.enum_type->value_count(); ++i) {
        names.push_back(other.enum_type->value(i)->name());
      }
      return Fail(e->offset, absl::StrCat("`", e->text, "` is not a value of ",
                                          what, "; choose one of: ",
                                          EnumNames(other.enum_type),
                                          DidYouMean(e->text, names)));
    }
    auto c = Make(Expr::Op::kConst, e->offset, other);
    c->value.k = Value::K::kEnum;
    c->value.i = v->number();
    c->text = v->name();
    return c;
  }

  static std::string WhatIs(const Expr& e) {
    if ((e.op == Expr::Op::kField) && !e.path.empty()) {
      return absl::StrCat("`", e.path.back()->name(), "`");
    }
    return "the other side";
  }

  static bool Comparable(const Type& a, const Type& b, bool ordering) {
    if (a.numeric() && b.numeric()) return true;
    if (a.kind != b.kind) return false;
    switch (a.kind) {
      case Type::kString:
      case Type::kTimestamp:
        return true;
      case Type::kBool:
      case Type::kBytes:
        return !ordering;
      case Type::kEnum:
        return a.enum_type == b.enum_type;
      default:
        return false;
    }
  }

  std::unique_ptr<Expr> Compare(const Ast& a) {
    auto left = Check(*a.kids[0]);
    auto right = Check(*a.kids[1]);
    if (left == nullptr || right == nullptr) return nullptr;
    if (left->type.kind == Type::kEnumName && right->type.kind == Type::kEnumName) {
      // Neither side is a field; naming the first is enough.
      return UnknownName(*left);
    }
    std::string left_what = WhatIs(*left), right_what = WhatIs(*right);
    right = ResolveEnum(std::move(right), left->type, left_what);
    if (right == nullptr) return nullptr;
    left = ResolveEnum(std::move(left), right->type, right_what);
    if (left == nullptr) return nullptr;
    bool ordering = a.cmp != CmpOp::kEq && a.cmp != CmpOp::kNe;
    if (!Comparable(left->type, right->type, ordering)) {
      std::string hint;
      if (left->type.kind == Type::kEnum && right->type.numeric()) {
        hint = absl::StrCat("; compare with a name: ", EnumNames(left->type.enum_type));
      } else if (left->type.kind == Type::kList) {
        hint = "; to test a list use `in`, exists() or all()";
      }
      return Fail(a.offset, absl::StrCat("cannot use `", CmpText(a.cmp), "` between ",
                                         Describe(left->type), " and ",
                                         Describe(right->type), hint));
    }
    auto e = Make(Expr::Op::kCmp, a.offset, Of(Type::kBool));
    e->cmp = a.cmp;
    e->reads_fields = left->reads_fields || right->reads_fields;
    e->kids.push_back(std::move(left));
    e->kids.push_back(std::move(right));
    return e;
  }

  std::unique_ptr<Expr> In(const Ast& a) {
    auto left = Check(*a.kids[0]);
    if (left == nullptr) return nullptr;
    const Ast& list_ast = *a.kids[1];
    if (list_ast.kind == Ast::kList) {
      left = Resolve(std::move(left));
      if (left == nullptr) return nullptr;
      auto e = Make(Expr::Op::kInConst, a.offset, Of(Type::kBool));
      bool ok = true;
      for (const auto& element_ast : list_ast.kids) {
        auto element = Check(*element_ast);
        if (element == nullptr) {
          ok = false;
          continue;
        }
        element = ResolveEnum(std::move(element), left->type, WhatIs(*left));
        if (element == nullptr) {
          ok = false;
          continue;
        }
        if (element->op != Expr::Op::kConst) {
          Fail(element_ast->offset, "a list after `in` can only hold values, not fields");
          ok = false;
          continue;
        }
        if (!Comparable(left->type, element->type, false)) {
          Fail(element_ast->offset, absl::StrCat("this list holds ", Describe(element->type),
                                                 " but ", WhatIs(*left), " is ",
                                                 Describe(left->type)));
          ok = false;
          continue;
        }
        e->list.push_back(element->value);
        e->texts.push_back(element->text);
      }
      if (!ok) return nullptr;
      if (left->type.kind == Type::kEnum) {
        e->use_enum_bits = true;
        for (const Value& v : e->list) {
          if (v.k != Value::K::kEnum || v.i < 0 || v.i >= 64) e->use_enum_bits = false;
          if (e->use_enum_bits) e->enum_bits |= uint64_t{1} << v.i;
        }
      }
      e->reads_fields = left->reads_fields;
      e->kids.push_back(std::move(left));
      return e;
    }
    auto right = Resolve(Check(list_ast));
    if (right == nullptr) return nullptr;
    if (right->type.kind != Type::kList) {
      return Fail(list_ast.offset, absl::StrCat("`in` needs a list, such as [\"NLRTM\", "
                                                "\"BEANR\"] or a list field; this is ",
                                                Describe(right->type)));
    }
    Type element = ElementType(right->type.list);
    left = ResolveEnum(std::move(left), element, WhatIs(*right));
    if (left == nullptr) return nullptr;
    if (!Comparable(left->type, element, false)) {
      return Fail(a.offset, absl::StrCat("cannot look for ", Describe(left->type),
                                         " in ", Describe(right->type)));
    }
    auto e = Make(Expr::Op::kInList, a.offset, Of(Type::kBool));
    e->reads_fields = true;
    e->kids.push_back(std::move(left));
    e->kids.push_back(std::move(right));
    return e;
  }

  const Descriptor* body_;
  absl::string_view kind_name_;
  std::vector<ConditionError>* errors_;
  std::vector<Var> vars_;
  int max_slots_ = 0;
};

// ---------------------------------------------------------------- evaluation

struct Frame {
  const Message* envelope;
  const Message* body;
  Value* slots;
  const Reflection* envelope_refl;
  const Reflection* body_refl;
};

// Field `f` (element `index` if repeated, else -1) of `m`, whose reflection
// is `r`; `sub_r` is the reflection of f's message type, if any.
Value Scalar(const Message& m, const Reflection* r, const FieldDescriptor* f, int index,
             const Reflection* sub_r) {
  bool rep = index >= 0;
  Value v;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL:
      v.k = Value::K::kBool;
      v.b = rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f);
      return v;
    case FieldDescriptor::CPPTYPE_INT32:
      v.k = Value::K::kInt;
      v.i = rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f);
      return v;
    case FieldDescriptor::CPPTYPE_INT64:
      v.k = Value::K::kInt;
      v.i = rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f);
      return v;
    case FieldDescriptor::CPPTYPE_UINT32:
      v.k = Value::K::kUint;
      v.u = rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f);
      return v;
    case FieldDescriptor::CPPTYPE_UINT64:
      v.k = Value::K::kUint;
      v.u = rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f);
      return v;
    case FieldDescriptor::CPPTYPE_FLOAT:
      v.k = Value::K::kDouble;
      v.d = rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f);
      return v;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      v.k = Value::K::kDouble;
      v.d = rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f);
      return v;
    case FieldDescriptor::CPPTYPE_ENUM:
      v.k = Value::K::kEnum;
      v.i = rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
      return v;
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = rep ? r->GetRepeatedStringReference(m, f, index, &scratch)
                                 : r->GetStringReference(m, f, &scratch);
      // A reference into `scratch` would not outlive this call: fail closed.
      if (&s == &scratch) return Value::Error();
      v.k = Value::K::kString;
      v.s = s;
      return v;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const Message& sub = rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f);
      if (IsTimestamp(f->message_type())) {
        static const FieldDescriptor* seconds =
            google::protobuf::Timestamp::descriptor()->FindFieldByNumber(1);
        static const FieldDescriptor* nanos =
            google::protobuf::Timestamp::descriptor()->FindFieldByNumber(2);
        v.k = Value::K::kTimestamp;
        v.i = sub_r->GetInt64(sub, seconds);
        v.nanos = sub_r->GetInt32(sub, nanos);
        return v;
      }
      v.k = Value::K::kMessage;
      v.msg = &sub;
      v.refl = sub_r;
      return v;
    }
  }
  return Value::Error();
}

Value Read(const Message& m, const Reflection* r, const FieldDescriptor* f,
           const Reflection* sub_r) {
  if (f->is_repeated()) {
    Value v;
    v.k = Value::K::kList;
    v.msg = &m;
    v.field = f;
    v.refl = r;
    v.elem_refl = sub_r;
    return v;
  }
  return Scalar(m, r, f, -1, sub_r);
}

// Element `i` of a list value.
Value Element(const Value& list, int i) {
  return Scalar(*list.msg, list.refl, list.field, i, list.elem_refl);
}

Value Start(const Expr& e, const Frame& frame) {
  if (e.root == Expr::kBody || e.root == Expr::kEnvelope) {
    Value v;
    v.k = Value::K::kMessage;
    v.msg = e.root == Expr::kBody ? frame.body : frame.envelope;
    v.refl = e.root == Expr::kBody ? frame.body_refl : frame.envelope_refl;
    return v;
  }
  return frame.slots[e.root];
}

// Compares two comparable values: -1, 0 or 1; `ok` false if not comparable.
int Order(const Value& a, const Value& b, bool* ok) {
  *ok = true;
  using K = Value::K;
  auto sign = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
  bool an = a.k == K::kInt || a.k == K::kUint || a.k == K::kDouble;
  bool bn = b.k == K::kInt || b.k == K::kUint || b.k == K::kDouble;
  if (an && bn) {
    if (a.k == K::kDouble || b.k == K::kDouble) {
      double x = a.k == K::kDouble ? a.d : a.k == K::kInt ? static_cast<double>(a.i) : static_cast<double>(a.u);
      double y = b.k == K::kDouble ? b.d : b.k == K::kInt ? static_cast<double>(b.i) : static_cast<double>(b.u);
      if (std::isnan(x) || std::isnan(y)) {
        *ok = false;
        return 0;
      }
      return sign(x, y);
    }
    if (a.k == K::kInt && b.k == K::kInt) return sign(a.i, b.i);
    if (a.k == K::kUint && b.k == K::kUint) return sign(a.u, b.u);
    if (a.k == K::kInt) return a.i < 0 ? -1 : sign(static_cast<uint64_t>(a.i), b.u);
    return b.i < 0 ? 1 : sign(a.u, static_cast<uint64_t>(b.i));
  }
  if (a.k != b.k) {
    *ok = false;
    return 0;
  }
  switch (a.k) {
    case K::kBool: return sign(a.b, b.b);
    case K::kEnum: return sign(a.i, b.i);
    case K::kString: return a.s.compare(b.s) < 0 ? -1 : (a.s == b.s ? 0 : 1);
    case K::kTimestamp:
      return a.i != b.i ? sign(a.i, b.i) : sign(a.nanos, b.nanos);
    default:
      *ok = false;
      return 0;
  }
}

Value ConstValue(const Expr& e, const Value& v, const std::string& text) {
  (void)e;
  if (v.k != Value::K::kString) return v;
  Value s = v;
  s.s = text;
  return s;
}

size_t CodePoints(absl::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

Value Eval(const Expr& e, const Frame& frame) {
  using Op = Expr::Op;
  switch (e.op) {
    case Op::kConst:
      return ConstValue(e, e.value, e.text);
    case Op::kField: {
      Value v = Start(e, frame);
      for (size_t i = 0; i < e.path.size(); ++i) {
        if (v.k != Value::K::kMessage) return Value::Error();
        v = Read(*v.msg, v.refl, e.path[i], e.step_refl[i]);
      }
      return v;
    }
    case Op::kHas: {
      Value v = Start(e, frame);
      for (size_t i = 0; i < e.path.size(); ++i) {
        if (v.k != Value::K::kMessage) return Value::Error();
        const Message& m = *v.msg;
        const FieldDescriptor* f = e.path[i];
        const Reflection* r = v.refl;
        bool present = f->is_repeated() ? r->FieldSize(m, f) > 0 : r->HasField(m, f);
        if (i + 1 == e.path.size()) return Value::Bool(present);
        if (!present) return Value::Bool(false);
        v = Read(m, r, f, e.step_refl[i]);
      }
      return Value::Error();
    }
    case Op::kNot: {
      Value v = Eval(*e.kids[0], frame);
      if (v.k != Value::K::kBool) return Value::Error();
      return Value::Bool(!v.b);
    }
    case Op::kAnd:
    case Op::kOr: {
      // CEL: a decisive value on either side wins over an error on the other.
      bool decisive = e.op == Op::kOr;
      Value l = Eval(*e.kids[0], frame);
      if (l.k == Value::K::kBool && l.b == decisive) return l;
      Value r = Eval(*e.kids[1], frame);
      if (r.k == Value::K::kBool && r.b == decisive) return r;
      if (l.k == Value::K::kBool && r.k == Value::K::kBool) return Value::Bool(!decisive);
      return Value::Error();
    }
    case Op::kCmp: {
      Value l = Eval(*e.kids[0], frame);
      Value r = Eval(*e.kids[1], frame);
      bool ok;
      int c = Order(l, r, &ok);
      if (!ok) return Value::Error();
      switch (e.cmp) {
        case CmpOp::kEq: return Value::Bool(c == 0);
        case CmpOp::kNe: return Value::Bool(c != 0);
        case CmpOp::kLt: return Value::Bool(c < 0);
        case CmpOp::kLe: return Value::Bool(c <= 0);
        case CmpOp::kGt: return Value::Bool(c > 0);
        case CmpOp::kGe: return Value::Bool(c >= 0);
      }
      return Value::Error();
    }
    case Op::kInConst: {
      Value l = Eval(*e.kids[0], frame);
      if (l.k == Value::K::kError) return l;
      if (e.use_enum_bits && l.k == Value::K::kEnum) {
        return Value::Bool(l.i >= 0 && l.i < 64 && ((e.enum_bits >> l.i) & 1));
      }
      if (l.k == Value::K::kString) {
        for (const std::string& text : e.texts) {
          if (l.s == text) return Value::Bool(true);
        }
        return Value::Bool(false);
      }
      for (size_t i = 0; i < e.list.size(); ++i) {
        bool ok;
        if (Order(l, ConstValue(e, e.list[i], e.texts[i]), &ok) == 0 && ok) {
          return Value::Bool(true);
        }
      }
      return Value::Bool(false);
    }
    case Op::kInList: {
      Value l = Eval(*e.kids[0], frame);
      Value list = Eval(*e.kids[1], frame);
      if (l.k == Value::K::kError || list.k != Value::K::kList) return Value::Error();
      int n = list.refl->FieldSize(*list.msg, list.field);
      for (int i = 0; i < n; ++i) {
        bool ok;
        if (Order(l, Element(list, i), &ok) == 0 && ok) {
          return Value::Bool(true);
        }
      }
      return Value::Bool(false);
    }
    case Op::kStartsWith:
    case Op::kEndsWith:
    case Op::kContains: {
      Value s = Eval(*e.kids[0], frame);
      Value t = Eval(*e.kids[1], frame);
      if (s.k != Value::K::kString || t.k != Value::K::kString) return Value::Error();
      if (e.op == Op::kStartsWith) return Value::Bool(absl::StartsWith(s.s, t.s));
      if (e.op == Op::kEndsWith) return Value::Bool(absl::EndsWith(s.s, t.s));
      return Value::Bool(absl::StrContains(s.s, t.s));
    }
    case Op::kSize: {
      Value v = Eval(*e.kids[0], frame);
      Value n;
      n.k = Value::K::kInt;
      if (v.k == Value::K::kString) {
        n.i = static_cast<int64_t>(CodePoints(v.s));
      } else if (v.k == Value::K::kList) {
        n.i = v.refl->FieldSize(*v.msg, v.field);
      } else {
        return Value::Error();
      }
      return n;
    }
    case Op::kExists:
    case Op::kAll: {
      Value list = Eval(*e.kids[0], frame);
      if (list.k != Value::K::kList) return Value::Error();
      bool decisive = e.op == Op::kExists;
      bool error = false;
      int n = list.refl->FieldSize(*list.msg, list.field);
      for (int i = 0; i < n; ++i) {
        frame.slots[e.slot] = Element(list, i);
        Value v = Eval(*e.kids[1], frame);
        if (v.k != Value::K::kBool) {
          error = true;
        } else if (v.b == decisive) {
          return v;
        }
      }
      return error ? Value::Error() : Value::Bool(!decisive);
    }
  }
  return Value::Error();
}

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
  std::vector<Token> tokens;
  if (!Lexer(text, errors).Run(&tokens)) return nullptr;
  size_t before = errors->size();
  std::unique_ptr<Ast> ast = Parser(std::move(tokens), errors).Parse();
  if (ast == nullptr || errors->size() != before) return nullptr;
  Checker checker(kind, errors);
  std::unique_ptr<Expr> root = checker.CheckBool(*ast);
  if (root == nullptr || errors->size() != before) return nullptr;
  std::unique_ptr<Condition> c(new Condition());
  c->kind_ = kind;
  c->slots_ = checker.slots();
  c->required_levels_ = RequiredLevels(*root);
  if (!root->reads_fields) {
    Frame frame{nullptr, nullptr, nullptr, nullptr, nullptr};
    Value v = Eval(*root, frame);
    c->constant_ = v.k == Value::K::kBool && v.b;
  }
  c->root_ = std::move(root);
  return c;
}

Condition::Result Condition::Evaluate(const v1::Item& item) const {
  const Message* body = nullptr;
  if (kind_ == v1::ALERT && item.has_alert()) body = &item.alert();
  if (kind_ == v1::REPORT && item.has_report()) body = &item.report();
  if (body == nullptr) return Result::kError;
  Value slots[8];
  std::unique_ptr<Value[]> heap;
  Value* slot_ptr = slots;
  if (slots_ > 8) {
    heap.reset(new Value[slots_]);
    slot_ptr = heap.get();
  }
  static const Reflection* item_refl = ReflectionOf(v1::Item::descriptor());
  static const Reflection* alert_refl = ReflectionOf(v1::Alert::descriptor());
  static const Reflection* report_refl = ReflectionOf(v1::IntelligenceReport::descriptor());
  Frame frame{&item, body, slot_ptr, item_refl, kind_ == v1::ALERT ? alert_refl : report_refl};
  Value v = Eval(*root_, frame);
  if (v.k != Value::K::kBool) return Result::kError;
  return v.b ? Result::kTrue : Result::kFalse;
}

}  // namespace havengate::policy
