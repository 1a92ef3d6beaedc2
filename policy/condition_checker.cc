// The condition type checker: resolves names against the item schema (body
// fields, envelope fields, exists()/all() variables, enum values), checks
// that every operator and function gets values it can use, and builds the
// program the evaluator runs, with reflection looked up once per field.
// Every error is reported, each with a hint where one helps.
#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "policy/condition_internal.h"
#include "policy/schema.h"
#include "policy/suggest.h"
#include "proto/timestamp.h"

namespace havengate::policy::internal {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Reflection;

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

}  // namespace

std::unique_ptr<Expr> TypeCheck(const Ast& ast, v1::ItemKind kind,
                                std::vector<ConditionError>* errors, int* slots) {
  Checker checker(kind, errors);
  std::unique_ptr<Expr> root = checker.CheckBool(ast);
  *slots = checker.slots();
  return root;
}

}  // namespace havengate::policy::internal
