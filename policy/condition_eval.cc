// The condition evaluator: runs a checked program on an item through
// protobuf reflection, following CEL's rules for errors (`false && error`
// is false). Runs for every rule of every decision, so it allocates
// nothing: strings are views into the item, and exists()/all() variables
// live in slots on the caller's stack.
#include <cmath>
#include <memory>

#include "absl/strings/match.h"
#include "google/protobuf/timestamp.pb.h"
#include "policy/condition_internal.h"
#include "policy/schema.h"

namespace havengate::policy {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using internal::CmpOp;
using internal::Expr;
using internal::IsTimestamp;
using internal::Value;

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

}  // namespace

namespace internal {

Value EvaluateConstant(const Expr& e) {
  Frame frame{nullptr, nullptr, nullptr, nullptr, nullptr};
  return Eval(e, frame);
}

}  // namespace internal

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
