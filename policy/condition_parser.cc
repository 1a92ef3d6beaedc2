// The condition parser: a recursive-descent parser from tokens to the AST,
// with CEL's precedence (`||`, `&&`, comparisons and `in`, `!` and unary
// minus, member access and calls). It stops at the first syntax error and
// bounds nesting depth so that hostile input stays cheap.
#include <utility>

#include "policy/condition_internal.h"

namespace havengate::policy::internal {
namespace {

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

}  // namespace

std::unique_ptr<Ast> Parse(std::vector<Token> tokens,
                           std::vector<ConditionError>* errors) {
  return Parser(std::move(tokens), errors).Parse();
}

}  // namespace havengate::policy::internal
