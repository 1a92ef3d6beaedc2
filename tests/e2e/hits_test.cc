// Hits and hit/no-hit questions across real gateways (real processes, real
// mutual TLS). port-rtm and police-nl both pseudonymise badge ids with the
// shared key `partner-correlation-2026` (one key file, the same bytes in
// both policies) and person names with keys of their own; both send
// customs-nl an item about the same container, seal and badge holder.
// - customs-nl records hits on the container and the badge, none on the
//   name (different keys) and none on the seal (not indexed there); the
//   hit audit records hold no personal value in clear; Subscribe streams
//   the hits; `havenctl hits list --json` shows them.
// - police-nl, which holds the badge in clear in its own report, meets
//   port-rtm's pseudonymised badge as a hit: the name never left it.
// - customs-nl asks hit/no-hit: police-nl answers container questions for
//   customs-nl (hit with references and contact point, no contents; no-hit
//   for an unknown container) and refuses vessel questions; port-rtm
//   answers nothing (default). Both sides audit every question.
// - police-nl answers at most hit_question_burst questions of a partner at
//   once (limits.hit_questions_per_second); beyond that the asker gets
//   UNANSWERED naming the limit. A partner that does not answer within the
//   question's deadline (its process stopped) is UNANSWERED while the
//   others' answers still come back, and the asker audits it.
// - Every key type, across origins (KeyTypeHitsTest): org-b indexes all
//   nine; org-a sends it an alert with personal values pseudonymised under
//   the key both hold; org-b's own alert holds the same values in clear.
//   One hit per key type, personal ones on codes only.
#include <signal.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "havengate/v1/cooperation.pb.h"
#include "havengate/v1/inbox.grpc.pb.h"
#include "havengate/v1/hits.pb.h"
#include "tests/e2e/federation_fixture.h"
#include "tests/testing/harness.h"

namespace havengate::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kContainer[] = "MSCU4812360";
constexpr char kSeal[] = "SEAL-7741";
constexpr char kName[] = "Kevin Brouwer";
constexpr char kBadge[] = "RWG-20931";
constexpr char kContact[] = "Seaport Police HARC, +31 10 000 0000";

std::string PortPolicy(const std::string& shared_key) {
  return absl::StrCat(R"yaml(
organisation: port-rtm
version: "hits-1"
partners:
  - {id: police-nl, kind: POLICE, country: NL}
  - {id: customs-nl, kind: CUSTOMS, country: NL}
keys:
  - {name: partner-correlation-2026, file: )yaml", shared_key, R"yaml(}
  - {name: employees-2026, file: keys/employees.key}
rules:
  - name: access-signals
    to: [police-nl, customs-nl]
    kinds: [ALERT]
    share: [category, severity, title, containers, persons.name, persons.badge_id]
    transform:
      persons.name: {pseudonymise: {key: employees-2026}}
      persons.badge_id: {pseudonymise: {key: partner-correlation-2026}}
)yaml");
}

std::string PolicePolicy(const std::string& shared_key) {
  return absl::StrCat(R"yaml(
organisation: police-nl
version: "hits-1"
partners:
  - {id: port-rtm, kind: PORT_OPERATOR, country: NL}
  - {id: customs-nl, kind: CUSTOMS, country: NL}
keys:
  - {name: partner-correlation-2026, file: )yaml", shared_key, R"yaml(}
  - {name: police-names, file: keys/names.key}
rules:
  - name: insider-reports-to-customs
    to: [customs-nl]
    kinds: [REPORT]
    share: [title, containers, persons.name, persons.badge_id]
    transform:
      persons.name: {pseudonymise: {key: police-names}}
      persons.badge_id: {pseudonymise: {key: partner-correlation-2026}}
inbound:
  accept:
    - {from: [port-rtm], kinds: [ALERT]}
matching:
  index: [container_number, vessel_imo, badge_id]
  key: partner-correlation-2026
  answer:
    - {to: [customs-nl], key_types: [container_number]}
  contact: ")yaml", kContact, R"yaml("
)yaml");
}

constexpr char kCustomsPolicy[] = R"yaml(
organisation: customs-nl
version: "hits-1"
partners:
  - {id: port-rtm, kind: PORT_OPERATOR, country: NL}
  - {id: police-nl, kind: POLICE, country: NL}
keys:
  - {name: customs-matching, file: keys/matching.key}
inbound:
  accept:
    - {from: [port-rtm], kinds: [ALERT]}
    - {from: [police-nl], kinds: [REPORT]}
matching:
  index: [container_number, vessel_imo, vessel_mmsi, person_name, badge_id]
  key: customs-matching
)yaml";

v1::Item PortAlert() {
  v1::Item item = MakeAlert("hit-port-1", "Badge used out of hours at the reefer stack");
  item.mutable_alert()->set_category(v1::Alert::UNAUTHORISED_ACCESS);
  v1::Container* c = item.mutable_alert()->add_containers();
  c->set_number(kContainer);
  c->set_seal_number(kSeal);
  v1::Person* p = item.mutable_alert()->add_persons();
  p->set_name(kName);
  p->set_badge_id(kBadge);
  p->set_role(v1::Person::EMPLOYEE);
  return item;
}

v1::Item PoliceReport() {
  v1::Item item;
  item.set_item_id("hit-police-1");
  item.mutable_classification()->set_tlp(v1::Classification::AMBER);
  v1::IntelligenceReport* r = item.mutable_report();
  r->set_title("Terminal employee paid to look up reefer containers");
  r->set_assessment("Source reports payments in cash; see case file.");
  v1::Container* c = r->add_containers();
  c->set_number(kContainer);
  c->set_seal_number(kSeal);
  v1::Person* p = r->add_persons();
  p->set_name(kName);
  p->set_badge_id(kBadge);
  p->set_document_number("NX7712345");
  return item;
}

// Every value of the items a hit or an answer must never carry.
const std::vector<std::string>& Withheld() {
  static const std::vector<std::string> values = {
      kName, kBadge, "NX7712345", "paid to look up", "payments in cash",
      "out of hours"};
  return values;
}

void ExpectNoWithheldValue(const google::protobuf::Message& message) {
  const std::string text = message.DebugString();
  for (const std::string& value : Withheld()) {
    EXPECT_THAT(text, ::testing::Not(HasSubstr(value))) << text;
  }
}

std::set<std::string> Pair(const v1::Hit& hit) {
  return {hit.item().item_id(), hit.other().item_id()};
}

class HitsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    f_ = new Federation();
    for (const char* org : {"port-rtm", "police-nl", "customs-nl"}) {
      ASSERT_TRUE(f_->AddOrg(org).ok());
    }
    // One key file named in both policies: the same bytes at both.
    const std::string shared = f_->root() + "/shared/partner-correlation-2026.key";
    ASSERT_TRUE(f_->WritePolicy("port-rtm", PortPolicy(shared)).ok());
    ASSERT_TRUE(f_->WritePolicy("police-nl", PolicePolicy(shared)).ok());
    ASSERT_TRUE(f_->WritePolicy("customs-nl", kCustomsPolicy).ok());
    ASSERT_TRUE(f_->Start("port-rtm", {"police-nl", "customs-nl"}).ok()) << f_->Logs();
    ASSERT_TRUE(f_->Start("police-nl", {"port-rtm", "customs-nl"},
                          "limits:\n  hit_questions_per_second: 1\n"
                          "  hit_question_burst: 4\n")
                    .ok())
        << f_->Logs();
    ASSERT_TRUE(f_->Start("customs-nl", {"port-rtm", "police-nl"}).ok()) << f_->Logs();
    ASSERT_TRUE(f_->Push("port-rtm", PortAlert()).ok());
    ASSERT_TRUE(f_->Push("police-nl", PoliceReport()).ok());
    for (const char* id : {"hit-port-1", "hit-police-1"}) {
      ASSERT_TRUE(f_->AwaitItem("customs-nl", id).ok()) << f_->Logs();
    }
    ASSERT_TRUE(f_->AwaitItem("police-nl", "hit-port-1").ok()) << f_->Logs();
  }
  static void TearDownTestSuite() {
    delete f_;
    f_ = nullptr;
  }

  static std::vector<v1::Hit> Hits(const std::string& org) {
    auto page = f_->ClientOf(org).ListHits({});
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? std::vector<v1::Hit>(page->hits().begin(), page->hits().end())
                     : std::vector<v1::Hit>{};
  }

  static Federation* f_;
};
Federation* HitsTest::f_ = nullptr;

TEST_F(HitsTest, CustomsMeetsTheContainerAndTheSharedKeyBadgeButNotNamesOrSeals) {
  std::vector<v1::Hit> hits = Hits("customs-nl");
  std::vector<std::string> types;
  for (const v1::Hit& hit : hits) {
    types.push_back(v1::MatchKeyType_Name(hit.key_type()));
    EXPECT_EQ(Pair(hit), (std::set<std::string>{"hit-port-1", "hit-police-1"}));
    ExpectNoWithheldValue(hit);
  }
  // Names pseudonymised under different keys never meet; seals are not
  // indexed at customs.
  EXPECT_THAT(types, UnorderedElementsAre("CONTAINER_NUMBER", "BADGE_ID"));
  for (const v1::Hit& hit : hits) {
    if (hit.key_type() == v1::CONTAINER_NUMBER) {
      EXPECT_EQ(hit.key(), kContainer);
    } else {
      EXPECT_TRUE(absl::StartsWith(hit.key(), "ps:"));
    }
  }
  // Audited: both item references and the key type; no personal value.
  std::vector<v1::AuditRecord> records = f_->AuditWhere(
      "customs-nl", [](const v1::AuditRecord& r) { return r.type() == v1::HIT_RECORDED; });
  ASSERT_EQ(records.size(), 2u);
  for (const v1::AuditRecord& r : records) {
    EXPECT_EQ((std::set<std::string>{r.item().item_id(), r.other_item().item_id()}),
              (std::set<std::string>{"hit-port-1", "hit-police-1"}));
    EXPECT_FALSE(r.match_key_type().empty());
    ExpectNoWithheldValue(r);
  }
}

TEST_F(HitsTest, SubscribeStreamsHitsAndHavenctlListsThem) {
  auto stub = v1::Inbox::NewStub(f_->ClientOf("customs-nl").channel());
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::SubscribeRequest request;
  request.set_include_hits(true);
  auto reader = stub->Subscribe(&context, request);
  int items = 0, hits = 0;
  uint64_t last = 0;
  v1::InboxEvent event;
  while ((items < 2 || hits < 2) && reader->Read(&event)) {
    EXPECT_GT(event.cursor(), last);  // one cursor order
    last = event.cursor();
    if (event.has_hit()) ++hits;
    if (event.has_entry()) ++items;
  }
  context.TryCancel();
  while (reader->Read(&event)) {
  }
  reader->Finish();
  EXPECT_EQ(items, 2);
  EXPECT_EQ(hits, 2);

  const TestOrg& customs = f_->org("customs-nl");
  CommandResult cli = RunCommand(
      {HavenctlBinary(), "hits", "list", "--json", "--address",
       absl::StrCat("127.0.0.1:", f_->port("customs-nl")), "--cert", customs.client_cert,
       "--key", customs.client_key, "--ca", customs.ca_file, "--gateway-id",
       customs.gateway_id()});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(CountOccurrences(cli.out, "\"key_type\""), 2) << cli.out;
  EXPECT_THAT(cli.out, HasSubstr(kContainer));
  for (const std::string& value : Withheld()) EXPECT_THAT(cli.out, ::testing::Not(HasSubstr(value)));
}

TEST_F(HitsTest, PoliceMeetsThePortsPseudonymisedBadgeWithItsOwnClearBadge) {
  std::vector<v1::Hit> hits = Hits("police-nl");
  std::vector<std::string> types;
  for (const v1::Hit& hit : hits) {
    types.push_back(v1::MatchKeyType_Name(hit.key_type()));
    EXPECT_EQ(Pair(hit), (std::set<std::string>{"hit-port-1", "hit-police-1"}));
    ExpectNoWithheldValue(hit);
  }
  EXPECT_THAT(types, UnorderedElementsAre("CONTAINER_NUMBER", "BADGE_ID"));
  // The port's item at police holds the badge only as a code.
  std::vector<v1::InboxEntry> shown = f_->Shown("police-nl", "hit-port-1");
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(shown[0].item().alert().persons(0).badge_id(), "ps:"));
}

TEST_F(HitsTest, HitQuestionsAreAnsweredAsEachPartnersPolicySaysAndAuditedOnBothSides) {
  v1::AskHitsRequest ask;
  ask.set_key_type(v1::CONTAINER_NUMBER);
  ask.set_value("mscu4812360");  // normalised by both sides
  ask.set_case_reference("CASE-2026-118");
  auto answers = f_->ClientOf("customs-nl").AskHits(ask);
  ASSERT_TRUE(answers.ok()) << answers.status();
  ASSERT_EQ(answers->answers_size(), 2);
  for (const v1::PartnerAnswer& a : answers->answers()) {
    if (a.partner() == "police-nl") {
      // Field by field: outcome, references (origin and id), contact.
      EXPECT_EQ(a.outcome(), v1::PartnerAnswer::HIT);
      ASSERT_EQ(a.references_size(), 2);
      std::set<std::string> refs;
      for (const auto& r : a.references()) refs.insert(r.origin() + "/" + r.item_id());
      EXPECT_EQ(refs, (std::set<std::string>{"police-nl/hit-police-1",
                                             "port-rtm/hit-port-1"}));
      EXPECT_EQ(a.contact(), kContact);
      EXPECT_TRUE(a.message().empty());
    } else {
      EXPECT_EQ(a.partner(), "port-rtm");
      EXPECT_EQ(a.outcome(), v1::PartnerAnswer::REFUSED);
      EXPECT_THAT(a.message(), HasSubstr("does not answer container_number questions"));
      EXPECT_EQ(a.references_size(), 0);
      EXPECT_TRUE(a.contact().empty());
    }
    ExpectNoWithheldValue(a);
  }
  // No hit for a container nobody holds; vessel questions refused.
  ask.set_value("ZZZU0000000");
  ask.add_partners("police-nl");
  auto none = f_->ClientOf("customs-nl").AskHits(ask);
  ASSERT_TRUE(none.ok()) << none.status();
  ASSERT_EQ(none->answers_size(), 1);
  EXPECT_EQ(none->answers(0).outcome(), v1::PartnerAnswer::NO_HIT);
  EXPECT_EQ(none->answers(0).references_size(), 0);
  EXPECT_TRUE(none->answers(0).contact().empty());
  ask.set_key_type(v1::VESSEL_IMO);
  ask.set_value("IMO9319466");
  auto vessel = f_->ClientOf("customs-nl").AskHits(ask);
  ASSERT_TRUE(vessel.ok());
  EXPECT_EQ(vessel->answers(0).outcome(), v1::PartnerAnswer::REFUSED);
  // A case reference no partner would take is refused before anyone is
  // asked (and so not audited as a question).
  v1::AskHitsRequest bad = ask;
  bad.set_case_reference("CASE\n2026");
  auto refused_here = f_->ClientOf("customs-nl").AskHits(bad);
  ASSERT_FALSE(refused_here.ok());
  EXPECT_EQ(refused_here.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused_here.status().message(), HasSubstr("case_reference"));

  // Audited at the asker, one record per partner and question...
  auto asked = f_->AuditWhere("customs-nl", [](const v1::AuditRecord& r) {
    return r.type() == v1::HIT_QUESTION_ASKED;
  });
  ASSERT_EQ(asked.size(), 4u);
  EXPECT_EQ(asked[0].question_id(), answers->question_id());
  EXPECT_EQ(asked[0].detail(), "CASE-2026-118");
  // ... and at each partner, answered or refused.
  auto answered = f_->AwaitAudit("police-nl", [&](const v1::AuditRecord& r) {
    return r.type() == v1::HIT_QUESTION_ANSWERED &&
           r.question_id() == answers->question_id();
  });
  ASSERT_TRUE(answered.ok());
  EXPECT_TRUE(answered->hit());
  EXPECT_EQ(answered->partner(), "customs-nl");
  EXPECT_EQ(answered->match_key(), kContainer);
  auto refused_vessel = f_->AwaitAudit("police-nl", [&](const v1::AuditRecord& r) {
    return r.type() == v1::HIT_QUESTION_REFUSED && r.question_id() == vessel->question_id();
  });
  EXPECT_TRUE(refused_vessel.ok());
  auto refused = f_->AwaitAudit("port-rtm", [&](const v1::AuditRecord& r) {
    return r.type() == v1::HIT_QUESTION_REFUSED &&
           r.question_id() == answers->question_id();
  });
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->partner(), "customs-nl");
}

TEST_F(HitsTest, PersonalValuesInClearAreRefusedWithoutBeingRepeated) {
  // customs-nl asks with a name in clear: it becomes its own pseudonym
  // (customs-matching key) before it leaves; police refuses person_name
  // questions anyway. A peer sending a clear value is refused outright.
  v1::AskHitsRequest ask;
  ask.set_key_type(v1::BADGE_ID);
  ask.set_value(kBadge);
  ask.add_partners("police-nl");
  auto answers = f_->ClientOf("customs-nl").AskHits(ask);
  ASSERT_TRUE(answers.ok()) << answers.status();
  EXPECT_EQ(answers->answers(0).outcome(), v1::PartnerAnswer::REFUSED);
  auto records = f_->AuditWhere("customs-nl", [&](const v1::AuditRecord& r) {
    return r.question_id() == answers->question_id();
  });
  ASSERT_EQ(records.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(records[0].match_key(), "ps:"));
  for (const auto& r : f_->Audit("police-nl")) ExpectNoWithheldValue(r);
  for (const auto& r : f_->Audit("customs-nl")) ExpectNoWithheldValue(r);
}

TEST_F(HitsTest, QuestionsBeyondAPartnersRateAreUnansweredNamingTheLimit) {
  v1::AskHitsRequest ask;
  ask.set_key_type(v1::CONTAINER_NUMBER);
  ask.set_value(kContainer);
  ask.add_partners("police-nl");
  int answered = 0;
  int limited = 0;
  for (int i = 0; i < 8; ++i) {
    auto answers = f_->ClientOf("customs-nl").AskHits(ask);
    ASSERT_TRUE(answers.ok()) << answers.status();
    ASSERT_EQ(answers->answers_size(), 1);
    const v1::PartnerAnswer& a = answers->answers(0);
    ExpectNoWithheldValue(a);
    if (a.outcome() == v1::PartnerAnswer::HIT) {
      ++answered;
    } else {
      EXPECT_EQ(a.outcome(), v1::PartnerAnswer::UNANSWERED);
      EXPECT_THAT(a.message(), HasSubstr("limits.hit_questions_per_second"));
      EXPECT_EQ(a.references_size(), 0);
      EXPECT_TRUE(a.contact().empty());
      ++limited;
    }
  }
  // A burst of 4 at 1 per second: 8 questions asked back to back cannot
  // all be answered, and the first ones are.
  EXPECT_GE(answered, 4);
  EXPECT_GE(limited, 1);
  auto asked = f_->AuditWhere("customs-nl", [](const v1::AuditRecord& r) {
    return r.type() == v1::HIT_QUESTION_ASKED &&
           absl::StartsWith(r.reason(), "unanswered: ");
  });
  EXPECT_EQ(static_cast<int>(asked.size()), limited);
}

TEST_F(HitsTest, APartnerThatDoesNotAnswerInTimeIsUnansweredAndTheOthersStillAnswer) {
  // Stopped, police-nl's gateway still accepts connections (the kernel
  // does) but never answers: only the deadline ends the question.
  const pid_t police = f_->gateway("police-nl").pid();
  ASSERT_EQ(kill(police, SIGSTOP), 0);
  v1::AskHitsRequest ask;
  ask.set_key_type(v1::CONTAINER_NUMBER);
  ask.set_value(kContainer);
  ask.set_timeout_ms(1000);
  auto answers = f_->ClientOf("customs-nl").AskHits(ask);
  ASSERT_EQ(kill(police, SIGCONT), 0);
  ASSERT_TRUE(answers.ok()) << answers.status();
  ASSERT_EQ(answers->answers_size(), 2);
  for (const v1::PartnerAnswer& a : answers->answers()) {
    if (a.partner() == "police-nl") {
      EXPECT_EQ(a.outcome(), v1::PartnerAnswer::UNANSWERED);
      EXPECT_EQ(a.message(), "no answer within the deadline");
      EXPECT_EQ(a.references_size(), 0);
    } else {
      EXPECT_EQ(a.outcome(), v1::PartnerAnswer::REFUSED) << a.message();
    }
  }
  auto asked = f_->AuditWhere("customs-nl", [&](const v1::AuditRecord& r) {
    return r.type() == v1::HIT_QUESTION_ASKED &&
           r.question_id() == answers->question_id() && r.partner() == "police-nl";
  });
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].reason(), "unanswered: no answer within the deadline");
}

constexpr char kAllTypesReceiver[] = R"yaml(
organisation: org-b
version: "all-types"
partners:
  - {id: org-a, kind: PORT_OPERATOR, country: NL}
keys:
  - {name: shared, file: %s}
inbound:
  accept:
    - {from: [org-a], kinds: [ALERT]}
matching:
  index: [container_number, seal_number, vessel_imo, vessel_mmsi, person_name,
          badge_id, document_number, company_name, company_eori]
  key: shared
)yaml";

constexpr char kAllTypesSender[] = R"yaml(
organisation: org-a
version: "all-types"
partners:
  - {id: org-b, kind: CUSTOMS, country: NL}
keys:
  - {name: shared, file: %s}
rules:
  - name: everything-personal-as-codes
    to: [org-b]
    kinds: [ALERT]
    share: [category, severity, title, containers, vessels, persons, companies]
    transform:
      persons.name: {pseudonymise: {key: shared}}
      persons.badge_id: {pseudonymise: {key: shared}}
      persons.document_number: {pseudonymise: {key: shared}}
)yaml";

v1::Item AllTypesAlert(const std::string& id) {
  v1::Item item = MakeAlert(id, "Same container, vessel, person and company");
  v1::Alert* alert = item.mutable_alert();
  alert->mutable_containers(0)->set_seal_number("SEAL-55120");
  alert->mutable_persons(0)->set_document_number("NW8812345");
  v1::Vessel* vessel = alert->add_vessels();
  vessel->set_imo("IMO9365128");
  vessel->set_mmsi("255806187");
  v1::Company* company = alert->add_companies();
  company->set_name("Van Wijk Tropical Trading B.V.");
  company->set_eori("NL861204937");
  return item;
}

TEST(KeyTypeHitsTest, EachIndexedKeyTypeHitsAcrossOriginsPersonalOnesOnCodesOnly) {
  Federation f;
  for (const char* org : {"org-a", "org-b"}) ASSERT_TRUE(f.AddOrg(org).ok());
  const std::string shared = f.root() + "/shared/all-types.key";
  ASSERT_TRUE(f.WritePolicy("org-b", absl::StrFormat(kAllTypesReceiver, shared)).ok());
  ASSERT_TRUE(f.WritePolicy("org-a", absl::StrFormat(kAllTypesSender, shared)).ok());
  ASSERT_TRUE(f.Start("org-b", {"org-a"}).ok()) << f.Logs();
  ASSERT_TRUE(f.Start("org-a", {"org-b"}).ok()) << f.Logs();
  ASSERT_TRUE(f.Push("org-b", AllTypesAlert("own-1")).ok());
  ASSERT_TRUE(f.Push("org-a", AllTypesAlert("sent-1")).ok());
  ASSERT_TRUE(f.AwaitItem("org-b", "sent-1").ok()) << f.Logs();

  auto page = f.ClientOf("org-b").ListHits({});
  ASSERT_TRUE(page.ok()) << page.status();
  std::map<std::string, std::string> key_by_type;
  for (const v1::Hit& hit : page->hits()) {
    EXPECT_EQ(hit.item().origin() + "/" + hit.item().item_id(), "org-a/sent-1");
    EXPECT_EQ(hit.other().origin() + "/" + hit.other().item_id(), "org-b/own-1");
    EXPECT_EQ(hit.item().received_from(), "org-a");
    key_by_type[v1::MatchKeyType_Name(hit.key_type())] = hit.key();
  }
  EXPECT_EQ(page->hits_size(), 9);
  EXPECT_EQ(key_by_type,
            (std::map<std::string, std::string>{
                {"CONTAINER_NUMBER", "CSQU3054383"},
                {"SEAL_NUMBER", "SEAL-55120"},
                {"VESSEL_IMO", "IMO9365128"},
                {"VESSEL_MMSI", "255806187"},
                {"COMPANY_NAME", "VAN WIJK TROPICAL TRADING B.V."},
                {"COMPANY_EORI", "NL861204937"},
                {"PERSON_NAME", key_by_type["PERSON_NAME"]},
                {"BADGE_ID", key_by_type["BADGE_ID"]},
                {"DOCUMENT_NUMBER", key_by_type["DOCUMENT_NUMBER"]}}));
  for (const char* personal : {"PERSON_NAME", "BADGE_ID", "DOCUMENT_NUMBER"}) {
    EXPECT_TRUE(absl::StartsWith(key_by_type[personal], "ps:")) << personal;
  }
  // Nowhere in org-b's audit chain is a personal value in clear, though
  // its own item holds them all.
  auto recorded = f.AuditWhere("org-b", [](const v1::AuditRecord& r) {
    return r.type() == v1::HIT_RECORDED;
  });
  EXPECT_EQ(recorded.size(), 9u);
  for (const v1::AuditRecord& r : f.Audit("org-b")) {
    const std::string text = r.DebugString();
    for (const char* clear : {"Jan de Vries", "RTM-48213", "NW8812345"}) {
      EXPECT_THAT(text, ::testing::Not(HasSubstr(clear))) << text;
    }
  }
}

}  // namespace
}  // namespace havengate::testing
