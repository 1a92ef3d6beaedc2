// Re-sharing, updates, withdrawals and retractions across real gateways.
// - Two hops: Antwerp (police-be) → Rotterdam police (police-nl, deploy
//   policy, rule forward-antwerp-rip-offs-to-customs) → customs-nl. What
//   customs holds is police-nl's projection of what police-be sent, with a
//   provenance of two hops; items marked no_reshare, with a reshare_to
//   that does not list customs, AMBER without reshare_to, or TLP:RED are
//   not forwarded (each decision on record with the originator's reason).
//   Updates (a changed field, a field police-nl's new policy no longer
//   forwards), a version no longer forwarded, and retractions (client
//   Retract and `havenctl items retract`) reach the second hop.
// - Updates at direct partners (police-nl's deploy policy): a new version
//   supersedes the old everywhere and is decided again under the policy
//   then active; a partner no longer sent a version is told
//   (NO_LONGER_SHARED) and stops showing it, until a later version is
//   shared with it again.
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/federation_fixture.h"
#include "tests/testing/harness.h"

namespace havengate::testing {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// `text` with `from` replaced by `to`; fails the test if `from` is absent.
std::string Edit(const std::string& text, const std::string& from,
                 const std::string& to) {
  EXPECT_TRUE(absl::StrContains(text, from)) << "not in the policy: " << from;
  return absl::StrReplaceAll(text, {{from, to}});
}

// Waits until `id`'s gateway activated policy `version` (read from disk).
void AwaitPolicy(Federation& f, const std::string& id, const std::string& version) {
  auto activated = f.AwaitAudit(id, [&](const v1::AuditRecord& r) {
    return r.type() == v1::POLICY_ACTIVATED && r.policy_version() == version;
  });
  ASSERT_TRUE(activated.ok()) << activated.status();
}

// --- Two hops ----------------------------------------------------------------

// Antwerp sends Rotterdam every alert of medium severity or more (RED
// included) and customs only reports, so that Antwerp's alerts reach
// customs only through Rotterdam.
constexpr char kAntwerpPolicy[] = R"yaml(
organisation: police-be
version: "reshare-1"
partners:
  - {id: police-nl, name: Dutch police, kind: POLICE, country: NL}
  - {id: customs-nl, name: Dutch Customs, kind: CUSTOMS, country: NL}
rules:
  - name: alerts-to-rotterdam
    to: [police-nl]
    kinds: [ALERT]
    when: severity >= MEDIUM
    allow_restricted: [RED]
    share: ["*"]
    withhold: [persons.document_number]
  - name: report-titles-to-customs
    to: [customs-nl]
    kinds: [REPORT]
    share: [title]
inbound:
  accept:
    - from: [police-nl, customs-nl]
)yaml";

constexpr char kForwardRule[] =
    "    forward_received: true\n"
    "    when: origin == \"police-be\" && category == RIP_OFF\n";
constexpr char kForwardShare[] =
    "    share: [category, severity, title, observed_at, location, containers, vessels]\n";

class FederationReshareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* id : {"police-be", "police-nl", "customs-nl", "port-rtm", "police-ec"}) {
      ASSERT_TRUE(f_.AddOrg(id).ok());
    }
    ASSERT_TRUE(f_.WritePolicy("police-be", kAntwerpPolicy).ok());
    // police-nl's deploy policy, its forward rule also allowing RED (so
    // that only the originator's TLP keeps a RED item from customs) and
    // sharing the reporter: its contact is withheld by
    // `informants-never-leave`, which has no forward_received — a
    // protection applies to received items all the same.
    deploy_text_ = ReadFile(absl::StrCat(SourceDir(), "/deploy/policies/police-nl/policy.yaml"));
    ASSERT_TRUE(f_.WritePolicy(
        "police-nl",
        Edit(Edit(deploy_text_, kForwardRule,
                  absl::StrCat(kForwardRule, "    allow_restricted: [RED]\n")),
             kForwardShare,
             "    share: [category, severity, title, observed_at, location, containers, "
             "vessels, reporter]\n")).ok());
    ASSERT_TRUE(f_.InstallDeployPolicy("customs-nl").ok());
    for (const char* id : {"police-be", "police-nl", "customs-nl"}) {
      auto policy = f_.LoadPolicy(id);
      ASSERT_TRUE(policy.ok()) << policy.status();
      // port-rtm and police-ec are configured where named, not running.
      absl::Status started = f_.Start(id, (*policy)->partners());
      ASSERT_TRUE(started.ok()) << started;
    }
  }

  // Antwerp's rip-off sample as its client pushes it.
  v1::Item RipOff(const std::string& item_id) {
    auto item = LoadSample("rip_off_antwerp_received.json");
    EXPECT_TRUE(item.ok()) << item.status();
    item->set_item_id(item_id);
    item->clear_provenance();
    item->clear_origin();
    return *item;
  }

  // The SHARE_DECIDED record of police-nl about `item_id` for customs.
  std::vector<v1::AuditRecord> DecidedForCustoms(const std::string& item_id) {
    return f_.AuditWhere("police-nl", [&](const v1::AuditRecord& r) {
      return r.type() == v1::SHARE_DECIDED && r.partner() == "customs-nl" &&
             r.item().item_id() == item_id;
    });
  }

  Federation f_;
  std::string deploy_text_;
};

TEST_F(FederationReshareTest, ForwardedOverTwoHopsWithinTheOriginatorsConstraints) {
  v1::Item forwarded_item = RipOff("rs-fwd");
  forwarded_item.mutable_alert()->mutable_reporter()->set_contact("+32 3 555 0142");
  ASSERT_TRUE(f_.Push("police-be", forwarded_item).ok());
  v1::Item no_reshare = RipOff("rs-no-reshare");
  no_reshare.mutable_classification()->set_no_reshare(true);
  v1::Item elsewhere = RipOff("rs-reshare-to-port");
  elsewhere.mutable_classification()->clear_reshare_to();
  elsewhere.mutable_classification()->add_reshare_to("port-rtm");
  v1::Item unlisted = RipOff("rs-amber-unlisted");
  unlisted.mutable_classification()->clear_reshare_to();
  v1::Item red = RipOff("rs-red");
  red.mutable_classification()->set_tlp(v1::Classification::RED);
  for (const v1::Item& item : {no_reshare, elsewhere, unlisted, red}) {
    ASSERT_TRUE(f_.Push("police-be", item).ok()) << item.item_id();
  }
  // Forwarded like the first; its arrival at customs means police-nl has
  // decided (and sent) everything before it.
  ASSERT_TRUE(f_.Push("police-be", RipOff("rs-marker")).ok());

  // Police: every one of them, straight from Antwerp.
  for (const char* id : {"rs-fwd", "rs-no-reshare", "rs-reshare-to-port",
                         "rs-amber-unlisted", "rs-red", "rs-marker"}) {
    auto at_police = f_.AwaitItem("police-nl", id);
    ASSERT_TRUE(at_police.ok()) << at_police.status();
    EXPECT_EQ(at_police->received_from(), "police-be");
    ASSERT_EQ(at_police->item().provenance_size(), 1) << id;
  }

  // Customs: the forwarded copy, two hops, police-nl's projection.
  auto fwd = f_.AwaitItem("customs-nl", "rs-fwd");
  ASSERT_TRUE(fwd.ok()) << fwd.status();
  EXPECT_EQ(fwd->received_from(), "police-nl");
  EXPECT_EQ(fwd->item().origin(), "police-be");
  ASSERT_EQ(fwd->item().provenance_size(), 2);
  const v1::ProvenanceHop& first = fwd->item().provenance(0);
  const v1::ProvenanceHop& second = fwd->item().provenance(1);
  EXPECT_EQ(first.organisation(), "police-be");
  EXPECT_EQ(first.released_to(), "police-nl");
  EXPECT_EQ(first.policy_version(), "reshare-1");
  EXPECT_EQ(first.gateway(), "spiffe://police.be.example/gateway");
  EXPECT_EQ(second.organisation(), "police-nl");
  EXPECT_EQ(second.released_to(), "customs-nl");
  EXPECT_EQ(second.policy_version(), "2026-11-28.1");
  EXPECT_EQ(second.gateway(), "spiffe://police.nl.example/gateway");
  const v1::Alert& alert = fwd->item().alert();
  EXPECT_EQ(alert.category(), v1::Alert::RIP_OFF);
  EXPECT_EQ(alert.severity(), v1::Alert::HIGH);
  EXPECT_THAT(alert.title(), HasSubstr("Rip-off team caught"));
  EXPECT_EQ(alert.location().unlocode(), "BEANR");
  ASSERT_EQ(alert.containers_size(), 2);
  EXPECT_EQ(alert.containers(0).number(), "MAEU9022158");
  EXPECT_EQ(alert.containers(1).seal_number(), "ML-EC 4471890");
  ASSERT_EQ(alert.vessels_size(), 1);
  EXPECT_EQ(alert.vessels(0).imo(), "IMO9258739");
  EXPECT_EQ(alert.persons_size(), 0) << "the forward rule releases no persons";
  EXPECT_EQ(alert.description(), "");
  // The reporter is forwarded, its contact is not: `informants-never-leave`
  // (no forward_received) still withholds it from a received item.
  EXPECT_EQ(alert.reporter().name(), "CP Antwerpen, havenrecherche");
  EXPECT_EQ(alert.reporter().contact(), "");
  EXPECT_THAT(fwd->item().classification().reshare_to(),
              ::testing::ElementsAre("customs-nl"));
  // Exactly what police-nl's policy releases from the copy it holds.
  auto police_policy = f_.LoadPolicy("police-nl");
  ASSERT_TRUE(police_policy.ok()) << police_policy.status();
  auto held = f_.AwaitItem("police-nl", "rs-fwd");
  ASSERT_TRUE(held.ok());
  policy::PartnerDecision expected =
      ExpectedRelease(**police_policy, held->item(), "customs-nl", true);
  ASSERT_TRUE(expected.released);
  EXPECT_EQ(DiffItems(expected.projected, fwd->item()), "");

  // Nothing else reached customs.
  ASSERT_TRUE(f_.AwaitItem("customs-nl", "rs-marker").ok());
  const std::vector<std::pair<std::string, std::string>> stopped = {
      {"rs-no-reshare", "no_reshare"},
      {"rs-reshare-to-port", "reshare_to does not list"},
      {"rs-amber-unlisted", "lists in reshare_to"},
      {"rs-red", "TLP:RED"},
  };
  for (const auto& [id, reason] : stopped) {
    EXPECT_TRUE(f_.Shown("customs-nl", id, true).empty()) << id;
    std::vector<v1::AuditRecord> decided = DecidedForCustoms(id);
    ASSERT_EQ(decided.size(), 1u) << id;
    EXPECT_FALSE(decided[0].released()) << id;
    EXPECT_THAT(decided[0].reason(), HasSubstr(reason)) << id;
    EXPECT_THAT(decided[0].matched_rules(),
                ::testing::Contains("forward-antwerp-rip-offs-to-customs")) << id;
  }
  std::vector<v1::AuditRecord> forwarded = DecidedForCustoms("rs-fwd");
  ASSERT_EQ(forwarded.size(), 1u);
  EXPECT_TRUE(forwarded[0].released());
  // The audit names the rule that protected the contact without releasing.
  EXPECT_THAT(forwarded[0].protecting_rules(),
              ::testing::Contains("informants-never-leave"));
  EXPECT_THAT(forwarded[0].matched_rules(),
              ::testing::ElementsAre("forward-antwerp-rip-offs-to-customs"));
  EXPECT_THAT(forwarded[0].withheld_fields(), ::testing::Contains("reporter.contact"));
  // And nothing went back to Antwerp, where it came from.
  EXPECT_TRUE(f_.AuditWhere("police-nl", [](const v1::AuditRecord& r) {
                return r.type() == v1::SHARE_DECIDED && r.partner() == "police-be" &&
                       r.released();
              }).empty());
}

TEST_F(FederationReshareTest, UpdatesWithdrawalsAndRetractionsReachTheSecondHop) {
  ASSERT_TRUE(f_.Push("police-be", RipOff("rs-upd")).ok());
  ASSERT_TRUE(f_.Push("police-be", RipOff("rs-ret-client")).ok());
  ASSERT_TRUE(f_.Push("police-be", RipOff("rs-ret-cli")).ok());
  ASSERT_TRUE(f_.Push("police-be", RipOff("rs-wd")).ok());
  for (const char* id : {"rs-upd", "rs-ret-client", "rs-ret-cli", "rs-wd"}) {
    ASSERT_TRUE(f_.AwaitItem("customs-nl", id).ok()) << id;
  }

  // police-nl stops forwarding observed_at (a new policy version).
  ASSERT_TRUE(f_.WritePolicy(
      "police-nl",
      Edit(Edit(Edit(deploy_text_, kForwardRule,
                     absl::StrCat(kForwardRule, "    allow_restricted: [RED]\n")),
                kForwardShare,
                "    share: [category, severity, title, location, containers, vessels]\n"),
           "version: \"2026-11-28.1\"", "version: \"2026-11-28.2\"")).ok());
  AwaitPolicy(f_, "police-nl", "2026-11-28.2");

  // Version 2: a changed title; decided again at police-nl.
  v1::Item v2 = RipOff("rs-upd");
  v2.set_version(2);
  v2.mutable_alert()->set_title("Rip-off team caught; second container found in Rotterdam");
  ASSERT_TRUE(f_.Push("police-be", v2).ok());
  auto customs_v2 = f_.AwaitItem("customs-nl", "rs-upd", 2);
  ASSERT_TRUE(customs_v2.ok()) << customs_v2.status();
  EXPECT_EQ(customs_v2->item().alert().title(),
            "Rip-off team caught; second container found in Rotterdam");
  EXPECT_FALSE(customs_v2->item().alert().has_observed_at())
      << "no longer forwarded under 2026-11-28.2";
  ASSERT_EQ(customs_v2->item().provenance_size(), 2);
  EXPECT_EQ(customs_v2->item().provenance(1).policy_version(), "2026-11-28.2");
  ASSERT_EQ(f_.Shown("customs-nl", "rs-upd").size(), 1u) << "v2 replaces v1";

  // Version 3 is a seizure: police-nl's forward rule no longer matches, so
  // customs is told it is no longer shared and stops showing it.
  v1::Item v3 = v2;
  v3.set_version(3);
  v3.mutable_alert()->set_category(v1::Alert::SEIZURE);
  ASSERT_TRUE(f_.Push("police-be", v3).ok());
  ASSERT_TRUE(f_.AwaitItem("police-nl", "rs-upd", 3).ok());
  ASSERT_TRUE(f_.AwaitGone("customs-nl", "rs-upd")) << f_.Logs();
  std::vector<v1::InboxEntry> withdrawn = f_.Shown("customs-nl", "rs-upd", true);
  ASSERT_EQ(withdrawn.size(), 1u);
  EXPECT_EQ(withdrawn[0].item().version(), 2u);
  EXPECT_EQ(withdrawn[0].retraction().kind(), v1::Retraction::NO_LONGER_SHARED);
  EXPECT_EQ(withdrawn[0].retraction().decided_by(), "police-nl");
  EXPECT_THAT(withdrawn[0].retraction().reason(), HasSubstr("version 3"));

  // Antwerp no longer shares version 2 of another item with Rotterdam (low
  // severity): Rotterdam is told, and tells customs in turn.
  v1::Item low = RipOff("rs-wd");
  low.set_version(2);
  low.mutable_alert()->set_severity(v1::Alert::LOW);
  ASSERT_TRUE(f_.Push("police-be", low).ok());
  ASSERT_TRUE(f_.AwaitGone("police-nl", "rs-wd")) << f_.Logs();
  ASSERT_TRUE(f_.AwaitGone("customs-nl", "rs-wd")) << f_.Logs();
  for (const char* org : {"police-nl", "customs-nl"}) {
    std::vector<v1::InboxEntry> entries = f_.Shown(org, "rs-wd", true);
    ASSERT_EQ(entries.size(), 1u) << org;
    EXPECT_EQ(entries[0].item().version(), 1u) << org;
    EXPECT_EQ(entries[0].retraction().kind(), v1::Retraction::NO_LONGER_SHARED) << org;
    EXPECT_EQ(entries[0].retraction().decided_by(),
              std::string(org) == "police-nl" ? "police-be" : "police-nl");
  }
  // Version 3 is serious again: shared again over both hops.
  v1::Item high = low;
  high.set_version(3);
  high.mutable_alert()->set_severity(v1::Alert::CRITICAL);
  ASSERT_TRUE(f_.Push("police-be", high).ok());
  auto shared_again = f_.AwaitItem("customs-nl", "rs-wd", 3);
  ASSERT_TRUE(shared_again.ok()) << shared_again.status();
  EXPECT_FALSE(shared_again->has_retraction());
  EXPECT_EQ(shared_again->item().provenance_size(), 2);

  // Retracted by Antwerp's client, and with havenctl: gone at both hops.
  auto retracted = f_.ClientOf("police-be").Retract("rs-ret-client", "the seal number was misread");
  ASSERT_TRUE(retracted.ok()) << retracted.status();
  const TestOrg& be = f_.org("police-be");
  CommandResult cli = RunCommand(
      {HavenctlBinary(), "items", "retract", "rs-ret-cli", "--reason",
       "duplicate of an earlier report", "--address",
       absl::StrCat("127.0.0.1:", f_.port("police-be")), "--cert", be.client_cert,
       "--key", be.client_key, "--ca", be.ca_file, "--gateway-id", be.gateway_id()});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  for (const char* org : {"police-nl", "customs-nl"}) {
    for (const std::string id : {"rs-ret-client", "rs-ret-cli"}) {
      ASSERT_TRUE(f_.AwaitGone(org, id)) << org << " still shows " << id;
      std::vector<v1::InboxEntry> entries = f_.Shown(org, id, true);
      ASSERT_EQ(entries.size(), 1u);
      EXPECT_EQ(entries[0].retraction().kind(), v1::Retraction::RETRACTED_BY_ORIGIN);
      EXPECT_EQ(entries[0].retraction().decided_by(), "police-be");
      EXPECT_EQ(entries[0].retraction().origin(), "police-be");
    }
  }
  auto recorded = f_.AwaitAudit("customs-nl", [](const v1::AuditRecord& r) {
    return r.type() == v1::ITEM_RETRACTED && r.item().item_id() == "rs-ret-cli";
  });
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  EXPECT_EQ(recorded->partner(), "police-nl");
  EXPECT_EQ(recorded->reason(), "duplicate of an earlier report");
  // A retracted item takes no new version, at the origin.
  v1::Item late = RipOff("rs-ret-client");
  late.set_version(2);
  EXPECT_EQ(f_.Push("police-be", late).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // A subscriber at customs replaying from the start sees each item's
  // history in order, and no event without an item.
  auto events = f_.Replay("customs-nl");
  ASSERT_TRUE(events.ok()) << events.status();
  std::map<std::string, std::vector<std::string>> history;
  for (const v1::InboxEvent& event : *events) {
    if (event.has_entry()) {
      history[event.entry().item().item_id()].push_back(
          absl::StrCat("v", event.entry().item().version()));
    } else {
      ASSERT_FALSE(event.retraction().item_id().empty()) << event.DebugString();
      EXPECT_EQ(event.retraction().origin(), "police-be");
      history[event.retraction().item_id()].push_back(
          v1::Retraction::Kind_Name(event.retraction().kind()));
    }
  }
  EXPECT_THAT(history["rs-upd"], ::testing::ElementsAre("v1", "v2", "NO_LONGER_SHARED"));
  EXPECT_THAT(history["rs-ret-client"], ::testing::ElementsAre("v1", "RETRACTED_BY_ORIGIN"));
  EXPECT_THAT(history["rs-ret-cli"], ::testing::ElementsAre("v1", "RETRACTED_BY_ORIGIN"));
  // The withdrawal was lifted by version 3: not replayed.
  EXPECT_THAT(history["rs-wd"], ::testing::ElementsAre("v1", "v3"));
}

// --- Updates at direct partners ---------------------------------------------

class FederationUpdateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* id : {"police-nl", "customs-nl", "port-rtm", "police-be", "police-ec"}) {
      ASSERT_TRUE(f_.AddOrg(id).ok());
    }
    for (const char* id : {"police-nl", "customs-nl", "port-rtm", "police-be"}) {
      auto path = f_.InstallDeployPolicy(id);
      ASSERT_TRUE(path.ok()) << path.status();
      auto policy = f_.LoadPolicy(id);
      ASSERT_TRUE(policy.ok()) << policy.status();
      absl::Status started = f_.Start(id, (*policy)->partners());
      ASSERT_TRUE(started.ok()) << started;
    }
  }

  Federation f_;
};

TEST_F(FederationUpdateTest, ANewVersionIsDecidedAgainEverywhereAndWithdrawnWhereNoLongerShared) {
  auto sample = LoadSample("pin_code_fraud_rtm.json");
  ASSERT_TRUE(sample.ok()) << sample.status();
  v1::Item v1 = *sample;
  const std::string id = v1.item_id();
  ASSERT_TRUE(f_.Push("police-nl", v1).ok());
  for (const char* partner : {"customs-nl", "port-rtm", "police-be"}) {
    ASSERT_TRUE(f_.AwaitItem(partner, id).ok()) << partner;
  }
  auto customs_v1 = f_.AwaitItem("customs-nl", id);
  ASSERT_EQ(customs_v1->item().alert().persons(0).date_of_birth(), "1991-04-17");

  // A new policy version: customs no longer gets dates of birth.
  const std::string deploy_text =
      ReadFile(absl::StrCat(SourceDir(), "/deploy/policies/police-nl/policy.yaml"));
  ASSERT_TRUE(f_.WritePolicy(
      "police-nl",
      Edit(Edit(deploy_text, "    withhold: [persons.document_number]\n",
                "    withhold: [persons.document_number, persons.date_of_birth]\n"),
           "version: \"2026-11-28.1\"", "version: \"2026-11-28.2\"")).ok());
  AwaitPolicy(f_, "police-nl", "2026-11-28.2");

  // Version 2, a changed title: every partner shows v2 only, decided under
  // the new policy.
  v1::Item v2 = v1;
  v2.set_version(2);
  v2.mutable_alert()->set_title("Release PINs used from a second terminal");
  ASSERT_TRUE(f_.Push("police-nl", v2).ok());
  auto policy = f_.LoadPolicy("police-nl");
  ASSERT_TRUE(policy.ok()) << policy.status();
  v1::Item stored_v2 = v2;
  stored_v2.set_origin("police-nl");
  for (const char* partner : {"customs-nl", "port-rtm", "police-be"}) {
    SCOPED_TRACE(partner);
    auto held = f_.AwaitItem(partner, id, 2);
    ASSERT_TRUE(held.ok()) << held.status();
    ASSERT_EQ(f_.Shown(partner, id).size(), 1u);
    EXPECT_EQ(held->item().provenance(0).policy_version(), "2026-11-28.2");
    policy::PartnerDecision expected = ExpectedRelease(**policy, stored_v2, partner, false);
    ASSERT_TRUE(expected.released);
    EXPECT_EQ(DiffItems(expected.projected, held->item()), "");
  }
  auto customs_v2 = f_.AwaitItem("customs-nl", id, 2);
  ASSERT_EQ(customs_v2->item().alert().persons_size(), 2);
  EXPECT_EQ(customs_v2->item().alert().persons(0).date_of_birth(), "")
      << "no longer released under 2026-11-28.2";
  EXPECT_EQ(customs_v2->item().alert().persons(0).name(), "Dennis van Oosterhout");
  EXPECT_EQ(customs_v2->item().alert().title(), "Release PINs used from a second terminal");

  // Version 3 is of low severity: it stays in the Netherlands, and Antwerp
  // is told to stop showing version 2.
  v1::Item v3 = v2;
  v3.set_version(3);
  v3.mutable_alert()->set_severity(v1::Alert::LOW);
  ASSERT_TRUE(f_.Push("police-nl", v3).ok());
  ASSERT_TRUE(f_.AwaitItem("customs-nl", id, 3).ok());
  ASSERT_TRUE(f_.AwaitItem("port-rtm", id, 3).ok());
  ASSERT_TRUE(f_.AwaitGone("police-be", id)) << f_.Logs();
  std::vector<v1::InboxEntry> at_antwerp = f_.Shown("police-be", id, true);
  ASSERT_EQ(at_antwerp.size(), 1u);
  EXPECT_EQ(at_antwerp[0].item().version(), 2u);
  EXPECT_EQ(at_antwerp[0].retraction().kind(), v1::Retraction::NO_LONGER_SHARED);
  EXPECT_EQ(at_antwerp[0].retraction().decided_by(), "police-nl");
  auto withdrawn = f_.AwaitAudit("police-nl", [&](const v1::AuditRecord& r) {
    return r.type() == v1::ITEM_DELIVERED && r.partner() == "police-be" &&
           r.item().item_id() == id && r.detail() == "retraction";
  });
  EXPECT_TRUE(withdrawn.ok()) << withdrawn.status();
  std::vector<v1::AuditRecord> decided = f_.AuditWhere("police-nl", [&](const v1::AuditRecord& r) {
    return r.type() == v1::SHARE_DECIDED && r.partner() == "police-be" &&
           r.item().item_id() == id && r.item().version() == 3;
  });
  ASSERT_EQ(decided.size(), 1u);
  EXPECT_FALSE(decided[0].released());

  // Version 4 is serious again: Antwerp shows it again.
  v1::Item v4 = v3;
  v4.set_version(4);
  v4.mutable_alert()->set_severity(v1::Alert::CRITICAL);
  ASSERT_TRUE(f_.Push("police-nl", v4).ok());
  auto again = f_.AwaitItem("police-be", id, 4);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->has_retraction());
  EXPECT_EQ(again->item().alert().severity(), v1::Alert::CRITICAL);
  // Every partner stored each version it was sent once.
  for (const char* partner : {"customs-nl", "port-rtm", "police-be"}) {
    ASSERT_TRUE(f_.AwaitItem(partner, id, 4).ok()) << partner;
    auto versions = f_.StoredVersions(partner);
    ASSERT_TRUE(versions.ok()) << versions.status();
    for (uint32_t v = 1; v <= 4; ++v) {
      const bool sent = !(std::string(partner) == "police-be" && v == 3);
      auto stored = versions->find({"police-nl", id, v});
      EXPECT_EQ(stored != versions->end() ? stored->second : 0, sent ? 1 : 0)
          << partner << " version " << v;
    }
  }
}

}  // namespace
}  // namespace havengate::testing
