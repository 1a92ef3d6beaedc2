// Fuzz target: the projection engine, checked for leaks. Arbitrary items
// are decided under the fixed policies (deploy/policies and the corpus,
// fuzz_support.h) and every partner's output is checked against what the
// policy's rules allow, computed here from the policy as written.
//
// Input: byte 0 picks the policy (modulo their number), byte 1 holds flags
// (bit 0: the item was received from a partner; bit 1: explain; bit 2: the
// body carries an unknown field holding a canary), the rest is an item in
// binary protobuf (unknown fields and all).
//
// Before deciding, every body string is replaced by a canary (fuzz_support
// .h), except values the policies' conditions compare with (kept, or kept as
// a prefix of the canary, so that rules still match). For every partner:
//  - the matched rules are exactly those whose partner list, kinds,
//    forward_received, restricted levels and condition (compiled here on
//    its own) hold; nothing goes back to the originator; the originator's
//    constraints hold for received items;
//  - every field of the projected body is shared by a matched rule and
//    withheld and redacted by none; no sub-message is sent empty; no
//    unknown field is sent;
//  - a canary appears in the output (binary or JSON) only in the field it
//    was put in, only if that field is released untransformed;
//  - no canary appears in the audit fields, the reason or the explanation.
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/unknown_field_set.h"
#include "policy/leak_testing.h"
#include "policy/condition.h"
#include "policy/policy.h"
#include "proto/item_validation.h"
#include "proto/json.h"
#include "tests/fuzz/fuzz_support.h"

namespace havengate::fuzz {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using policy::testing::FindCanaries;
using policy::testing::PathCovers;

constexpr size_t kMaxInputBytes = 256 << 10;
constexpr int kUnknownCanaryField = 999;

bool IsLeaf(const FieldDescriptor* f) {
  return f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE ||
         f->message_type() == google::protobuf::Timestamp::descriptor();
}

std::string Join(const std::string& prefix, const FieldDescriptor* f) {
  return prefix.empty() ? f->name() : absl::StrCat(prefix, ".", f->name());
}

// The string literals in the fixed policies' conditions ("NLRTM", "EC",
// ...): body values equal to one are kept, so conditions still match.
const std::vector<std::string>& Vocabulary() {
  static const auto* words = [] {
    absl::flat_hash_set<std::string> set;
    for (const FixedPolicy& p : FixedPolicies()) {
      for (const v1::Rule& rule : p.policy->source().rules()) {
        const std::string& when = rule.when();
        for (size_t i = 0; i < when.size(); ++i) {
          if (when[i] != '"' && when[i] != '\'') continue;
          size_t end = when.find(when[i], i + 1);
          if (end == std::string::npos) break;
          set.insert(when.substr(i + 1, end - i - 1));
          i = end;
        }
      }
    }
    auto* out = new std::vector<std::string>(set.begin(), set.end());
    // Longest first: the longest matching prefix is kept.
    std::sort(out->begin(), out->end(), [](const std::string& a, const std::string& b) {
      return a.size() != b.size() ? a.size() > b.size() : a < b;
    });
    return out;
  }();
  return *words;
}

struct Planted {
  absl::flat_hash_map<std::string, std::string> path_of;  // canary -> field path
  int next = 1;

  std::string Replace(const std::string& value, const std::string& path) {
    std::string canary = policy::testing::Canary(next++);
    path_of[canary] = path;
    for (const std::string& word : Vocabulary()) {
      if (value == word) return value;
      if (absl::StartsWith(value, word)) return word + canary;
    }
    return canary;
  }
};

void PlantCanaries(Message* m, const std::string& prefix, Planted* planted) {
  const Reflection* r = m->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(*m, &fields);
  for (const FieldDescriptor* f : fields) {
    std::string path = Join(prefix, f);
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(*m, f); ++i) {
          r->SetRepeatedString(m, f, i, planted->Replace(r->GetRepeatedString(*m, f, i), path));
        }
      } else {
        r->SetString(m, f, planted->Replace(r->GetString(*m, f), path));
      }
    } else if (!IsLeaf(f)) {
      int n = f->is_repeated() ? r->FieldSize(*m, f) : 1;
      for (int i = 0; i < n; ++i) {
        PlantCanaries(f->is_repeated() ? r->MutableRepeatedMessage(m, f, i)
                                       : r->MutableMessage(m, f),
                      path, planted);
      }
    }
  }
}

// Each rule's condition compiled here, apart from the engine, per policy
// and kind (nullptr: no condition, or it does not compile for that kind).
using RuleConditions = std::vector<std::array<std::unique_ptr<const policy::Condition>, 2>>;

const RuleConditions& ConditionsOf(size_t policy_index) {
  static auto* cache = new std::map<size_t, RuleConditions>;
  auto it = cache->find(policy_index);
  if (it != cache->end()) return it->second;
  RuleConditions& out = (*cache)[policy_index];
  for (const v1::Rule& rule : FixedPolicies()[policy_index].policy->source().rules()) {
    out.emplace_back();
    if (rule.when().empty()) continue;
    for (int slot = 0; slot < 2; ++slot) {
      std::vector<policy::ConditionError> errors;
      out.back()[slot] = policy::Condition::Compile(rule.when(), slot == 0 ? v1::ALERT : v1::REPORT,
                                                    &errors);
    }
  }
  return out;
}

// What `rule` does for `partner` and `item`, judged from the policy as
// written: a rule whose partner, kind and condition match protects (its
// withhold, redact and transforms apply; a condition that cannot be
// evaluated may have matched); it also releases if its gates let it.
enum class RuleMatch { kNone, kProtects, kReleases };

RuleMatch Classify(const v1::Rule& rule,
                   const std::array<std::unique_ptr<const policy::Condition>, 2>& conditions,
                   const v1::Item& item, bool received, const std::string& partner) {
  if (!policy::testing::RuleMatchesButForCondition(rule, item, partner)) return RuleMatch::kNone;
  if (!rule.when().empty()) {
    const policy::Condition* condition = conditions[item.has_alert() ? 0 : 1].get();
    HG_FUZZ_CHECK(condition != nullptr, absl::StrCat("rule ", rule.name(), " has no condition"));
    switch (condition->Evaluate(item)) {
      case policy::Condition::Result::kTrue: break;
      case policy::Condition::Result::kFalse: return RuleMatch::kNone;
      default: return RuleMatch::kProtects;
    }
  }
  return policy::testing::RuleMayRelease(rule, item, received) ? RuleMatch::kReleases
                                                                : RuleMatch::kProtects;
}

struct Allowance {
  std::vector<const v1::Rule*> matched;    // protect
  std::vector<const v1::Rule*> releasing;  // and share

  bool Shared(const std::string& path) const {
    bool shared = false;
    for (const v1::Rule* r : releasing) {
      for (const std::string& s : r->share()) shared |= PathCovers(s, path);
    }
    for (const v1::Rule* r : matched) {
      for (const std::string& w : r->withhold()) {
        if (PathCovers(w, path)) return false;
      }
      for (const auto& [target, t] : r->transform()) {
        if (t.has_redact() && PathCovers(target, path)) return false;
      }
    }
    return shared;
  }
  bool Transformed(const std::string& path) const {
    for (const v1::Rule* r : matched) {
      for (const auto& [target, t] : r->transform()) {
        if (PathCovers(target, path)) return true;
      }
    }
    return false;
  }
};

bool HasUnknownFields(const Message& m) {
  const Reflection* r = m.GetReflection();
  if (!r->GetUnknownFields(m).empty()) return true;
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    for (int i = 0, n = f->is_repeated() ? r->FieldSize(m, f) : 1; i < n; ++i) {
      if (HasUnknownFields(f->is_repeated() ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f))) {
        return true;
      }
    }
  }
  return false;
}

// Checks every field of the projected body `m` (at `prefix`).
void CheckProjected(const Message& m, const std::string& prefix, const Allowance& allowed,
                    const Planted& planted, const std::string& partner) {
  const Reflection* r = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    std::string path = Join(prefix, f);
    int n = f->is_repeated() ? r->FieldSize(m, f) : 1;
    if (!IsLeaf(f)) {
      for (int i = 0; i < n; ++i) {
        const Message& sub = f->is_repeated() ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f);
        HG_FUZZ_CHECK(sub.ByteSizeLong() > 0, absl::StrCat(partner, ": empty ", path, " sent"));
        CheckProjected(sub, path, allowed, planted, partner);
      }
      continue;
    }
    HG_FUZZ_CHECK(allowed.Shared(path), absl::StrCat(partner, " receives ", path));
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_STRING) continue;
    for (int i = 0; i < n; ++i) {
      std::string value = f->is_repeated() ? r->GetRepeatedString(m, f, i) : r->GetString(m, f);
      for (absl::string_view canary : FindCanaries(value)) {
        auto it = planted.path_of.find(canary);
        HG_FUZZ_CHECK(it != planted.path_of.end() && it->second == path,
                      absl::StrCat(partner, " receives ", canary, " in ", path));
        HG_FUZZ_CHECK(!allowed.Transformed(path),
                      absl::StrCat(partner, " receives ", path, " untransformed"));
      }
    }
  }
}

void ExpectNoCanary(absl::string_view text, absl::string_view what, const std::string& partner) {
  HG_FUZZ_CHECK(!absl::StrContains(text, policy::testing::kCanaryMark),
                absl::StrCat(partner, ": a value appears in ", what, ": ", text));
}

void CheckPartner(size_t policy_index, const v1::Item& item, bool received,
                  const Planted& planted, const policy::PartnerDecision& d) {
  const v1::SharingPolicy& source = FixedPolicies()[policy_index].policy->source();
  const RuleConditions& conditions = ConditionsOf(policy_index);
  const std::string& partner = d.partner;

  // Audit and explanation: names and paths only.
  std::string audit = absl::StrCat(policy::DecisionReasonText(d.reason), "\n",
                                   absl::StrJoin(d.matched_rules, ","), "\n",
                                   absl::StrJoin(d.protecting_rules, ","), "\n",
                                   absl::StrJoin(d.released_fields, ","), "\n",
                                   absl::StrJoin(d.withheld_fields, ","), "\n");
  for (const policy::TransformedField& t : d.transformed_fields) absl::StrAppend(&audit, t.ToString());
  ExpectNoCanary(audit, "the audit fields", partner);
  if (d.explanation != nullptr) ExpectNoCanary(d.explanation->ToString(), "the explanation", partner);

  HG_FUZZ_CHECK(d.released == (d.projected.ByteSizeLong() > 0), partner);
  if (KindOf(item) == v1::ITEM_KIND_UNSPECIFIED || partner == item.origin()) {
    HG_FUZZ_CHECK(!d.released && d.matched_rules.empty() && d.protecting_rules.empty(),
                  partner);
    return;
  }
  Allowance allowed;
  std::vector<std::string> expected_names, expected_protecting;
  for (int i = 0; i < source.rules_size(); ++i) {
    RuleMatch match = Classify(source.rules(i), conditions[i], item, received, partner);
    if (match == RuleMatch::kNone) continue;
    allowed.matched.push_back(&source.rules(i));
    if (match == RuleMatch::kReleases) {
      allowed.releasing.push_back(&source.rules(i));
      expected_names.push_back(source.rules(i).name());
    } else {
      expected_protecting.push_back(source.rules(i).name());
    }
  }
  auto sorted = [](const auto& list) {
    std::vector<std::string> names(list.begin(), list.end());
    std::sort(names.begin(), names.end());
    return names;
  };
  HG_FUZZ_CHECK(sorted(d.matched_rules) == sorted(expected_names),
                absl::StrCat(partner, ": matched ", absl::StrJoin(d.matched_rules, ","),
                             ", expected ", absl::StrJoin(expected_names, ",")));
  HG_FUZZ_CHECK(sorted(d.protecting_rules) == sorted(expected_protecting),
                absl::StrCat(partner, ": protecting ", absl::StrJoin(d.protecting_rules, ","),
                             ", expected ", absl::StrJoin(expected_protecting, ",")));
  if (!d.released) return;
  HG_FUZZ_CHECK(!allowed.releasing.empty(), partner);
  HG_FUZZ_CHECK(!received || policy::testing::OriginatorAllows(item.classification(), partner),
                partner);

  // The envelope travels as it is.
  const v1::Item& p = d.projected;
  HG_FUZZ_CHECK(p.item_id() == item.item_id() && p.version() == item.version() &&
                    p.origin() == item.origin() &&
                    p.classification().tlp() == item.classification().tlp() &&
                    p.classification().handling_code() == item.classification().handling_code() &&
                    p.classification().no_reshare() == item.classification().no_reshare(),
                partner);
  HG_FUZZ_CHECK(p.body_case() == item.body_case(), partner);
  HG_FUZZ_CHECK(!HasUnknownFields(p), absl::StrCat(partner, " receives unknown fields"));
  CheckProjected(p.has_alert() ? static_cast<const Message&>(p.alert())
                               : static_cast<const Message&>(p.report()),
                 "", allowed, planted, partner);

  // Anywhere in what the partner receives, in either encoding.
  for (const std::string& text : {p.SerializeAsString(), ToJson(p, {.pretty = false})}) {
    for (absl::string_view canary : FindCanaries(text)) {
      auto it = planted.path_of.find(canary);
      HG_FUZZ_CHECK(it != planted.path_of.end(),
                    absl::StrCat(partner, " receives ", canary, ", which no body field held"));
      HG_FUZZ_CHECK(allowed.Shared(it->second) && !allowed.Transformed(it->second),
                    absl::StrCat(partner, " receives ", canary, " from ", it->second));
    }
  }
}

}  // namespace
}  // namespace havengate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace havengate;
  using namespace havengate::fuzz;
  if (size < 2 || size > kMaxInputBytes) return 0;
  // Canaries are planted here, and every one found must have been.
  if (absl::StrContains(absl::string_view(reinterpret_cast<const char*>(data), size),
                        policy::testing::kCanaryMark)) {
    return 0;
  }
  const std::vector<FixedPolicy>& policies = FixedPolicies();
  const size_t policy_index = data[0] % policies.size();
  const bool received = data[1] & 1;
  const bool explain = data[1] & 2;
  const bool unknown_canary = data[1] & 4;
  v1::Item item;
  if (!item.ParseFromArray(data + 2, static_cast<int>(size - 2))) return 0;

  Planted planted;
  Message* body = item.has_alert()    ? static_cast<Message*>(item.mutable_alert())
                  : item.has_report() ? static_cast<Message*>(item.mutable_report())
                                      : nullptr;
  if (body != nullptr) {
    PlantCanaries(body, "", &planted);
    if (unknown_canary) {
      body->GetReflection()->MutableUnknownFields(body)->AddLengthDelimited(
          kUnknownCanaryField, policy::testing::Canary(0));
    }
  }
  policy::DecideOptions options;
  options.received_from_partner = received;
  options.explain = explain;
  const policy::CompiledPolicy& compiled = *policies[policy_index].policy;
  policy::Decision decision = compiled.Decide(item, options);
  SetFailureContext([&] {
    std::string out = absl::StrCat("policy ", policies[policy_index].name, ", received ",
                                   received, ", explain ", explain, "\nitem:\n",
                                   item.DebugString());
    for (const policy::PartnerDecision& d : decision.partners) {
      absl::StrAppend(&out, "\n", d.partner, ": ", policy::DecisionReasonText(d.reason),
                      "; matched ", absl::StrJoin(d.matched_rules, ","), "\n",
                      d.projected.DebugString());
    }
    return out;
  });
  HG_FUZZ_CHECK(decision.partners.size() == compiled.partners().size(), "");
  for (const policy::PartnerDecision& d : decision.partners) {
    CheckPartner(policy_index, item, received, planted, d);
  }
  // One partner alone decides as all together.
  const policy::PartnerDecision& first = decision.partners.front();
  auto single = compiled.DecideFor(first.partner, item, options);
  HG_FUZZ_CHECK(single.ok() && single->released == first.released &&
                    single->projected.SerializeAsString() == first.projected.SerializeAsString(),
                first.partner);
  SetFailureContext(nullptr);
  return 0;
}
