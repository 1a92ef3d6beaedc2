// Deciding items: per partner, the rules that match, the fields released
// and their transforms, the projected item (its body built by projector.cc),
// the audit summary and (on request) the explanation.
#include <algorithm>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "policy/plan.h"
#include "policy/projector.h"
#include "proto/item_validation.h"

namespace havengate::policy {
namespace {

using google::protobuf::Message;
using google::protobuf::Reflection;

using internal::HasValue;
using internal::Merged;
using internal::PresenceTape;
using internal::ProjectBody;
using internal::ProjectionSource;
using internal::PseudonymCache;

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
    if (!ProjectBody(schema, *ctx.tape, merged, *ctx.body, cache, body, &d)) {
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
