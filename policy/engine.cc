// Deciding items: per partner, the rules that match, the fields released
// and their transforms, the projected item, the audit summary and (on
// request) the explanation.
#include <algorithm>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "policy/plan.h"
#include "proto/item_validation.h"

namespace havengate::policy {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Restricted levels an item carries, as RestrictedLevel bits.
uint32_t LevelsOf(const v1::Item& item) {
  uint32_t levels = 0;
  const v1::Classification& c = item.classification();
  if (c.tlp() == v1::Classification::RED) levels |= LevelBit(v1::RED);
  if (c.handling_code() == v1::Classification::H2) levels |= LevelBit(v1::H2);
  if (c.handling_code() == v1::Classification::H3) levels |= LevelBit(v1::H3);
  return levels;
}

std::string LevelNames(uint32_t levels) {
  std::vector<std::string> names;
  for (int l : {v1::RED, v1::H2, v1::H3}) {
    if (levels & (1u << l)) {
      names.push_back(v1::RestrictedLevel_Name(static_cast<v1::RestrictedLevel>(l)));
    }
  }
  return absl::StrJoin(names, " and ");
}

bool HasValue(const Reflection* r, const Message& m, const FieldDescriptor* f) {
  return f->is_repeated() ? r->FieldSize(m, f) > 0 : r->HasField(m, f);
}

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

// Which fields each message of a body holds, computed once per decision
// and shared by all partners, so projecting for a partner does not ask
// reflection "is this field set?" again for every field of every element.
// Records are in preorder of message instances; `next` is the index just
// past an instance's subtree, so a projection can skip what it does not
// release. Walking also notices what needs cleaning (see below).
class PresenceTape {
 public:
  struct Record {
    uint64_t present = 0;  // bit k: the k-th field of the schema node is set
    int next = 0;
  };

  void Build(const BodySchema& schema, const Message& body) {
    records_.clear();
    dirty_ = false;
    Walk(schema, 0, body);
  }
  bool dirty() const { return dirty_; }
  const Record& operator[](int i) const { return records_[i]; }

 private:
  void Walk(const BodySchema& schema, int node, const Message& m) {
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

  absl::InlinedVector<Record, 32> records_;
  bool dirty_ = false;
};

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

// The item to project from: `item` itself, or a cleaned copy in `storage`;
// `tape` describes the body of the one returned.
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

// The envelope always travels. Listed field by field (not "everything but
// the body") so that a field added to Item later does not leave unnoticed:
// envelope_test fails until it is classified.
void CopyEnvelope(const v1::Item& src, v1::Item* dst) {
  dst->set_item_id(src.item_id());
  dst->set_version(src.version());
  dst->set_origin(src.origin());
  if (src.has_created_at()) *dst->mutable_created_at() = src.created_at();
  if (src.has_expires_at()) *dst->mutable_expires_at() = src.expires_at();
  if (src.has_classification()) *dst->mutable_classification() = src.classification();
  *dst->mutable_provenance() = src.provenance();
}

// Pseudonyms computed during one Decide, shared by all partners: the same
// name pseudonymised for four partners costs one HMAC.
class PseudonymCache {
 public:
  const std::string& Get(const TransformSpec& spec, absl::string_view value) {
    for (const Entry& e : entries_) {
      if (e.key == spec.key_index && e.value == value) return e.pseudonym;
    }
    entries_.emplace_back();
    Entry& e = entries_.back();
    e.key = spec.key_index;
    e.value = std::string(value);
    spec.pseudonymiser->PseudonymiseTo(value, &e.pseudonym);
    return e.pseudonym;
  }

 private:
  struct Entry {
    int key;
    // A copy: the value may live in a projected message that is about to
    // be overwritten with its pseudonym.
    std::string value;
    std::string pseudonym;
  };
  // A deque-like container would keep references stable; entries are only
  // read through the reference returned until the next Get, so a vector
  // that may reallocate is fine.
  absl::InlinedVector<Entry, 8> entries_;
};

// What the matching rules decide for one partner and item kind.
struct Merged {
  explicit Merged(int size)
      : released(size), withheld(size), redact(size), redact_roots(size),
        visible(size), transformed(size), best(size, nullptr) {}
  FieldSet released;      // union of share minus union of withhold
  FieldSet withheld;      // union of withhold
  FieldSet redact;        // removed by redact (closure)
  FieldSet redact_roots;  // nodes named by a redact
  FieldSet visible;       // released and not redacted
  FieldSet transformed;   // nodes with a non-redact transform
  absl::InlinedVector<const TransformSpec*, 64> best;
  // Rule indexes of the rules that match the item for this partner (`to`,
  // `kinds`, `when`), in policy order, and which of them may release it:
  // a rule held back by a gate (restricted level, received item) or whose
  // condition could not be evaluated still protects, never releases.
  absl::InlinedVector<int, 8> matched;
  absl::InlinedVector<bool, 8> releases;
  bool any_releases = false;
};

void MergeRules(const CompiledPolicy::Plan& plan, int slot, Merged& m) {
  for (size_t i = 0; i < m.matched.size(); ++i) {
    const CompiledRule::ForKind& fk = plan.rules[m.matched[i]].kinds[slot];
    // Protections fail closed: withhold, redact and transforms of every
    // matching rule apply; only releasing rules add to what is shared.
    if (m.releases[i]) m.released |= fk.share;
    m.withheld |= fk.withhold;
    m.redact |= fk.redact;
    m.redact_roots |= fk.redact_roots;
    for (const auto& [node, spec] : fk.transforms) {
      const TransformSpec*& best = m.best[node];
      if (best == nullptr || MoreProtective(spec, *best)) best = &spec;
      m.transformed.Set(node);
    }
  }
  m.released.Subtract(m.withheld);
  m.visible = m.released;
  m.visible.Subtract(m.redact);
}

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

DecisionReason OriginatorBlocks(const v1::Classification& c,
                                const std::string& partner) {
  if (c.no_reshare()) return DecisionReason::kOriginatorNoReshare;
  if (c.tlp() == v1::Classification::RED ||
      c.tlp() == v1::Classification::AMBER_STRICT) {
    return DecisionReason::kOriginatorTlp;
  }
  bool listed = std::find(c.reshare_to().begin(), c.reshare_to().end(), partner) !=
                c.reshare_to().end();
  if (!c.reshare_to().empty() && !listed) return DecisionReason::kOriginatorReshareTo;
  if (!listed && (c.tlp() == v1::Classification::AMBER ||
                  c.handling_code() == v1::Classification::H2 ||
                  c.handling_code() == v1::Classification::H3)) {
    return DecisionReason::kOriginatorPermission;
  }
  return DecisionReason::kReleased;
}

// Everything about one item that does not depend on the partner.
struct ItemContext {
  // The item as given (conditions read it) and the item projected from
  // (the same, or a cleaned copy: see ProjectionSource).
  const v1::Item* item = nullptr;
  const v1::Item* source = nullptr;
  const PresenceTape* tape = nullptr;
  int slot = -1;
  uint32_t levels = 0;
  bool received = false;
  const Message* body = nullptr;
};

// Memo of rule outcomes within one Decide: a rule naming four partners is
// evaluated once. Indexed by the rule's position among the kind's rules.
using Memo = absl::InlinedVector<int8_t, 64>;

// The rule's condition first, then its gates: a rule whose condition holds
// matches, and the gates only decide whether it may also release.
RuleTrace::Outcome EvaluateRule(const CompiledRule& rule, const ItemContext& ctx) {
  const Condition* condition = rule.kinds[ctx.slot].condition.get();
  if (condition != nullptr) {
    switch (condition->Evaluate(*ctx.item)) {
      case Condition::Result::kTrue: break;
      case Condition::Result::kFalse: return RuleTrace::Outcome::kConditionFalse;
      default: return RuleTrace::Outcome::kConditionError;
    }
  }
  if (ctx.received && !rule.forward_received) return RuleTrace::Outcome::kNotForReceived;
  if ((ctx.levels & ~rule.allowed_levels) != 0) return RuleTrace::Outcome::kNeedsRestricted;
  return RuleTrace::Outcome::kMatched;
}

// What a rule's outcome contributes to a partner's decision.
enum class RuleEffect : int8_t { kNone = 0, kProtects = 1, kReleasesAndProtects = 2 };

RuleEffect EffectOf(RuleTrace::Outcome outcome) {
  switch (outcome) {
    case RuleTrace::Outcome::kMatched:
      return RuleEffect::kReleasesAndProtects;
    case RuleTrace::Outcome::kConditionFalse:
      return RuleEffect::kNone;
    case RuleTrace::Outcome::kConditionError:  // may have matched: fail closed
    case RuleTrace::Outcome::kNeedsRestricted:
    case RuleTrace::Outcome::kNotForReceived:
      return RuleEffect::kProtects;
  }
  return RuleEffect::kProtects;
}

// Which nodes the item holds a value in (any element), for explanations.
void MarkPresent(const BodySchema& schema, const Message& m, int parent, FieldSet& present) {
  const Reflection* r = schema.node(parent).reflection;
  for (int c = parent + 1; c < schema.node(parent).end; c = schema.node(c).end) {
    const SchemaNode& n = schema.node(c);
    if (!HasValue(r, m, n.field)) continue;
    present.Set(c);
    if (n.leaf) continue;
    if (n.field->is_repeated()) {
      for (int i = 0, k = r->FieldSize(m, n.field); i < k; ++i) {
        MarkPresent(schema, r->GetRepeatedMessage(m, n.field, i), c, present);
      }
    } else {
      MarkPresent(schema, r->GetMessage(m, n.field), c, present);
    }
  }
}

std::string RuleDetail(RuleTrace::Outcome outcome, const CompiledRule& rule,
                       const ItemContext& ctx) {
  switch (outcome) {
    case RuleTrace::Outcome::kNeedsRestricted:
      return absl::StrCat("the item is ", LevelNames(ctx.levels),
                          "; the rule's allow_restricted does not list ",
                          LevelNames(ctx.levels & ~rule.allowed_levels),
                          ", so it releases nothing; its withhold, redact and "
                          "transforms still apply");
    case RuleTrace::Outcome::kNotForReceived:
      return "the item was received from a partner and the rule has no "
             "forward_received, so it releases nothing; its withhold, redact "
             "and transforms still apply";
    case RuleTrace::Outcome::kConditionError:
      return "it releases nothing; its withhold, redact and transforms still "
             "apply";
    default:
      return "";
  }
}

Explanation Explain(const CompiledPolicy::Plan& plan, const PartnerPlan& partner,
                    const ItemContext& ctx, const Merged* merged,
                    const PartnerDecision& decision) {
  Explanation e;
  e.partner = partner.id;
  e.released = decision.released;
  e.summary = std::string(DecisionReasonText(decision.reason));
  if (ctx.slot < 0) return e;
  for (int r : partner.rules[ctx.slot]) {
    const CompiledRule& rule = plan.rules[r];
    RuleTrace t;
    t.rule = rule.name;
    t.outcome = EvaluateRule(rule, ctx);
    t.detail = RuleDetail(t.outcome, rule, ctx);
    e.rules.push_back(std::move(t));
  }
  const BodySchema& schema = SchemaForSlot(ctx.slot);
  FieldSet present(schema.size());
  MarkPresent(schema, *ctx.body, 0, present);
  for (int node = 1; node < schema.size(); ++node) {
    const SchemaNode& n = schema.node(node);
    if (!n.leaf || !present.Test(node)) continue;
    FieldTrace f;
    f.path = n.path;
    if (merged != nullptr) {
      for (size_t i = 0; i < merged->matched.size(); ++i) {
        const int r = merged->matched[i];
        const CompiledRule::ForKind& fk = plan.rules[r].kinds[ctx.slot];
        if (merged->releases[i] && fk.share.Test(node)) {
          f.shared_by.push_back(plan.rules[r].name);
        }
        if (fk.withhold.Test(node)) f.withheld_by.push_back(plan.rules[r].name);
      }
      if (!merged->released.Test(node)) {
        f.verdict = merged->withheld.Test(node) ? FieldTrace::Verdict::kWithheld
                                                : FieldTrace::Verdict::kNotShared;
      } else if (merged->redact.Test(node)) {
        f.verdict = FieldTrace::Verdict::kRedacted;
        f.transform = "redact";
        for (int r : merged->matched) {
          if (plan.rules[r].kinds[ctx.slot].redact.Test(node)) {
            f.transform_by = plan.rules[r].name;
            break;
          }
        }
      } else if (const TransformSpec* spec = merged->best[node]) {
        f.verdict = FieldTrace::Verdict::kTransformed;
        f.transform = spec->Describe();
        for (int r : merged->matched) {
          for (const auto& [leaf, s] : plan.rules[r].kinds[ctx.slot].transforms) {
            if (leaf == node && &s == spec) f.transform_by = plan.rules[r].name;
          }
        }
      } else {
        f.verdict = FieldTrace::Verdict::kReleased;
      }
    }
    e.fields.push_back(std::move(f));
  }
  return e;
}

}  // namespace

// Decides one partner. Lives in a class so the engine can reach the plan.
class PolicyEngine {
 public:
  // Fills `d` (freshly constructed, in place to avoid moving it).
  static void DecideOne(const CompiledPolicy& policy,
                        const std::shared_ptr<const CompiledPolicy>& self,
                        const PartnerPlan& partner, const ItemContext& ctx, Memo* memo,
                        PseudonymCache& cache, const DecideOptions& options,
                        PartnerDecision& d) {
    const CompiledPolicy::Plan& plan = *policy.plan_;
    d.partner = partner.id;
    d.policy = self;
    auto finish = [&](DecisionReason reason, const Merged* merged) {
      d.reason = reason;
      d.released = reason == DecisionReason::kReleased;
      if (!d.released) d.projected.Clear();
      if (options.explain) {
        d.explanation = std::make_unique<Explanation>(
            Explain(plan, partner, ctx, merged, d));
      }
    };
    if (ctx.slot < 0) return finish(DecisionReason::kNoBody, nullptr);
    if (partner.id == ctx.item->origin()) {
      return finish(DecisionReason::kPartnerIsOrigin, nullptr);
    }
    const BodySchema& schema = SchemaForSlot(ctx.slot);
    Merged merged(schema.size());
    for (int r : partner.rules[ctx.slot]) {
      RuleEffect effect;
      int position = memo != nullptr ? plan.kind_position[ctx.slot][r] : -1;
      if (position >= 0 && (*memo)[position] >= 0) {
        effect = static_cast<RuleEffect>((*memo)[position]);
      } else {
        effect = EffectOf(EvaluateRule(plan.rules[r], ctx));
        if (position >= 0) (*memo)[position] = static_cast<int8_t>(effect);
      }
      if (effect == RuleEffect::kNone) continue;
      const bool releases = effect == RuleEffect::kReleasesAndProtects;
      merged.matched.push_back(r);
      merged.releases.push_back(releases);
      merged.any_releases |= releases;
      (releases ? d.matched_rules : d.protecting_rules).push_back(plan.rules[r].name);
    }
    MergeRules(plan, ctx.slot, merged);
    if (!merged.any_releases) return finish(DecisionReason::kNoRuleMatched, &merged);
    DecisionReason originator = DecisionReason::kReleased;
    if (ctx.received) {
      originator = OriginatorBlocks(ctx.item->classification(), partner.id);
      // Blocked by the originator: nothing to project, unless an officer
      // asks what the rules alone would have released.
      if (originator != DecisionReason::kReleased && !options.explain) {
        return finish(originator, &merged);
      }
    }
    Message* body = ctx.slot == 0 ? static_cast<Message*>(d.projected.mutable_alert())
                                  : static_cast<Message*>(d.projected.mutable_report());
    Projector projector(schema, *ctx.tape, merged, cache, &d);
    if (!projector.Body(*ctx.body, body)) {
      return finish(DecisionReason::kNothingReleased, &merged);
    }
    if (originator != DecisionReason::kReleased) return finish(originator, &merged);
    CopyEnvelope(*ctx.source, &d.projected);
    return finish(DecisionReason::kReleased, &merged);
  }

  static ItemContext Context(const v1::Item& item, const v1::Item& source,
                             const PresenceTape& tape, const DecideOptions& options) {
    ItemContext ctx;
    ctx.item = &item;
    ctx.source = &source;
    ctx.tape = &tape;
    ctx.slot = KindSlot(KindOf(item));
    ctx.levels = LevelsOf(item);
    ctx.received = options.received_from_partner;
    if (ctx.slot == 0) ctx.body = &source.alert();
    if (ctx.slot == 1) ctx.body = &source.report();
    return ctx;
  }
};

Decision CompiledPolicy::Decide(const v1::Item& item, const DecideOptions& options) const {
  Decision decision;
  decision.policy_version = version();
  decision.partners.reserve(plan_->partners.size());
  std::shared_ptr<const CompiledPolicy> self = shared_from_this();
  v1::Item storage;
  PresenceTape tape;
  const v1::Item& source = ProjectionSource(item, &storage, &tape);
  ItemContext ctx = PolicyEngine::Context(item, source, tape, options);
  Memo memo(ctx.slot >= 0 ? plan_->kind_rule_count[ctx.slot] : 0, -1);
  PseudonymCache cache;
  for (const PartnerPlan& partner : plan_->partners) {
    decision.partners.emplace_back();
    PolicyEngine::DecideOne(*this, self, partner, ctx, &memo, cache, options,
                            decision.partners.back());
  }
  return decision;
}

absl::StatusOr<PartnerDecision> CompiledPolicy::DecideFor(
    absl::string_view partner, const v1::Item& item, const DecideOptions& options) const {
  auto it = plan_->partner_index.find(partner);
  if (it == plan_->partner_index.end()) {
    return absl::NotFoundError(absl::StrCat("`", partner, "` is not a partner in policy ",
                                            version()));
  }
  v1::Item storage;
  PresenceTape tape;
  const v1::Item& source = ProjectionSource(item, &storage, &tape);
  ItemContext ctx = PolicyEngine::Context(item, source, tape, options);
  PseudonymCache cache;
  PartnerDecision decision;
  PolicyEngine::DecideOne(*this, shared_from_this(), plan_->partners[it->second], ctx,
                          nullptr, cache, options, decision);
  return decision;
}

absl::Status CompiledPolicy::AcceptInbound(const std::string& from_partner,
                                           const v1::Item& item) const {
  if (!plan_->partner_index.contains(from_partner)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "`", from_partner, "` is not a partner in policy ", version()));
  }
  v1::ItemKind kind = KindOf(item);
  if (kind == v1::ITEM_KIND_UNSPECIFIED) {
    return absl::PermissionDeniedError("the item has neither an alert nor a report");
  }
  for (const v1::InboundRule& rule : source_.inbound().accept()) {
    if (std::find(rule.from().begin(), rule.from().end(), from_partner) == rule.from().end()) {
      continue;
    }
    if (!rule.kinds().empty() &&
        std::find(rule.kinds().begin(), rule.kinds().end(), kind) == rule.kinds().end()) {
      continue;
    }
    if (kind == v1::ALERT && !rule.categories().empty() &&
        std::find(rule.categories().begin(), rule.categories().end(),
                  item.alert().category()) == rule.categories().end()) {
      continue;
    }
    return absl::OkStatus();
  }
  std::string what = kind == v1::ALERT
                         ? absl::StrCat(v1::Alert::Category_Name(item.alert().category()),
                                        " alerts")
                         : "reports";
  return absl::PermissionDeniedError(absl::StrCat(
      "the inbound rules of policy ", version(), " accept no ", what, " from `",
      from_partner, "`"));
}

absl::string_view DecisionReasonText(DecisionReason reason) {
  switch (reason) {
    case DecisionReason::kReleased:
      return "receives the item";
    case DecisionReason::kNoBody:
      return "receives nothing: the item has neither an alert nor a report";
    case DecisionReason::kPartnerIsOrigin:
      return "receives nothing: the partner is the item's originator";
    case DecisionReason::kNoRuleMatched:
      return "receives nothing: no rule that may release the item to this partner "
             "matched";
    case DecisionReason::kNothingReleased:
      return "receives nothing: the matching rules release no field the item holds";
    case DecisionReason::kOriginatorNoReshare:
      return "receives nothing: the originator marked the item no_reshare";
    case DecisionReason::kOriginatorReshareTo:
      return "receives nothing: the originator's reshare_to does not list this partner";
    case DecisionReason::kOriginatorTlp:
      return "receives nothing: a received TLP:RED or TLP:AMBER+STRICT item is never "
             "forwarded";
    case DecisionReason::kOriginatorPermission:
      return "receives nothing: a received TLP:AMBER, H2 or H3 item is forwarded only "
             "to organisations the originator lists in reshare_to";
  }
  return "receives nothing";
}

std::string TransformedField::ToString() const {
  return absl::StrCat(path, ": ", TransformName(kind));
}

const PartnerDecision* Decision::Find(absl::string_view partner) const {
  for (const PartnerDecision& p : partners) {
    if (p.partner == partner) return &p;
  }
  return nullptr;
}

}  // namespace havengate::policy
