// Deciding items: per partner, the rules that match, the fields released
// and their transforms, the projected item, the audit summary and (on
// request) the explanation.
#include <algorithm>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
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

bool HasValue(const Message& m, const FieldDescriptor* f) {
  const Reflection* r = m.GetReflection();
  return f->is_repeated() ? r->FieldSize(m, f) > 0 : r->HasField(m, f);
}

bool IsEmpty(const Message& m) {
  const Descriptor* d = m.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    if (HasValue(m, d->field(i))) return false;
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
bool NeedsCleaning(const Message& m) {
  const Reflection* r = m.GetReflection();
  if (!r->GetUnknownFields(m).empty()) return true;
  const Descriptor* d = m.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int j = 0, n = r->FieldSize(m, f); j < n; ++j) {
        const Message& element = r->GetRepeatedMessage(m, f, j);
        if (IsEmpty(element) || NeedsCleaning(element)) return true;
      }
    } else if (r->HasField(m, f)) {
      const Message& sub = r->GetMessage(m, f);
      if (IsEmpty(sub) || NeedsCleaning(sub)) return true;
    }
  }
  return false;
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
        if (IsEmpty(*element)) continue;
        if (kept != j) r->SwapElements(m, f, kept, j);
        ++kept;
      }
      while (r->FieldSize(*m, f) > kept) r->RemoveLast(m, f);
    } else if (r->HasField(*m, f)) {
      RemoveEmptyMessages(r->MutableMessage(m, f));
      if (IsEmpty(r->GetMessage(*m, f))) r->ClearField(m, f);
    }
  }
}

// The item to project from: `item` itself, or a cleaned copy in `storage`.
const v1::Item& ProjectionSource(const v1::Item& item, v1::Item* storage) {
  if (!NeedsCleaning(item)) return item;
  *storage = item;
  storage->DiscardUnknownFields();
  RemoveEmptyMessages(storage);
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
    e.value = value;
    spec.pseudonymiser->PseudonymiseTo(value, &e.pseudonym);
    return e.pseudonym;
  }

 private:
  struct Entry {
    int key;
    absl::string_view value;  // points into the item being decided
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
  absl::InlinedVector<int, 8> matched;  // rule indexes
};

void MergeRules(const CompiledPolicy::Plan& plan, int slot, Merged& m) {
  for (int r : m.matched) {
    const CompiledRule::ForKind& fk = plan.rules[r].kinds[slot];
    m.released |= fk.share;
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

void CopyField(const Message& src, Message* dst, const FieldDescriptor* f) {
  const Reflection* sr = src.GetReflection();
  const Reflection* dr = dst->GetReflection();
  if (f->is_repeated()) {
    int n = sr->FieldSize(src, f);
    for (int i = 0; i < n; ++i) {
      switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_MESSAGE:
          dr->AddMessage(dst, f)->CopyFrom(sr->GetRepeatedMessage(src, f, i));
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
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_MESSAGE:
      dr->MutableMessage(dst, f)->CopyFrom(sr->GetMessage(src, f));
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

// Builds a partner's body from the source body, field by field, keeping
// only what `merged` releases: default deny, nothing is copied and then
// removed.
class Projector {
 public:
  Projector(const BodySchema& schema, const Merged& merged, PseudonymCache& cache,
            PartnerDecision* out)
      : schema_(schema), m_(merged), cache_(cache), out_(out),
        noted_(schema.size()) {}

  // Fills `dst` (an empty body) from `src`; true if any field was set.
  bool Body(const Message& src, Message* dst) {
    if (m_.visible.AllInRange(0, schema_.size()) &&
        !m_.transformed.AnyInRange(0, schema_.size())) {
      dst->CopyFrom(src);
      out_->released_fields.push_back("*");
      return dst->ByteSizeLong() > 0;
    }
    return Project(src, dst, 0);
  }

 private:
  bool Note(int node) {
    if (noted_.Test(node)) return false;
    noted_.Set(node);
    return true;
  }

  bool Project(const Message& src, Message* dst, int parent) {
    const Reflection* sr = src.GetReflection();
    const Reflection* dr = dst->GetReflection();
    bool any = false;
    const int parent_end = schema_.node(parent).end;
    for (int c = parent + 1; c < parent_end; c = schema_.node(c).end) {
      const SchemaNode& n = schema_.node(c);
      const FieldDescriptor* f = n.field;
      if (!HasValue(src, f)) continue;
      if (!m_.released.AnyInRange(c, n.end)) {
        if (Note(c)) out_->withheld_fields.push_back(n.path);
        continue;
      }
      if (m_.redact_roots.Test(c)) {
        if (Note(c)) out_->transformed_fields.push_back({n.path, TransformKind::kRedact});
        continue;
      }
      if (m_.visible.AllInRange(c, n.end) && !m_.transformed.AnyInRange(c, n.end)) {
        CopyField(src, dst, f);
        if (Note(c)) out_->released_fields.push_back(n.path);
        any = true;
        continue;
      }
      if (n.leaf) {
        const TransformSpec* spec = m_.best[c];
        if (spec != nullptr && m_.visible.Test(c)) {
          Transform(src, dst, n, *spec);
          if (Note(c)) out_->transformed_fields.push_back({n.path, spec->kind});
          any = true;
        }
        continue;
      }
      if (f->is_repeated()) {
        int count = sr->FieldSize(src, f);
        for (int i = 0; i < count; ++i) {
          Message* element = dr->AddMessage(dst, f);
          if (Project(sr->GetRepeatedMessage(src, f, i), element, c)) {
            any = true;
          } else {
            dr->RemoveLast(dst, f);  // Drop elements left empty.
          }
        }
      } else {
        Message* sub = dr->MutableMessage(dst, f);
        if (Project(sr->GetMessage(src, f), sub, c)) {
          any = true;
        } else {
          dr->ClearField(dst, f);
        }
      }
    }
    return any;
  }

  void TransformString(absl::string_view value, const TransformSpec& spec,
                       std::string* out) {
    switch (spec.kind) {
      case TransformKind::kPseudonymise:
        *out = cache_.Get(spec, value);
        return;
      case TransformKind::kMask:
        *out = MaskText(value, spec.param);
        return;
      case TransformKind::kReplace:
        *out = spec.text;
        return;
      default:
        out->clear();  // Not reached: checked at load. Fail closed.
        return;
    }
  }

  void Transform(const Message& src, Message* dst, const SchemaNode& n,
                 const TransformSpec& spec) {
    const Reflection* sr = src.GetReflection();
    const Reflection* dr = dst->GetReflection();
    const FieldDescriptor* f = n.field;
    int count = f->is_repeated() ? sr->FieldSize(src, f) : 1;
    for (int i = 0; i < count; ++i) {
      switch (n.type) {
        case ValueType::kString: {
          std::string scratch, result;
          const std::string& value =
              f->is_repeated() ? sr->GetRepeatedStringReference(src, f, i, &scratch)
                               : sr->GetStringReference(src, f, &scratch);
          TransformString(value, spec, &result);
          f->is_repeated() ? dr->AddString(dst, f, std::move(result))
                           : dr->SetString(dst, f, std::move(result));
          break;
        }
        case ValueType::kDouble: {
          double v = f->is_repeated() ? sr->GetRepeatedDouble(src, f, i) : sr->GetDouble(src, f);
          double rounded = RoundCoordinate(v, spec.param);
          f->is_repeated() ? dr->AddDouble(dst, f, rounded) : dr->SetDouble(dst, f, rounded);
          break;
        }
        case ValueType::kTimestamp: {
          const Message& ts = f->is_repeated() ? sr->GetRepeatedMessage(src, f, i)
                                               : sr->GetMessage(src, f);
          Message* out = f->is_repeated() ? dr->AddMessage(dst, f) : dr->MutableMessage(dst, f);
          const Descriptor* d = ts.GetDescriptor();
          int64_t seconds = ts.GetReflection()->GetInt64(ts, d->FindFieldByNumber(1));
          out->GetReflection()->SetInt64(out, d->FindFieldByNumber(1),
                                         TruncateSeconds(seconds, spec.param));
          break;
        }
        default:
          break;  // Not reached: checked at load.
      }
    }
  }

  const BodySchema& schema_;
  const Merged& m_;
  PseudonymCache& cache_;
  PartnerDecision* out_;
  FieldSet noted_;
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
  int slot = -1;
  uint32_t levels = 0;
  bool received = false;
  const Message* body = nullptr;
};

// Memo of rule outcomes within one Decide: a rule naming four partners is
// evaluated once. Indexed by the rule's position among the kind's rules.
using Memo = absl::InlinedVector<int8_t, 64>;

RuleTrace::Outcome EvaluateRule(const CompiledRule& rule, const ItemContext& ctx) {
  if (ctx.received && !rule.forward_received) return RuleTrace::Outcome::kNotForReceived;
  if ((ctx.levels & ~rule.allowed_levels) != 0) return RuleTrace::Outcome::kNeedsRestricted;
  const Condition* condition = rule.kinds[ctx.slot].condition.get();
  if (condition == nullptr) return RuleTrace::Outcome::kMatched;
  switch (condition->Evaluate(*ctx.item)) {
    case Condition::Result::kTrue: return RuleTrace::Outcome::kMatched;
    case Condition::Result::kFalse: return RuleTrace::Outcome::kConditionFalse;
    default: return RuleTrace::Outcome::kConditionError;
  }
}

// Which nodes the item holds a value in (any element), for explanations.
void MarkPresent(const BodySchema& schema, const Message& m, int parent, FieldSet& present) {
  const Reflection* r = m.GetReflection();
  for (int c = parent + 1; c < schema.node(parent).end; c = schema.node(c).end) {
    const SchemaNode& n = schema.node(c);
    if (!HasValue(m, n.field)) continue;
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
                          LevelNames(ctx.levels & ~rule.allowed_levels));
    case RuleTrace::Outcome::kNotForReceived:
      return "the item was received from a partner and the rule has no "
             "forward_received";
    case RuleTrace::Outcome::kConditionError:
      return "treated as not matching";
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
      for (int r : merged->matched) {
        const CompiledRule::ForKind& fk = plan.rules[r].kinds[ctx.slot];
        if (fk.share.Test(node)) f.shared_by.push_back(plan.rules[r].name);
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
  static PartnerDecision DecideOne(const CompiledPolicy& policy,
                                   const std::shared_ptr<const CompiledPolicy>& self,
                                   const PartnerPlan& partner, const ItemContext& ctx,
                                   Memo* memo, PseudonymCache& cache,
                                   const DecideOptions& options) {
    const CompiledPolicy::Plan& plan = *policy.plan_;
    PartnerDecision d;
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
      return std::move(d);
    };
    if (ctx.slot < 0) return finish(DecisionReason::kNoBody, nullptr);
    if (partner.id == ctx.item->origin()) {
      return finish(DecisionReason::kPartnerIsOrigin, nullptr);
    }
    const BodySchema& schema = SchemaForSlot(ctx.slot);
    Merged merged(schema.size());
    for (int r : partner.rules[ctx.slot]) {
      int8_t matched;
      int position = memo != nullptr ? plan.kind_position[ctx.slot][r] : -1;
      if (position >= 0 && (*memo)[position] >= 0) {
        matched = (*memo)[position];
      } else {
        matched = EvaluateRule(plan.rules[r], ctx) == RuleTrace::Outcome::kMatched;
        if (position >= 0) (*memo)[position] = matched;
      }
      if (matched) {
        merged.matched.push_back(r);
        d.matched_rules.push_back(plan.rules[r].name);
      }
    }
    if (merged.matched.empty()) return finish(DecisionReason::kNoRuleMatched, &merged);
    MergeRules(plan, ctx.slot, merged);
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
    Projector projector(schema, merged, cache, &d);
    if (!projector.Body(*ctx.body, body)) {
      return finish(DecisionReason::kNothingReleased, &merged);
    }
    if (originator != DecisionReason::kReleased) return finish(originator, &merged);
    CopyEnvelope(*ctx.source, &d.projected);
    return finish(DecisionReason::kReleased, &merged);
  }

  static ItemContext Context(const v1::Item& item, const v1::Item& source,
                             const DecideOptions& options) {
    ItemContext ctx;
    ctx.item = &item;
    ctx.source = &source;
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
  ItemContext ctx =
      PolicyEngine::Context(item, ProjectionSource(item, &storage), options);
  Memo memo(ctx.slot >= 0 ? plan_->kind_rule_count[ctx.slot] : 0, -1);
  PseudonymCache cache;
  for (const PartnerPlan& partner : plan_->partners) {
    decision.partners.push_back(
        PolicyEngine::DecideOne(*this, self, partner, ctx, &memo, cache, options));
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
  ItemContext ctx =
      PolicyEngine::Context(item, ProjectionSource(item, &storage), options);
  PseudonymCache cache;
  return PolicyEngine::DecideOne(*this, shared_from_this(), plan_->partners[it->second],
                                 ctx, nullptr, cache, options);
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
      return "receives nothing: no rule for this partner matched";
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
