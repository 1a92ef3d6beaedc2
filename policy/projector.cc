// Projection: builds what one partner receives of an item's body, keeping
// only the fields the partner's matching rules release and applying their
// transforms. Also chooses the item to project from (a cleaned copy when
// the item holds unknown fields or empty messages) and records, once per
// decision, which fields its body holds. Runs for every partner of every
// decision: the hot path of the engine.
#include "policy/projector.h"

#include <string>

#include "google/protobuf/timestamp.pb.h"

namespace havengate::policy::internal {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

namespace {

// `m` is of type `d` with reflection `r` (passed in: looking them up per
// call is costly).
bool IsEmpty(const Reflection* r, const Descriptor* d, const Message& m) {
  for (int i = 0; i < d->field_count(); ++i) {
    if (HasValue(r, m, d->field(i))) return false;
  }
  return true;
}

// Two things in an item would let a whole-message copy send more than the
// policy decided: fields this gateway does not know (they could hold
// anything, and no rule released them) and sub-messages with nothing in
// them (they carry no value, but "an element with no released value is not
// sent" must hold for copies too). Items holding either — rare: ingest
// refuses unknown fields — are decided on a cleaned copy. The walk stops at
// the first field set in each message, so it is cheap for real items.
bool NeedsCleaning(const Message& m, const Reflection* r, const Descriptor* d) {
  if (!r->GetUnknownFields(m).empty()) return true;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const Descriptor* sub_d = f->message_type();
    const Reflection* sub_r = nullptr;
    for (int j = 0, n = f->is_repeated() ? r->FieldSize(m, f) : r->HasField(m, f); j < n; ++j) {
      const Message& sub = f->is_repeated() ? r->GetRepeatedMessage(m, f, j) : r->GetMessage(m, f);
      if (sub_r == nullptr) sub_r = ReflectionOf(sub_d);
      if (IsEmpty(sub_r, sub_d, sub) || NeedsCleaning(sub, sub_r, sub_d)) return true;
    }
  }
  return false;
}

// True if the envelope message `m` (of generated type T) needs cleaning.
template <typename T>
bool EnvelopeNeedsCleaning(const T& m) {
  static const Reflection* r = ReflectionOf(T::descriptor());
  return IsEmpty(r, T::descriptor(), m) || NeedsCleaning(m, r, T::descriptor());
}

// Removes empty sub-messages, innermost first.
void RemoveEmptyMessages(Message* m) {
  const Reflection* r = m->GetReflection();
  const Descriptor* d = m->GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      int kept = 0;
      for (int j = 0, n = r->FieldSize(*m, f); j < n; ++j) {
        Message* element = r->MutableRepeatedMessage(m, f, j);
        RemoveEmptyMessages(element);
        if (IsEmpty(element->GetReflection(), element->GetDescriptor(), *element)) continue;
        if (kept != j) r->SwapElements(m, f, kept, j);
        ++kept;
      }
      while (r->FieldSize(*m, f) > kept) r->RemoveLast(m, f);
    } else if (r->HasField(*m, f)) {
      Message* sub = r->MutableMessage(m, f);
      RemoveEmptyMessages(sub);
      if (IsEmpty(sub->GetReflection(), sub->GetDescriptor(), *sub)) r->ClearField(m, f);
    }
  }
}

}  // namespace

void PresenceTape::Walk(const BodySchema& schema, int node, const Message& m) {
  int index = static_cast<int>(records_.size());
  records_.emplace_back();
  const Reflection* r = schema.node(node).reflection;
  if (!r->GetUnknownFields(m).empty()) dirty_ = true;
  uint64_t present = 0;
  int k = 0;
  for (int c = node + 1; c < schema.node(node).end; c = schema.node(c).end, ++k) {
    const SchemaNode& n = schema.node(c);
    if (!HasValue(r, m, n.field)) continue;
    present |= uint64_t{1} << k;
    if (n.cpp_type != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    int count = n.repeated ? r->FieldSize(m, n.field) : 1;
    for (int i = 0; i < count; ++i) {
      const Message& sub = n.repeated ? r->GetRepeatedMessage(m, n.field, i)
                                      : r->GetMessage(m, n.field);
      if (n.leaf) {
        // Times (and cut recursion) are copied whole: check them whole.
        const Descriptor* d = n.field->message_type();
        if (IsEmpty(n.reflection, d, sub) || NeedsCleaning(sub, n.reflection, d)) {
          dirty_ = true;
        }
      } else {
        int sub_index = static_cast<int>(records_.size());
        Walk(schema, c, sub);
        if (records_[sub_index].present == 0) dirty_ = true;
      }
    }
  }
  records_[index].present = present;
  records_[index].next = static_cast<int>(records_.size());
}

const v1::Item& ProjectionSource(const v1::Item& item, v1::Item* storage, PresenceTape* tape) {
  static const Reflection* item_reflection = ReflectionOf(v1::Item::descriptor());
  bool dirty = !item_reflection->GetUnknownFields(item).empty();
  // The envelope, without the body.
  if (!dirty && item.has_classification()) dirty = EnvelopeNeedsCleaning(item.classification());
  if (!dirty && item.has_created_at()) dirty = EnvelopeNeedsCleaning(item.created_at());
  if (!dirty && item.has_expires_at()) dirty = EnvelopeNeedsCleaning(item.expires_at());
  for (int i = 0; !dirty && i < item.provenance_size(); ++i) {
    dirty = EnvelopeNeedsCleaning(item.provenance(i));
  }
  auto build = [&](const v1::Item& from) {
    if (from.has_alert()) tape->Build(BodySchema::Alert(), from.alert());
    if (from.has_report()) tape->Build(BodySchema::Report(), from.report());
    return tape->dirty();
  };
  if (!build(item) && !dirty) return item;
  *storage = item;
  storage->DiscardUnknownFields();
  RemoveEmptyMessages(storage);
  // A body left with nothing in it is still the item's body: without it the
  // tape would go on describing `item`, and the projection would copy
  // fields the cleaned body does not have (as empty messages). Found by the
  // projection fuzz target.
  if (item.has_alert()) storage->mutable_alert();
  if (item.has_report()) storage->mutable_report();
  build(*storage);
  return *storage;
}

namespace {

// A new element of repeated message field `n` in `m`.
Message* AddMessage(const Reflection* r, Message* m, const SchemaNode& n) {
  Message* element = n.prototype->New();
  r->AddAllocatedMessage(m, n.field, element);
  return element;
}

// Sets singular message field `n` of `m` (unset so far) to a new message.
Message* NewMessage(const Reflection* r, Message* m, const SchemaNode& n) {
  Message* sub = n.prototype->New();
  r->SetAllocatedMessage(m, sub, n.field);
  return sub;
}

// Copies field `f` (described by schema node `n`) of `src` into `dst`; both
// are messages of the type whose reflection is `r`.
void CopyField(const Reflection* r, const Message& src, Message* dst, const SchemaNode& n) {
  const Reflection* sr = r;
  const Reflection* dr = r;
  const FieldDescriptor* f = n.field;
  if (n.repeated) {
    int count = sr->FieldSize(src, f);
    for (int i = 0; i < count; ++i) {
      switch (n.cpp_type) {
        case FieldDescriptor::CPPTYPE_MESSAGE:
          AddMessage(dr, dst, n)->MergeFrom(sr->GetRepeatedMessage(src, f, i));
          break;
        case FieldDescriptor::CPPTYPE_STRING: {
          std::string scratch;
          dr->AddString(dst, f, sr->GetRepeatedStringReference(src, f, i, &scratch));
          break;
        }
        case FieldDescriptor::CPPTYPE_ENUM:
          dr->AddEnumValue(dst, f, sr->GetRepeatedEnumValue(src, f, i));
          break;
        case FieldDescriptor::CPPTYPE_BOOL:
          dr->AddBool(dst, f, sr->GetRepeatedBool(src, f, i));
          break;
        case FieldDescriptor::CPPTYPE_INT32:
          dr->AddInt32(dst, f, sr->GetRepeatedInt32(src, f, i));
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          dr->AddInt64(dst, f, sr->GetRepeatedInt64(src, f, i));
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          dr->AddUInt32(dst, f, sr->GetRepeatedUInt32(src, f, i));
          break;
        case FieldDescriptor::CPPTYPE_UINT64:
          dr->AddUInt64(dst, f, sr->GetRepeatedUInt64(src, f, i));
          break;
        case FieldDescriptor::CPPTYPE_FLOAT:
          dr->AddFloat(dst, f, sr->GetRepeatedFloat(src, f, i));
          break;
        case FieldDescriptor::CPPTYPE_DOUBLE:
          dr->AddDouble(dst, f, sr->GetRepeatedDouble(src, f, i));
          break;
      }
    }
    return;
  }
  switch (n.cpp_type) {
    case FieldDescriptor::CPPTYPE_MESSAGE:
      NewMessage(dr, dst, n)->MergeFrom(sr->GetMessage(src, f));
      break;
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      dr->SetString(dst, f, sr->GetStringReference(src, f, &scratch));
      break;
    }
    case FieldDescriptor::CPPTYPE_ENUM:
      dr->SetEnumValue(dst, f, sr->GetEnumValue(src, f));
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      dr->SetBool(dst, f, sr->GetBool(src, f));
      break;
    case FieldDescriptor::CPPTYPE_INT32:
      dr->SetInt32(dst, f, sr->GetInt32(src, f));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      dr->SetInt64(dst, f, sr->GetInt64(src, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      dr->SetUInt32(dst, f, sr->GetUInt32(src, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      dr->SetUInt64(dst, f, sr->GetUInt64(src, f));
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      dr->SetFloat(dst, f, sr->GetFloat(src, f));
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      dr->SetDouble(dst, f, sr->GetDouble(src, f));
      break;
  }
}

// Builds a partner's body from the source body, keeping only what `merged`
// releases (default deny: every field the source holds is classified, and
// only released ones are copied or kept). A message is built field by field,
// or, when most of it is released, copied with generated code and then
// filtered in place. Destinations are always fresh, empty messages, so
// copies use MergeFrom: Message::CopyFrom(const Message&) walks both
// messages by reflection first to refuse copying from a descendant.
class Projector {
 public:
  Projector(const BodySchema& schema, const PresenceTape& tape, const Merged& merged,
            PseudonymCache& cache, PartnerDecision* out)
      : schema_(schema), tape_(tape), m_(merged), cache_(cache), out_(out),
        noted_(schema.size()) {}

  // Fills `dst` (an empty body) from `src`; true if any field was set.
  bool Body(const Message& src, Message* dst) {
    if (m_.visible.AllInRange(0, schema_.size()) &&
        !m_.transformed.AnyInRange(0, schema_.size())) {
      dst->MergeFrom(src);  // dst is empty (see the class comment)
      out_->released_fields.push_back("*");
      return tape_[0].present != 0;
    }
    return Project(src, dst, 0, 0);
  }

 private:
  enum class Outcome { kDrop, kRedact, kWhole, kPart };

  // What happens to child node `c` (whose field has a value).
  Outcome Classify(int c) const {
    const SchemaNode& n = schema_.node(c);
    if (!m_.released.AnyInRange(c, n.end)) return Outcome::kDrop;
    if (m_.redact_roots.Test(c)) return Outcome::kRedact;
    if (m_.visible.AllInRange(c, n.end) && !m_.transformed.AnyInRange(c, n.end)) {
      return Outcome::kWhole;
    }
    return Outcome::kPart;
  }

  // Skips the tape entries of child `n`'s message instances in `m`.
  void Skip(const Reflection* r, const Message& m, const SchemaNode& n, int* cursor) const {
    if (n.cpp_type != FieldDescriptor::CPPTYPE_MESSAGE || n.leaf) return;
    for (int i = 0, count = n.repeated ? r->FieldSize(m, n.field) : 1; i < count; ++i) {
      *cursor = tape_[*cursor].next;
    }
  }

  void NoteOutcome(int c, Outcome outcome) {
    if (!Note(c)) return;
    const SchemaNode& n = schema_.node(c);
    switch (outcome) {
      case Outcome::kDrop: out_->withheld_fields.push_back(n.path); break;
      case Outcome::kRedact: out_->transformed_fields.push_back({n.path, TransformKind::kRedact}); break;
      case Outcome::kWhole: out_->released_fields.push_back(n.path); break;
      case Outcome::kPart: break;
    }
  }

  // Copying a message with generated code and clearing what is not
  // released is cheaper than building it field by field through
  // reflection when most of its fields go: decide per message instance.
  bool CopyThenFilterIsCheaper(int parent, int record) const {
    const uint64_t present = tape_[record].present;
    int whole = 0, dropped = 0, k = 0;
    for (int c = parent + 1; c < schema_.node(parent).end; c = schema_.node(c).end, ++k) {
      if (((present >> k) & 1) == 0) continue;
      Outcome o = Classify(c);
      whole += o == Outcome::kWhole || o == Outcome::kPart;
      dropped += o == Outcome::kDrop || o == Outcome::kRedact;
    }
    return dropped * 5 <= whole * 2;
  }

  // `m` is a copy of a source message with the presence of tape entry
  // `record`: clears every field not released (default deny: each present
  // field is classified; only kWhole fields stay untouched), transforms in
  // place, and drops elements left empty. True if anything is left.
  bool Filter(Message* m, int parent, int record) {
    const Reflection* r = schema_.node(parent).reflection;
    bool any = false;
    const uint64_t present = tape_[record].present;
    int cursor = record + 1;
    int k = 0;
    for (int c = parent + 1; c < schema_.node(parent).end; c = schema_.node(c).end, ++k) {
      if (((present >> k) & 1) == 0) continue;
      const SchemaNode& n = schema_.node(c);
      const FieldDescriptor* f = n.field;
      Outcome outcome = Classify(c);
      if (outcome != Outcome::kPart) {
        NoteOutcome(c, outcome);
        Skip(r, *m, n, &cursor);
        if (outcome == Outcome::kWhole) {
          any = true;
        } else {
          r->ClearField(m, f);
        }
        continue;
      }
      if (n.leaf) {
        const TransformSpec* spec = m_.best[c];
        if (spec != nullptr && m_.visible.Test(c)) {
          TransformInPlace(r, m, n, *spec);
          if (Note(c)) out_->transformed_fields.push_back({n.path, spec->kind});
          // A transform can leave the default value (a latitude rounded to
          // 0): then nothing is left to send.
          any |= HasValue(r, *m, f);
        } else {
          r->ClearField(m, f);  // Not reached; fail closed.
        }
        continue;
      }
      if (n.repeated) {
        int count = r->FieldSize(*m, f), kept = 0;
        for (int i = 0; i < count; ++i) {
          if (Filter(r->MutableRepeatedMessage(m, f, i), c, cursor)) {
            if (kept != i) r->SwapElements(m, f, kept, i);
            ++kept;
          }
          cursor = tape_[cursor].next;
        }
        while (r->FieldSize(*m, f) > kept) r->RemoveLast(m, f);
        any |= kept > 0;
      } else {
        if (Filter(r->MutableMessage(m, f), c, cursor)) {
          any = true;
        } else {
          r->ClearField(m, f);
        }
        cursor = tape_[cursor].next;
      }
    }
    return any;
  }

  void TransformInPlace(const Reflection* r, Message* m, const SchemaNode& n,
                        const TransformSpec& spec) {
    const FieldDescriptor* f = n.field;
    int count = n.repeated ? r->FieldSize(*m, f) : 1;
    for (int i = 0; i < count; ++i) {
      switch (n.type) {
        case ValueType::kString: {
          std::string scratch;
          const std::string& value = n.repeated
                                         ? r->GetRepeatedStringReference(*m, f, i, &scratch)
                                         : r->GetStringReference(*m, f, &scratch);
          const std::string& result = TransformString(value, spec);
          // `result` never aliases `value` (pseudonyms are cached copies,
          // masks and constants live elsewhere).
          n.repeated ? r->SetRepeatedString(m, f, i, result) : r->SetString(m, f, result);
          break;
        }
        case ValueType::kDouble: {
          double v = n.repeated ? r->GetRepeatedDouble(*m, f, i) : r->GetDouble(*m, f);
          double rounded = RoundCoordinate(v, spec.param);
          n.repeated ? r->SetRepeatedDouble(m, f, i, rounded) : r->SetDouble(m, f, rounded);
          break;
        }
        case ValueType::kTimestamp: {
          Message* ts = n.repeated ? r->MutableRepeatedMessage(m, f, i) : r->MutableMessage(m, f);
          static const FieldDescriptor* seconds_field =
              google::protobuf::Timestamp::descriptor()->FindFieldByNumber(1);
          static const FieldDescriptor* nanos_field =
              google::protobuf::Timestamp::descriptor()->FindFieldByNumber(2);
          int64_t seconds = n.reflection->GetInt64(*ts, seconds_field);
          n.reflection->SetInt64(ts, seconds_field, TruncateSeconds(seconds, spec.param));
          n.reflection->SetInt32(ts, nanos_field, 0);
          break;
        }
        default:
          r->ClearField(m, f);  // Not reached: checked at load. Fail closed.
          return;
      }
    }
  }

  bool Note(int node) {
    if (noted_.Test(node)) return false;
    noted_.Set(node);
    return true;
  }

  // `record` is src's entry in the presence tape.
  bool Project(const Message& src, Message* dst, int parent, int record) {
    if (CopyThenFilterIsCheaper(parent, record)) {
      dst->MergeFrom(src);  // dst is empty (see the class comment)
      return Filter(dst, parent, record);
    }
    // Source and destination have the same type: one reflection for both.
    const Reflection* r = schema_.node(parent).reflection;
    const Reflection* sr = r;
    const Reflection* dr = r;
    bool any = false;
    const uint64_t present = tape_[record].present;
    int cursor = record + 1;  // tape entry of the next sub-message instance
    const int parent_end = schema_.node(parent).end;
    int k = 0;
    for (int c = parent + 1; c < parent_end; c = schema_.node(c).end, ++k) {
      if (((present >> k) & 1) == 0) continue;
      const SchemaNode& n = schema_.node(c);
      const FieldDescriptor* f = n.field;
      const bool tracked = n.cpp_type == FieldDescriptor::CPPTYPE_MESSAGE && !n.leaf;
      auto skip = [&] {
        if (!tracked) return;
        for (int i = 0, count = n.repeated ? sr->FieldSize(src, f) : 1; i < count; ++i) {
          cursor = tape_[cursor].next;
        }
      };
      if (!m_.released.AnyInRange(c, n.end)) {
        if (Note(c)) out_->withheld_fields.push_back(n.path);
        skip();
        continue;
      }
      if (m_.redact_roots.Test(c)) {
        if (Note(c)) out_->transformed_fields.push_back({n.path, TransformKind::kRedact});
        skip();
        continue;
      }
      if (m_.visible.AllInRange(c, n.end) && !m_.transformed.AnyInRange(c, n.end)) {
        CopyField(r, src, dst, n);
        if (Note(c)) out_->released_fields.push_back(n.path);
        any = true;
        skip();
        continue;
      }
      if (n.leaf) {
        const TransformSpec* spec = m_.best[c];
        if (spec != nullptr && m_.visible.Test(c)) {
          // Copied, then changed in place (the in-place transform clears
          // the field if it cannot apply: fail closed).
          CopyField(r, src, dst, n);
          TransformInPlace(r, dst, n, *spec);
          if (Note(c)) out_->transformed_fields.push_back({n.path, spec->kind});
          any |= HasValue(r, *dst, f);  // see Filter
        }
        continue;
      }
      if (n.repeated) {
        int count = sr->FieldSize(src, f);
        for (int i = 0; i < count; ++i) {
          Message* element = AddMessage(dr, dst, n);
          if (Project(sr->GetRepeatedMessage(src, f, i), element, c, cursor)) {
            any = true;
          } else {
            dr->RemoveLast(dst, f);  // Drop elements left empty.
          }
          cursor = tape_[cursor].next;
        }
      } else {
        Message* sub = NewMessage(dr, dst, n);
        if (Project(sr->GetMessage(src, f), sub, c, cursor)) {
          any = true;
        } else {
          dr->ClearField(dst, f);
        }
        cursor = tape_[cursor].next;
      }
    }
    return any;
  }

  // The transformed text; a reference valid until the next call.
  const std::string& TransformString(absl::string_view value, const TransformSpec& spec) {
    switch (spec.kind) {
      case TransformKind::kPseudonymise:
        return cache_.Get(spec, value);
      case TransformKind::kMask:
        scratch_ = MaskText(value, spec.param);
        return scratch_;
      case TransformKind::kReplace:
        return spec.text;
      default:
        scratch_.clear();  // Not reached: checked at load. Fail closed.
        return scratch_;
    }
  }

  const BodySchema& schema_;
  const PresenceTape& tape_;
  const Merged& m_;
  PseudonymCache& cache_;
  PartnerDecision* out_;
  FieldSet noted_;
  std::string scratch_;
};

}  // namespace

bool ProjectBody(const BodySchema& schema, const PresenceTape& tape, const Merged& merged,
                 const Message& src, PseudonymCache& cache, Message* dst,
                 PartnerDecision* out) {
  return Projector(schema, tape, merged, cache, out).Body(src, dst);
}

}  // namespace havengate::policy::internal
