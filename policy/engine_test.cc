// Decision semantics: default deny, union of shares minus withholds,
// projection of nested and repeated fields, transforms and their
// precedence, restricted levels, originator constraints, the envelope, the
// audit summary and explanations.
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "policy/policy.h"
#include "policy/policy_testing.h"
#include "proto/json.h"

namespace havengate::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
using testing::SampleItem;
using testing::TempDir;

constexpr char kHeader[] = R"(organisation: police-nl
version: "7"
partners: [{id: customs-nl}, {id: port-rtm}, {id: police-be}]
keys: [{name: k1, file: k1.key}, {name: k2, file: k2.key}]
)";

class EngineTest : public ::testing::Test {
 protected:
  std::shared_ptr<const CompiledPolicy> Policy(const std::string& rules) {
    std::vector<Diagnostic> diagnostics;
    auto p = testing::LoadWithKeys(absl::StrCat(kHeader, rules), dir_, &diagnostics);
    EXPECT_TRUE(p.ok()) << p.status() << "\n" << FormatDiagnostics(diagnostics);
    return p.ok() ? *p : nullptr;
  }
  static const v1::Alert& AlertFor(const Decision& d, const std::string& partner) {
    return d.Find(partner)->projected.alert();
  }
  TempDir dir_;
  v1::Item pin_ = SampleItem("pin_code_fraud_rtm.json");
};

std::vector<std::string> Strings(absl::Span<const absl::string_view> views) {
  return std::vector<std::string>(views.begin(), views.end());
}

TEST_F(EngineTest, DefaultDenyOnlyNamedPartnersReceive) {
  auto p = Policy(R"(rules:
  - {name: r, to: [customs-nl], kinds: [ALERT], share: [title]}
)");
  Decision d = p->Decide(pin_);
  EXPECT_EQ(d.policy_version, "7");
  ASSERT_EQ(d.partners.size(), 3u);
  EXPECT_TRUE(d.Find("customs-nl")->released);
  EXPECT_FALSE(d.Find("port-rtm")->released);
  EXPECT_EQ(d.Find("port-rtm")->reason, DecisionReason::kNoRuleMatched);
  EXPECT_EQ(d.Find("port-rtm")->projected.ByteSizeLong(), 0u);
  EXPECT_EQ(d.Find("nobody"), nullptr);
  auto empty = Policy("rules: []\n");
  for (const PartnerDecision& pd : empty->Decide(pin_).partners) EXPECT_FALSE(pd.released);
}

TEST_F(EngineTest, ReleasedIsUnionOfSharesMinusUnionOfWithholds) {
  auto p = Policy(R"(rules:
  - {name: a, to: [customs-nl], kinds: [ALERT], share: [title, containers]}
  - {name: b, to: [customs-nl], share: [persons], withhold: [containers.seal_number]}
  - {name: c, to: [customs-nl], kinds: [ALERT], when: "severity == LOW", share: [description],
     withhold: [title]}
)");
  Decision d = p->Decide(pin_);
  const v1::Alert& a = AlertFor(d, "customs-nl");
  EXPECT_EQ(a.title(), pin_.alert().title());
  EXPECT_TRUE(a.description().empty());  // rule c did not match
  ASSERT_EQ(a.containers_size(), 2);
  EXPECT_EQ(a.containers(0).number(), "MSCU4812360");
  EXPECT_TRUE(a.containers(0).seal_number().empty());
  EXPECT_EQ(a.containers(0).consignee(), "Fruitimport Westland B.V.");
  EXPECT_EQ(a.persons_size(), 2);
  EXPECT_FALSE(a.has_location());
  EXPECT_EQ(a.category(), v1::Alert::CATEGORY_UNSPECIFIED);
  EXPECT_THAT(Strings(d.Find("customs-nl")->matched_rules), ElementsAre("a", "b"));
}

TEST_F(EngineTest, WithholdAlwaysWinsEvenOverStar) {
  auto p = Policy(R"(rules:
  - {name: all, to: [customs-nl], share: ["*"]}
  - {name: no-people, to: [customs-nl], withhold: [persons, location.position.latitude]}
)");
  Decision decision = p->Decide(pin_);
  const v1::Alert& a = AlertFor(decision, "customs-nl");
  EXPECT_EQ(a.persons_size(), 0);
  EXPECT_FALSE(a.location().position().latitude() != 0);
  EXPECT_DOUBLE_EQ(a.location().position().longitude(), 4.034762);
  EXPECT_EQ(a.containers_size(), 2);
}

TEST_F(EngineTest, StarWithoutWithholdCopiesTheWholeBody) {
  auto p = Policy("rules: [{name: all, to: [customs-nl], share: ['*']}]\n");
  Decision d = p->Decide(pin_);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      AlertFor(d, "customs-nl"), pin_.alert()));
  EXPECT_THAT(Strings(d.Find("customs-nl")->released_fields), ElementsAre("*"));
}

TEST_F(EngineTest, NestedAndRepeatedProjection) {
  auto p = Policy(R"(rules:
  - name: r
    to: [customs-nl]
    kinds: [ALERT]
    share: [location, containers.consignee, persons.badge_id]
)");
  Decision decision = p->Decide(pin_);
  const v1::Alert& a = AlertFor(decision, "customs-nl");
  // A message released whole releases its sub-fields.
  EXPECT_DOUBLE_EQ(a.location().position().latitude(), 51.951287);
  EXPECT_EQ(a.location().description(), "Gate 4, lane 2 (truck exit)");
  // Partly released repeated messages keep only released leaves; elements
  // left empty are dropped.
  ASSERT_EQ(a.containers_size(), 1);
  EXPECT_EQ(a.containers(0).consignee(), "Fruitimport Westland B.V.");
  EXPECT_TRUE(a.containers(0).number().empty());
  ASSERT_EQ(a.persons_size(), 1);
  EXPECT_EQ(a.persons(0).badge_id(), "ECT-77120");
  EXPECT_TRUE(a.persons(0).name().empty());
}

TEST_F(EngineTest, NoReleasedFieldWithAValueMeansNothingIsSent) {
  auto p = Policy(R"(rules:
  - {name: r, to: [customs-nl], kinds: [ALERT], share: [companies, attachments]}
)");
  Decision decision = p->Decide(pin_);
  const PartnerDecision& d = *decision.Find("customs-nl");
  EXPECT_FALSE(d.released);
  EXPECT_EQ(d.reason, DecisionReason::kNothingReleased);
  EXPECT_EQ(d.projected.ByteSizeLong(), 0u);
  EXPECT_THAT(Strings(d.matched_rules), ElementsAre("r"));
}

TEST_F(EngineTest, EachTransformChangesTheValue) {
  auto p = Policy(R"(rules:
  - name: r
    to: [customs-nl]
    kinds: [ALERT]
    share: [persons, observed_at, location, title, containers.seal_number]
    transform:
      persons.name: {pseudonymise: {key: k1}}
      persons.badge_id: {mask: {keep_last: 3}}
      observed_at: {truncate_time: {unit: HOUR}}
      location.position: {round_geo: {decimals: 2}}
      title: {replace: {with: "PIN fraud"}}
      containers.seal_number: redact
)");
  Decision d = p->Decide(pin_);
  const PartnerDecision& pd = *d.Find("customs-nl");
  const v1::Alert& a = pd.projected.alert();
  EXPECT_THAT(a.persons(0).name(), ::testing::MatchesRegex("ps:[0-9a-f]{32}"));
  EXPECT_NE(a.persons(0).name(), a.persons(1).name());
  EXPECT_EQ(a.persons(1).badge_id(), "******120");
  EXPECT_EQ(a.persons(0).nationality(), "NL");
  EXPECT_EQ(a.observed_at().seconds() % 3600, 0);
  EXPECT_EQ(a.observed_at().nanos(), 0);
  EXPECT_EQ(a.observed_at().seconds(), pin_.alert().observed_at().seconds() / 3600 * 3600);
  EXPECT_DOUBLE_EQ(a.location().position().latitude(), 51.95);
  EXPECT_DOUBLE_EQ(a.location().position().longitude(), 4.03);
  EXPECT_EQ(a.location().terminal(), "ECT Delta");
  EXPECT_EQ(a.title(), "PIN fraud");
  EXPECT_EQ(a.containers_size(), 0);  // only seal numbers were shared, and redacted
  std::vector<std::string> transformed;
  for (const TransformedField& t : pd.transformed_fields) transformed.push_back(t.ToString());
  EXPECT_THAT(transformed, UnorderedElementsAre(
      "persons.name: pseudonymise", "persons.badge_id: mask", "observed_at: truncate_time",
      "location.position.latitude: round_geo", "location.position.longitude: round_geo",
      "title: replace", "containers.seal_number: redact"));
}

TEST_F(EngineTest, ConflictingTransformsResolveToTheMoreProtective) {
  auto p = Policy(R"(rules:
  - name: a
    to: [customs-nl, port-rtm, police-be]
    kinds: [ALERT]
    share: [persons, observed_at, location.position, title, containers]
    transform:
      persons.name: {pseudonymise: {key: k2}}
      persons.badge_id: {mask: {keep_last: 4}}
      observed_at: {truncate_time: {unit: HOUR}}
      location.position: {round_geo: {decimals: 3}}
      title: {mask: {keep_last: 5}}
      containers.number: {replace: {with: "X"}}
  - name: b
    to: [customs-nl]
    kinds: [ALERT]
    transform:
      persons.name: redact
      persons.badge_id: {mask: {keep_last: 2}}
      observed_at: {truncate_time: {unit: DAY}}
      location.position.latitude: {round_geo: {decimals: 1}}
      title: {replace: {with: "T"}}
      containers.number: {pseudonymise: {key: k1}}
  - name: c
    to: [port-rtm]
    kinds: [ALERT]
    transform:
      persons.name: {pseudonymise: {key: k1}}
)");
  Decision d = p->Decide(pin_);
  const v1::Alert& a = AlertFor(d, "customs-nl");
  EXPECT_TRUE(a.persons(0).name().empty());                       // redact > pseudonymise
  EXPECT_EQ(a.persons(1).badge_id(), "*******20");                  // fewer kept characters
  EXPECT_EQ(a.observed_at().seconds() % 86400, 0);                  // coarser unit
  EXPECT_DOUBLE_EQ(a.location().position().latitude(), 52.0);       // fewer decimals
  EXPECT_DOUBLE_EQ(a.location().position().longitude(), 4.035);     // only rule a
  EXPECT_EQ(a.title(), "T");                                        // replace > mask
  EXPECT_THAT(a.containers(0).number(), ::testing::MatchesRegex("ps:[0-9a-f]{32}"));
  // police-be matches only rule a.
  const v1::Alert& be = AlertFor(d, "police-be");
  EXPECT_EQ(be.title().substr(be.title().size() - 5), "Delta");
  EXPECT_EQ(be.containers(0).number(), "X");
  // Two keys on one field: the alphabetically first key (k1) wins, whatever
  // the rule order.
  const v1::Alert& port = AlertFor(d, "port-rtm");
  EXPECT_THAT(port.persons(0).name(), ::testing::MatchesRegex("ps:[0-9a-f]{32}"));
  EXPECT_NE(port.persons(0).name(), be.persons(0).name());  // k1, not k2
  auto k1_only = Policy(R"(rules:
  - {name: z, to: [port-rtm], kinds: [ALERT], share: [persons.name],
     transform: {persons.name: {pseudonymise: {key: k1}}}}
)");
  EXPECT_EQ(port.persons(0).name(), AlertFor(k1_only->Decide(pin_), "port-rtm").persons(0).name());
}

TEST_F(EngineTest, SamePseudonymForTheSameValueAcrossPartnersAndItems) {
  auto p = Policy(R"(rules:
  - name: r
    to: [customs-nl, police-be]
    kinds: [ALERT, REPORT]
    share: [persons.name]
    transform: {persons.name: {pseudonymise: {key: k1}}}
  - name: other-key
    to: [port-rtm]
    kinds: [ALERT]
    share: [persons.name]
    transform: {persons.name: {pseudonymise: {key: k2}}}
)");
  Decision alert = p->Decide(pin_);
  Decision report = p->Decide(SampleItem("intel_report_pin_network.json"));
  std::string customs = AlertFor(alert, "customs-nl").persons(0).name();
  EXPECT_EQ(customs, AlertFor(alert, "police-be").persons(0).name());
  // "Dennis van Oosterhout" is also the first person of the report.
  EXPECT_EQ(customs, report.Find("customs-nl")->projected.report().persons(0).name());
  EXPECT_NE(customs, AlertFor(alert, "port-rtm").persons(0).name());
}

TEST_F(EngineTest, RedactOnAMessageRemovesItAndTransformsApplyAcrossRules) {
  auto p = Policy(R"(rules:
  - {name: share, to: [customs-nl], kinds: [ALERT], share: [location, persons.name, title]}
  - name: hide
    to: [customs-nl]
    kinds: [ALERT]
    transform: {location: redact, persons.name: {mask: {keep_last: 0}}}
)");
  Decision decision = p->Decide(pin_);
  const PartnerDecision& d = *decision.Find("customs-nl");
  EXPECT_FALSE(d.projected.alert().has_location());
  EXPECT_EQ(d.projected.alert().persons(0).name(), std::string(21, '*'));
  std::vector<std::string> transformed;
  for (const TransformedField& t : d.transformed_fields) transformed.push_back(t.ToString());
  EXPECT_THAT(transformed, UnorderedElementsAre("location: redact", "persons.name: mask"));
}

TEST_F(EngineTest, TransformsOnRepeatedStrings) {
  auto p = Policy(R"(rules:
  - name: r
    to: [customs-nl]
    kinds: [REPORT]
    share: [related_item_ids, title]
    transform: {related_item_ids: {mask: {keep_last: 4}}}
)");
  Decision decision = p->Decide(SampleItem("intel_report_pin_network.json"));
  const v1::IntelligenceReport& r = decision.Find("customs-nl")->projected.report();
  ASSERT_EQ(r.related_item_ids_size(), 2);
  EXPECT_EQ(r.related_item_ids(0), std::string(22, '*') + "S0T1");
}

TEST_F(EngineTest, RestrictedLevelsNeedRulesThatNameThem) {
  auto p = Policy(R"(rules:
  - {name: plain, to: [customs-nl], kinds: [ALERT], share: [title]}
  - {name: red, to: [port-rtm], kinds: [ALERT], share: [title], allow_restricted: [RED]}
  - {name: red-h3, to: [police-be], kinds: [ALERT], share: [title], allow_restricted: [RED, H3]}
)");
  auto receivers = [&](v1::Classification::Tlp tlp, v1::Classification::HandlingCode code) {
    v1::Item item = pin_;
    item.mutable_classification()->set_tlp(tlp);
    item.mutable_classification()->set_handling_code(code);
    std::vector<std::string> out;
    for (const PartnerDecision& d : p->Decide(item).partners) {
      if (d.released) out.push_back(d.partner);
    }
    return out;
  };
  EXPECT_THAT(receivers(v1::Classification::AMBER, v1::Classification::H1),
              ElementsAre("customs-nl", "port-rtm", "police-be"));
  EXPECT_THAT(receivers(v1::Classification::RED, v1::Classification::H0),
              ElementsAre("port-rtm", "police-be"));
  EXPECT_THAT(receivers(v1::Classification::GREEN, v1::Classification::H2), IsEmpty());
  EXPECT_THAT(receivers(v1::Classification::GREEN, v1::Classification::H3), ElementsAre("police-be"));
  EXPECT_THAT(receivers(v1::Classification::RED, v1::Classification::H3), ElementsAre("police-be"));
  EXPECT_THAT(receivers(v1::Classification::AMBER_STRICT, v1::Classification::H0),
              ElementsAre("customs-nl", "port-rtm", "police-be"));
}

TEST_F(EngineTest, ReceivedItemsNeedForwardReceivedAndHonourTheOriginator) {
  auto p = Policy(R"(rules:
  - {name: own, to: [customs-nl, port-rtm, police-be], kinds: [ALERT], share: [title]}
  - name: fwd
    to: [customs-nl, port-rtm]
    kinds: [ALERT]
    forward_received: true
    share: [title, containers]
)");
  v1::Item item = SampleItem("rip_off_antwerp_received.json");  // AMBER, reshare_to [customs-nl]
  DecideOptions received;
  received.received_from_partner = true;
  Decision d = p->Decide(item, received);
  EXPECT_TRUE(d.Find("customs-nl")->released);
  EXPECT_THAT(Strings(d.Find("customs-nl")->matched_rules), ElementsAre("fwd"));
  EXPECT_EQ(d.Find("port-rtm")->reason, DecisionReason::kOriginatorReshareTo);
  EXPECT_EQ(d.Find("police-be")->reason, DecisionReason::kPartnerIsOrigin);

  v1::Item no_list = item;
  no_list.mutable_classification()->clear_reshare_to();
  Decision amber = p->Decide(no_list, received);
  EXPECT_EQ(amber.Find("customs-nl")->reason, DecisionReason::kOriginatorPermission);
  EXPECT_EQ(amber.Find("port-rtm")->reason, DecisionReason::kOriginatorPermission);
  no_list.mutable_classification()->set_tlp(v1::Classification::GREEN);
  Decision green = p->Decide(no_list, received);
  EXPECT_TRUE(green.Find("customs-nl")->released);
  EXPECT_TRUE(green.Find("port-rtm")->released);
  no_list.mutable_classification()->set_handling_code(v1::Classification::H2);
  EXPECT_EQ(p->Decide(no_list, received).Find("port-rtm")->reason,
            DecisionReason::kNoRuleMatched);  // the gate comes first: fwd lacks H2

  v1::Item no_reshare = item;
  no_reshare.mutable_classification()->set_no_reshare(true);
  EXPECT_EQ(p->Decide(no_reshare, received).Find("customs-nl")->reason,
            DecisionReason::kOriginatorNoReshare);
  v1::Item strict = item;
  strict.mutable_classification()->set_tlp(v1::Classification::AMBER_STRICT);
  EXPECT_EQ(p->Decide(strict, received).Find("customs-nl")->reason, DecisionReason::kOriginatorTlp);

  // As an own item the same constraints do not apply: they bind recipients.
  v1::Item own = no_reshare;
  own.set_origin("police-nl");
  own.mutable_classification()->clear_reshare_to();
  Decision own_d = p->Decide(own);
  for (const PartnerDecision& pd : own_d.partners) EXPECT_TRUE(pd.released) << pd.partner;
  EXPECT_THAT(Strings(own_d.Find("customs-nl")->matched_rules), ElementsAre("own", "fwd"));
}

TEST_F(EngineTest, EnvelopeAlwaysTravelsUnchanged) {
  auto p = Policy("rules: [{name: r, to: [customs-nl], kinds: [ALERT], share: [category]}]\n");
  v1::Item item = SampleItem("rip_off_antwerp_received.json");
  item.set_origin("police-nl");
  Decision decision = p->Decide(item);
  const v1::Item& out = decision.Find("customs-nl")->projected;
  v1::Item envelope_in = item, envelope_out = out;
  envelope_in.clear_alert();
  envelope_out.clear_alert();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(envelope_in, envelope_out))
      << ToJson(envelope_out);
  EXPECT_EQ(out.provenance_size(), 1);
  EXPECT_EQ(out.alert().category(), v1::Alert::RIP_OFF);
  EXPECT_TRUE(out.alert().title().empty());
}

// Tripwire: the engine copies the envelope field by field. A field added to
// Item must be classified (envelope or body) in engine.cc and here.
TEST_F(EngineTest, EveryItemFieldIsEnvelopeOrBody) {
  std::vector<std::string> fields;
  const auto* d = v1::Item::descriptor();
  for (int i = 0; i < d->field_count(); ++i) fields.push_back(d->field(i)->name());
  EXPECT_THAT(fields, UnorderedElementsAre("item_id", "version", "origin", "created_at",
                                           "expires_at", "classification", "provenance",
                                           "alert", "report"));
}

TEST_F(EngineTest, UnknownFieldsNeverLeave) {
  auto p = Policy("rules: [{name: all, to: [customs-nl], share: ['*']}]\n");
  v1::Item item = pin_;
  auto add_unknown = [](google::protobuf::Message* m, int number, const std::string& value) {
    m->GetReflection()->MutableUnknownFields(m)->AddLengthDelimited(number, value);
  };
  add_unknown(item.mutable_alert()->mutable_location(), 99, "CANARY-UNKNOWN-1");
  add_unknown(item.mutable_alert(), 98, "CANARY-UNKNOWN-2");
  add_unknown(&item, 97, "CANARY-UNKNOWN-3");
  Decision decision = p->Decide(item);
  const v1::Item& out = decision.Find("customs-nl")->projected;
  std::string wire = out.SerializeAsString();
  EXPECT_THAT(wire, Not(HasSubstr("CANARY-UNKNOWN")));
  EXPECT_EQ(out.alert().location().unlocode(), "NLRTM");
}

// Found by tests/fuzz (fuzz_projection): a body holding only unknown fields
// and messages left empty without them was decided with the presence of the
// uncleaned body, and `location {}` went out as a released item.
TEST_F(EngineTest, BodyWithOnlyUnknownFieldsReleasesNothing) {
  auto p = Policy("rules: [{name: r, to: [customs-nl], kinds: [REPORT], share: [location, vessels]}]\n");
  v1::Item item;
  item.set_item_id("R-1");
  item.set_origin("police-nl");
  item.mutable_classification()->set_tlp(v1::Classification::GREEN);
  auto add_unknown = [](google::protobuf::Message* m, int number) {
    m->GetReflection()->MutableUnknownFields(m)->AddVarint(number, 14);
  };
  add_unknown(item.mutable_report()->mutable_location(), 1);
  add_unknown(item.mutable_report()->add_vessels(), 1);
  add_unknown(item.mutable_report(), 5);
  for (bool explain : {false, true}) {
    DecideOptions options;
    options.explain = explain;
    Decision d = p->Decide(item, options);
    const PartnerDecision& pd = *d.Find("customs-nl");
    EXPECT_FALSE(pd.released) << pd.projected.DebugString();
    EXPECT_EQ(pd.reason, DecisionReason::kNothingReleased);
    EXPECT_EQ(pd.projected.ByteSizeLong(), 0u);
  }
}

TEST_F(EngineTest, AuditSummaryNamesPathsNotValues) {
  auto p = Policy(R"(rules:
  - name: r
    to: [customs-nl]
    kinds: [ALERT]
    share: [title, location, containers.number, persons]
    withhold: [persons.document_number]
    transform: {persons.name: {pseudonymise: {key: k1}}}
)");
  Decision d = p->Decide(pin_);
  const PartnerDecision& pd = *d.Find("customs-nl");
  EXPECT_THAT(Strings(pd.released_fields),
              UnorderedElementsAre("title", "location", "containers.number", "persons.date_of_birth",
                                   "persons.nationality", "persons.role", "persons.employer",
                                   "persons.badge_id"));
  EXPECT_THAT(Strings(pd.withheld_fields),
              UnorderedElementsAre("category", "severity", "description", "observed_at",
                                   "containers.seal_number", "containers.terminal",
                                   "containers.bill_of_lading", "containers.consignee",
                                   "containers.pin_release_status", "containers.port_of_loading",
                                   "containers.cargo_description", "containers.size_type",
                                   "vessels", "persons.document_number", "reporter", "source"));
  ASSERT_EQ(pd.transformed_fields.size(), 1u);
  EXPECT_EQ(pd.transformed_fields[0].ToString(), "persons.name: pseudonymise");
  // The views stay valid while the decision lives, even without the caller's
  // pointer to the policy.
  std::weak_ptr<const CompiledPolicy> weak = p;
  p.reset();
  EXPECT_FALSE(weak.expired());
  EXPECT_EQ(pd.matched_rules[0], "r");
}

TEST_F(EngineTest, ExplanationSaysWhyWithoutValues) {
  auto p = Policy(R"(rules:
  - {name: share, to: [customs-nl], kinds: [ALERT], share: [persons, title]}
  - {name: hide-docs, to: [customs-nl], withhold: [persons.document_number]}
  - {name: names, to: [customs-nl], kinds: [ALERT], transform: {persons.name: {pseudonymise: k1}}}
  - {name: only-low, to: [customs-nl], kinds: [ALERT], when: "severity == LOW", share: [description]}
  - {name: red, to: [customs-nl], kinds: [ALERT], when: "classification.tlp == RED", share: [source],
     allow_restricted: [RED]}
  - {name: fwd, to: [customs-nl], forward_received: true, share: [vessels]}
)");
  DecideOptions options;
  options.explain = true;
  Decision d = p->Decide(pin_, options);
  const Explanation& e = *d.Find("customs-nl")->explanation;
  EXPECT_TRUE(e.released);
  std::vector<std::string> rules;
  for (const RuleTrace& r : e.rules) rules.push_back(absl::StrCat(r.rule, "=", OutcomeName(r.outcome)));
  EXPECT_THAT(rules, ElementsAre("share=matched", "hide-docs=matched", "names=matched",
                                 "only-low=condition false", "red=condition false", "fwd=matched"));
  auto field = [&](const std::string& path) -> const FieldTrace& {
    for (const FieldTrace& f : e.fields) {
      if (f.path == path) return f;
    }
    static FieldTrace none;
    ADD_FAILURE() << "no trace for " << path;
    return none;
  };
  EXPECT_EQ(field("persons.name").verdict, FieldTrace::Verdict::kTransformed);
  EXPECT_EQ(field("persons.name").transform_by, "names");
  EXPECT_EQ(field("persons.name").transform, "pseudonymise with key `k1`");
  EXPECT_EQ(field("persons.document_number").verdict, FieldTrace::Verdict::kWithheld);
  EXPECT_THAT(field("persons.document_number").withheld_by, ElementsAre("hide-docs"));
  EXPECT_EQ(field("title").verdict, FieldTrace::Verdict::kReleased);
  EXPECT_THAT(field("title").shared_by, ElementsAre("share"));
  EXPECT_EQ(field("description").verdict, FieldTrace::Verdict::kNotShared);
  EXPECT_EQ(field("vessels.imo").verdict, FieldTrace::Verdict::kReleased);
  std::string text = e.ToString();
  EXPECT_THAT(text, HasSubstr("persons.name: transformed (pseudonymise with key `k1` by names"));
  for (const char* secret : {"Dennis", "NX4R7K2P9", "CI-RTM-0412", "ECT-77120", "MSCU4812360"}) {
    EXPECT_THAT(text, Not(HasSubstr(secret)));
  }

  v1::Item red = pin_;
  red.mutable_classification()->set_tlp(v1::Classification::RED);
  options.received_from_partner = true;
  red.set_origin("police-be");
  red.mutable_classification()->add_reshare_to("customs-nl");
  Decision red_decision = p->Decide(red, options);
  const Explanation& r = *red_decision.Find("customs-nl")->explanation;
  rules.clear();
  for (const RuleTrace& t : r.rules) rules.push_back(absl::StrCat(t.rule, "=", OutcomeName(t.outcome)));
  // Conditions are evaluated before the gates (a rule whose condition holds
  // protects even when a gate keeps it from releasing), so `only-low`
  // reports its false condition rather than the received item.
  EXPECT_THAT(rules, ElementsAre("share=protects only: received item",
                                 "hide-docs=protects only: received item",
                                 "names=protects only: received item",
                                 "only-low=condition false",
                                 "red=protects only: received item",
                                 "fwd=protects only: restricted item"));
  EXPECT_FALSE(r.released);
  EXPECT_EQ(r.summary, DecisionReasonText(DecisionReason::kNoRuleMatched));
}

// Protections fail closed: a rule held back by a gate still withholds,
// redacts and transforms, and the decision and explanation name it.
TEST_F(EngineTest, GatedRuleStillProtectsAndIsNamed) {
  auto p = Policy(R"(rules:
  - {name: red-share, to: [customs-nl], kinds: [ALERT], share: [title, persons, source],
     allow_restricted: [RED], forward_received: true}
  - {name: informants-never-leave, to: [customs-nl], withhold: [source]}
  - {name: names-pseudonymised, to: [customs-nl], transform: {persons.name: {pseudonymise: k1}}}
  - {name: docs-redacted, to: [customs-nl], transform: {persons.document_number: redact}}
)");
  v1::Item red = pin_;
  red.mutable_classification()->set_tlp(v1::Classification::RED);
  red.mutable_alert()->mutable_source()->set_reference("CI-RTM-0412");
  DecideOptions options;
  options.explain = true;
  Decision d = p->Decide(red, options);
  const PartnerDecision& c = *d.Find("customs-nl");
  ASSERT_TRUE(c.released);
  EXPECT_FALSE(c.projected.alert().has_source());
  ASSERT_GT(c.projected.alert().persons_size(), 0);
  for (const v1::Person& person : c.projected.alert().persons()) {
    EXPECT_THAT(person.name(), ::testing::StartsWith("ps:"));
    EXPECT_TRUE(person.document_number().empty());
  }
  EXPECT_THAT(Strings(c.matched_rules), ElementsAre("red-share"));
  EXPECT_THAT(Strings(c.protecting_rules),
              ElementsAre("informants-never-leave", "names-pseudonymised", "docs-redacted"));
  std::string text = c.explanation->ToString();
  EXPECT_THAT(text, HasSubstr("source.reference: withheld (withheld by informants-never-leave; "
                              "shared by red-share)"));
  EXPECT_THAT(text, HasSubstr("by names-pseudonymised"));
  EXPECT_THAT(text, HasSubstr("informants-never-leave: protects only: restricted item"));
  EXPECT_THAT(text, Not(HasSubstr("CI-RTM-0412")));

  // A protecting rule's share is not a release: with only gated rules
  // matching, nothing goes.
  auto only_gated = Policy(R"(rules:
  - {name: plain, to: [customs-nl], kinds: [ALERT], share: [title], withhold: [source]}
)");
  const PartnerDecision* none = only_gated->Decide(red).Find("customs-nl");
  EXPECT_FALSE(none->released);
  EXPECT_THAT(Strings(none->protecting_rules), ElementsAre("plain"));
  EXPECT_TRUE(none->matched_rules.empty());

  // An unrestricted own item: every rule matches and may release, as before.
  const PartnerDecision& green = *p->Decide(pin_).Find("customs-nl");
  EXPECT_TRUE(green.released);
  EXPECT_THAT(Strings(green.matched_rules),
              ElementsAre("red-share", "informants-never-leave", "names-pseudonymised",
                          "docs-redacted"));
  EXPECT_THAT(Strings(green.protecting_rules), IsEmpty());
}

TEST_F(EngineTest, DecideForMatchesDecide) {
  auto p = Policy(R"(rules:
  - {name: a, to: [customs-nl, police-be], kinds: [ALERT], share: [title, persons],
     transform: {persons.name: {pseudonymise: k1}}}
)");
  Decision all = p->Decide(pin_);
  for (const std::string& partner : p->partners()) {
    auto one = p->DecideFor(partner, pin_);
    ASSERT_TRUE(one.ok());
    EXPECT_EQ(one->released, all.Find(partner)->released);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(one->projected,
                                                                  all.Find(partner)->projected));
  }
  EXPECT_EQ(p->DecideFor("nobody", pin_).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(EngineTest, ItemWithoutBodyGoesNowhere) {
  auto p = Policy("rules: [{name: all, to: [customs-nl], share: ['*']}]\n");
  v1::Item empty = pin_;
  empty.clear_alert();
  EXPECT_EQ(p->Decide(empty).Find("customs-nl")->reason, DecisionReason::kNoBody);
}

TEST_F(EngineTest, InboundRulesAreDefaultDeny) {
  auto p = Policy(R"(rules: []
inbound:
  accept:
    - from: [customs-nl]
    - {from: [port-rtm], kinds: [ALERT], categories: [UNAUTHORISED_ACCESS]}
    - {from: [police-be], kinds: [REPORT]}
)");
  v1::Item report = SampleItem("intel_report_pin_network.json");
  v1::Item badge = SampleItem("badge_out_of_hours.json");
  EXPECT_TRUE(p->AcceptInbound("customs-nl", pin_).ok());
  EXPECT_TRUE(p->AcceptInbound("customs-nl", report).ok());
  EXPECT_TRUE(p->AcceptInbound("port-rtm", badge).ok());
  absl::Status refused = p->AcceptInbound("port-rtm", pin_);
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(refused.message(),
            "the inbound rules of policy 7 accept no PIN_CODE_FRAUD alerts from `port-rtm`");
  EXPECT_FALSE(p->AcceptInbound("port-rtm", report).ok());
  EXPECT_TRUE(p->AcceptInbound("police-be", report).ok());
  EXPECT_FALSE(p->AcceptInbound("police-be", pin_).ok());
  EXPECT_THAT(p->AcceptInbound("police-xx", pin_).message(), HasSubstr("is not a partner"));
  auto none = Policy("rules: []\n");
  EXPECT_EQ(none->AcceptInbound("customs-nl", pin_).code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(EngineTest, ConcurrentDecisionsAgree) {
  auto p = Policy(R"(rules:
  - name: a
    to: [customs-nl, police-be, port-rtm]
    kinds: [ALERT]
    when: containers.exists(c, c.port_of_loading == "ECGYE")
    share: [title, persons, containers]
    transform: {persons.name: {pseudonymise: k1}, containers.number: {mask: 4}}
)");
  std::string expected;
  for (const auto& d : p->Decide(pin_).partners) expected += d.projected.SerializeAsString();
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        std::string got;
        for (const auto& d : p->Decide(pin_).partners) got += d.projected.SerializeAsString();
        if (got != expected) ++mismatches;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace havengate::policy
