// Federation end to end, topologies: real gateway processes, each with its
// own CA, exchanging items over mutual TLS.
// - Five gateways (Dutch police, Dutch customs, the Port of Rotterdam,
//   Belgian police, Ecuadorian police) with their deploy policies: what
//   each partner received from the Rotterdam police, field by field.
// - Four gateways (the issue's four organisations; the Ecuadorian gateway
//   is a configured peer that is not running) with their deploy policies:
//   every sample item of every policy test in deploy/policies/<org>/
//   policy_tests.yaml, pushed by its organisation; each partner holds
//   exactly the projection the sender's policy releases (and what the
//   policy test expects), partners that may not have an item hold nothing,
//   and nothing is refused anywhere.
// - Three gateways with small policies written here: explicit field values,
//   and an item the receiver's inbound rules refuse.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/policy_tests.h"
#include "tests/e2e/federation_fixture.h"
#include "tests/testing/harness.h"

namespace havengate::testing {
namespace {

using ::testing::HasSubstr;

// --- Five gateways, deploy policies ----------------------------------------

class FiveGatewayTest : public ::testing::Test {
 protected:
  // Organisation id → its partners (as its deploy policy names them).
  const std::map<std::string, std::vector<std::string>> kTopology = {
      {"police-nl", {"customs-nl", "port-rtm", "police-be", "police-ec"}},
      {"customs-nl", {"police-nl", "port-rtm", "police-be"}},
      {"port-rtm", {"police-nl", "customs-nl"}},
      {"police-be", {"police-nl", "customs-nl"}},
      {"police-ec", {"police-nl"}},
  };

  void SetUp() override {
    for (const auto& [id, partners] : kTopology) {
      ASSERT_TRUE(f_.AddOrg(id).ok());
    }
    for (const auto& [id, partners] : kTopology) {
      auto policy = f_.InstallDeployPolicy(id);
      ASSERT_TRUE(policy.ok()) << policy.status();
      absl::Status started = f_.Start(id, partners);
      ASSERT_TRUE(started.ok()) << started;
    }
  }

  Federation f_;
};

TEST_F(FiveGatewayTest, EachPartnerReceivesExactlyWhatThePolicyReleases) {
  auto item = LoadSample("pin_code_fraud_rtm.json");
  ASSERT_TRUE(item.ok()) << item.status();
  auto receipt = f_.Push("police-nl", *item);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  const std::string id = item->item_id();

  // Customs (HARC): everything but identity documents and the source.
  auto customs = f_.AwaitItem("customs-nl", id);
  ASSERT_TRUE(customs.ok()) << customs.status();
  const v1::Alert& c = customs->item().alert();
  EXPECT_EQ(customs->received_from(), "police-nl");
  EXPECT_EQ(customs->item().origin(), "police-nl");
  EXPECT_EQ(c.description(), item->alert().description());
  ASSERT_EQ(c.persons_size(), 2);
  EXPECT_EQ(c.persons(0).name(), "Dennis van Oosterhout");
  EXPECT_EQ(c.persons(0).date_of_birth(), "1991-04-17");
  EXPECT_EQ(c.persons(0).document_number(), "") << "documents never leave";
  EXPECT_FALSE(c.has_source()) << "the informant never leaves";
  ASSERT_EQ(c.containers_size(), 2);
  EXPECT_EQ(c.containers(0).consignee(), "Fruitimport Westland B.V.");
  // Provenance: one hop, police-nl → customs-nl, under the policy version.
  ASSERT_EQ(customs->item().provenance_size(), 1);
  EXPECT_EQ(customs->item().provenance(0).organisation(), "police-nl");
  EXPECT_EQ(customs->item().provenance(0).released_to(), "customs-nl");
  EXPECT_EQ(customs->item().provenance(0).policy_version(), "2026-11-28.1");
  EXPECT_EQ(customs->item().provenance(0).gateway(),
            "spiffe://police.nl.example/gateway");

  // Port security desk: identifiers and badges, no suspects.
  auto port = f_.AwaitItem("port-rtm", id);
  ASSERT_TRUE(port.ok()) << port.status();
  const v1::Alert& p = port->item().alert();
  ASSERT_EQ(p.containers_size(), 2);
  EXPECT_EQ(p.containers(0).number(), "MSCU4812360");
  EXPECT_EQ(p.containers(0).consignee(), "");
  EXPECT_EQ(p.containers(0).bill_of_lading(), "");
  EXPECT_EQ(p.description(), "");
  EXPECT_EQ(p.vessels_size(), 0);
  bool badge_seen = false;
  for (const v1::Person& person : p.persons()) {
    EXPECT_EQ(person.name(), "");
    EXPECT_EQ(person.date_of_birth(), "");
    EXPECT_EQ(person.document_number(), "");
    if (person.badge_id() == "ECT-77120") badge_seen = true;
  }
  EXPECT_TRUE(badge_seen);
  EXPECT_EQ(p.location().position().latitude(), 51.951);

  // Antwerp: pseudonymised names, time truncated to the hour.
  auto antwerp = f_.AwaitItem("police-be", id);
  ASSERT_TRUE(antwerp.ok()) << antwerp.status();
  const v1::Alert& b = antwerp->item().alert();
  ASSERT_EQ(b.persons_size(), 2);
  EXPECT_THAT(b.persons(0).name(), ::testing::MatchesRegex("ps:[0-9a-f]{32}"));
  EXPECT_EQ(b.containers(0).consignee(), "");
  EXPECT_FALSE(b.location().has_position());
  EXPECT_EQ(b.observed_at().seconds() % 3600, 0);

  // Guayaquil: container and vessel identifiers only.
  auto guayaquil = f_.AwaitItem("police-ec", id);
  ASSERT_TRUE(guayaquil.ok()) << guayaquil.status();
  const v1::Alert& e = guayaquil->item().alert();
  EXPECT_EQ(e.title(), "");
  EXPECT_EQ(e.severity(), v1::Alert::SEVERITY_UNSPECIFIED);
  ASSERT_EQ(e.vessels_size(), 1);
  EXPECT_EQ(e.vessels(0).imo(), "IMO9482316");
  EXPECT_FALSE(e.has_location());
}

// --- Four gateways, deploy policies, every policy test ----------------------

// Items the test pushes to flush a sender's outbox towards one partner:
// candidates in turn until one the sender's policy releases to the partner
// and the partner's inbound rules accept.
absl::StatusOr<v1::Item> MarkerFor(const policy::CompiledPolicy& sender,
                                   const policy::CompiledPolicy& partner,
                                   const std::string& item_id) {
  const std::vector<std::pair<std::string, v1::Alert::Category>> candidates = {
      {"NLRTM", v1::Alert::PIN_CODE_FRAUD},
      {"BEANR", v1::Alert::RIP_OFF},
      {"NLRTM", v1::Alert::SUSPICIOUS_CONTAINER},
      {"NLRTM", v1::Alert::UNAUTHORISED_ACCESS},
  };
  for (const auto& [unlocode, category] : candidates) {
    v1::Item item = MakeAlertAt(item_id, unlocode, category);
    item.set_origin(sender.organisation());
    item.set_version(1);
    policy::PartnerDecision d =
        ExpectedRelease(sender, item, partner.organisation(), false);
    if (d.released && partner.AcceptInbound(sender.organisation(), item).ok()) {
      return item;
    }
  }
  return absl::NotFoundError(absl::StrCat("no marker item goes from ",
                                          sender.organisation(), " to ",
                                          partner.organisation()));
}

bool PassedThrough(const v1::Item& item, const std::string& organisation) {
  for (const v1::ProvenanceHop& hop : item.provenance()) {
    if (hop.organisation() == organisation) return true;
  }
  return false;
}

class FourGatewayTest : public ::testing::Test {
 protected:
  const std::vector<std::string> kRunning = {"police-nl", "customs-nl",
                                             "port-rtm", "police-be"};

  void SetUp() override {
    for (const std::string& id : kRunning) ASSERT_TRUE(f_.AddOrg(id).ok());
    // Named by police-nl's policy, so configured as its peer, but not
    // running: what police-nl releases to it stays queued.
    ASSERT_TRUE(f_.AddOrg("police-ec").ok());
    for (const std::string& id : kRunning) {
      auto path = f_.InstallDeployPolicy(id);
      ASSERT_TRUE(path.ok()) << path.status();
      auto policy = f_.LoadPolicy(id);
      ASSERT_TRUE(policy.ok()) << policy.status();
      policies_[id] = *policy;
    }
    for (const std::string& id : kRunning) {
      absl::Status started = f_.Start(id, policies_[id]->partners());
      ASSERT_TRUE(started.ok()) << started;
    }
  }

  bool Running(const std::string& id) const {
    return std::find(kRunning.begin(), kRunning.end(), id) != kRunning.end();
  }

  // Pushes, from every running organisation, an item released to each of
  // its running partners, and waits until each partner acknowledged it to
  // the sender (ITEM_DELIVERED): then every item the sender queued for
  // that partner before has been settled.
  void Flush(const std::string& round) {
    std::vector<std::tuple<std::string, std::string, std::string>> waits;
    for (const std::string& sender : kRunning) {
      for (const std::string& partner : policies_[sender]->partners()) {
        if (!Running(partner)) continue;
        std::string id = absl::StrCat("marker-", round, "-", sender, "-", partner);
        auto marker = MarkerFor(*policies_[sender], *policies_[partner], id);
        ASSERT_TRUE(marker.ok()) << marker.status();
        auto receipt = f_.Push(sender, *marker);
        ASSERT_TRUE(receipt.ok()) << receipt.status();
        waits.emplace_back(sender, partner, id);
      }
    }
    for (const auto& [sender, partner, id] : waits) {
      auto delivered = f_.AwaitAudit(sender, [&](const v1::AuditRecord& r) {
        return r.type() == v1::ITEM_DELIVERED && r.partner() == partner &&
               r.item().item_id() == id;
      });
      ASSERT_TRUE(delivered.ok()) << sender << " -> " << partner << ": "
                                  << delivered.status();
    }
  }

  Federation f_;
  std::map<std::string, std::shared_ptr<const policy::CompiledPolicy>> policies_;
};

// One pushed policy-test item.
struct Pushed {
  std::string sender;
  std::string test_name;
  std::string where;
  v1::Item item;  // as the sender stored it
  std::vector<policy::PartnerExpectation> expect;
};

const policy::PartnerExpectation* ExpectationFor(const Pushed& pushed,
                                                 const std::string& partner) {
  const policy::PartnerExpectation* any = nullptr;
  for (const policy::PartnerExpectation& e : pushed.expect) {
    if (e.partner == partner) return &e;
    if (e.partner == "*") any = &e;
  }
  return any;
}

TEST_F(FourGatewayTest, EveryPartnerHoldsWhatTheSendersPolicyAndPolicyTestsSay) {
  // Every policy test of an organisation's own items, pushed by it.
  std::vector<Pushed> pushed;
  for (const std::string& sender : kRunning) {
    std::vector<policy::Diagnostic> diagnostics;
    auto suite = policy::LoadPolicyTestsFile(
        absl::StrCat(SourceDir(), "/deploy/policies/", sender, "/policy_tests.yaml"),
        &diagnostics);
    ASSERT_TRUE(suite.ok()) << suite.status();
    int n = 0;
    for (const policy::PolicyTestCase& test : suite->tests) {
      ++n;
      if (test.received_from_partner) continue;  // forwarding: see below
      Pushed p;
      p.sender = sender;
      p.test_name = test.name;
      p.where = test.where;
      p.expect = test.expect;
      p.item = test.item;
      p.item.set_item_id(absl::StrCat("t-", sender, "-", n));
      p.item.set_origin(sender);
      p.item.clear_provenance();
      if (p.item.version() == 0) p.item.set_version(1);
      auto receipt = f_.Push(sender, p.item);
      ASSERT_TRUE(receipt.ok()) << test.where << ": " << receipt.status();
      ASSERT_FALSE(receipt->duplicate());
      pushed.push_back(std::move(p));
    }
  }
  ASSERT_GE(pushed.size(), 20u);

  // Round 1 settles every direct delivery (and so every relay has stored
  // what it received and queued what it forwards); round 2 settles the
  // forwards.
  Flush("1");
  if (HasFatalFailure()) return;
  Flush("2");
  if (HasFatalFailure()) return;

  int checked_released = 0, checked_absent = 0, relayed = 0;
  for (const Pushed& p : pushed) {
    for (const std::string& partner : policies_[p.sender]->partners()) {
      if (!Running(partner)) continue;
      SCOPED_TRACE(absl::StrCat(p.where, " (", p.test_name, "): ", p.sender,
                                " -> ", partner, ", item ", p.item.item_id()));
      policy::PartnerDecision direct =
          ExpectedRelease(*policies_[p.sender], p.item, partner, false);
      const bool accepted =
          policies_[partner]->AcceptInbound(p.sender, p.item).ok();
      // The deploy policies agree: what one releases, the other accepts.
      if (direct.released) {
        EXPECT_TRUE(accepted) << "released but refused by the partner's inbound rules";
      }
      // The policy test and the engine agree on who receives it.
      if (const policy::PartnerExpectation* e = ExpectationFor(p, partner);
          e != nullptr && e->receives.has_value()) {
        EXPECT_EQ(*e->receives, direct.released);
      }
      // Relays: running organisations that hold the item (as they show
      // it) and whose policy forwards it to `partner`.
      std::map<std::string, policy::PartnerDecision> via;
      for (const std::string& relay : kRunning) {
        if (relay == p.sender || relay == partner) continue;
        const auto& relay_partners = policies_[relay]->partners();
        if (std::find(relay_partners.begin(), relay_partners.end(), partner) ==
            relay_partners.end()) {
          continue;
        }
        std::vector<v1::InboxEntry> at_relay = f_.Shown(relay, p.item.item_id());
        if (at_relay.empty()) continue;
        const v1::Item& held = at_relay.front().item();
        if (PassedThrough(held, partner)) continue;
        policy::PartnerDecision forwarded =
            ExpectedRelease(*policies_[relay], held, partner, true);
        if (forwarded.released &&
            policies_[partner]->AcceptInbound(relay, held).ok()) {
          via[relay] = std::move(forwarded);
        }
      }

      std::vector<v1::InboxEntry> shown = f_.Shown(partner, p.item.item_id());
      if (!(direct.released && accepted) && via.empty()) {
        EXPECT_TRUE(shown.empty()) << "holds an item it may not have:\n"
                                   << shown.front().DebugString();
        ++checked_absent;
        continue;
      }
      ASSERT_EQ(shown.size(), 1u) << "never received (or received twice)";
      const v1::InboxEntry& entry = shown.front();
      EXPECT_EQ(entry.item().origin(), p.sender);
      const std::string& from = entry.received_from();
      const policy::PartnerDecision* expected = nullptr;
      if (from == p.sender) {
        ASSERT_TRUE(direct.released) << "sent directly although not released";
        expected = &direct;
      } else {
        ASSERT_EQ(via.count(from), 1u) << "received from " << from
                                       << ", which may not forward it here";
        expected = &via[from];
        ++relayed;
      }
      EXPECT_EQ(DiffItems(expected->projected, entry.item()), "");
      ASSERT_GE(entry.item().provenance_size(), 1);
      const v1::ProvenanceHop& hop =
          entry.item().provenance(entry.item().provenance_size() - 1);
      EXPECT_EQ(hop.organisation(), from);
      EXPECT_EQ(hop.released_to(), partner);
      EXPECT_EQ(hop.policy_version(), policies_[from]->version());
      EXPECT_EQ(hop.gateway(), absl::StrCat("spiffe://", DemoDomain(from), "/gateway"));
      // The policy test's expectations about this partner, checked against
      // what the partner actually holds (if the sender sent it).
      if (const policy::PartnerExpectation* e = ExpectationFor(p, partner);
          e != nullptr && from == p.sender) {
        policy::PartnerDecision held;
        held.partner = partner;
        held.released = true;
        held.projected = entry.item();
        // The items were renamed (one sample serves several tests).
        policy::PartnerExpectation renamed = *e;
        for (auto& [path, values] : renamed.values) {
          if (path == "item_id") values.values = {p.item.item_id()};
        }
        for (const std::string& failure : policy::CheckExpectation(held, renamed)) {
          ADD_FAILURE() << e->where << ": " << failure;
        }
      }
      ++checked_released;
    }
  }
  EXPECT_GE(checked_released, 35);
  EXPECT_GE(checked_absent, 18);
  // Antwerp's rip-off reaches customs both from Antwerp and through
  // Rotterdam (police-nl forwards it; Antwerp's reshare_to allows it).
  auto ripoff = std::find_if(pushed.begin(), pushed.end(), [](const Pushed& p) {
    return p.sender == "police-be" && p.item.has_alert() &&
           p.item.alert().category() == v1::Alert::RIP_OFF &&
           p.item.alert().location().unlocode() == "BEANR";
  });
  ASSERT_NE(ripoff, pushed.end());
  auto forwarded = f_.AwaitAudit("police-nl", [&](const v1::AuditRecord& r) {
    return r.type() == v1::ITEM_DELIVERED && r.partner() == "customs-nl" &&
           r.item().item_id() == ripoff->item.item_id();
  });
  EXPECT_TRUE(forwarded.ok()) << forwarded.status();
  auto direct = f_.AwaitAudit("police-be", [&](const v1::AuditRecord& r) {
    return r.type() == v1::ITEM_DELIVERED && r.partner() == "customs-nl" &&
           r.item().item_id() == ripoff->item.item_id();
  });
  EXPECT_TRUE(direct.ok()) << direct.status();
  // Customs holds the copy that came first and records the other one.
  auto second_copy = f_.AwaitAudit("customs-nl", [&](const v1::AuditRecord& r) {
    return r.type() == v1::ITEM_RECEIVED &&
           r.item().item_id() == ripoff->item.item_id() &&
           absl::StrContains(r.detail(), "already held");
  });
  ASSERT_TRUE(second_copy.ok()) << second_copy.status();
  std::vector<v1::InboxEntry> at_customs =
      f_.Shown("customs-nl", ripoff->item.item_id());
  ASSERT_EQ(at_customs.size(), 1u);
  EXPECT_NE(second_copy->partner(), at_customs[0].received_from());
  EXPECT_THAT(second_copy->detail(), HasSubstr(at_customs[0].received_from()));
  // Antwerp retracts it: the retraction reaches customs over both paths
  // too, and customs shows it no more.
  auto retracted = f_.ClientOf("police-be").Retract(ripoff->item.item_id(), "wrong seal series");
  ASSERT_TRUE(retracted.ok()) << retracted.status();
  for (const char* id : {"police-nl", "customs-nl"}) {
    EXPECT_TRUE(f_.AwaitGone(id, ripoff->item.item_id())) << id;
  }
  for (const auto& [sender, partner] :
       std::vector<std::pair<std::string, std::string>>{{"police-be", "customs-nl"},
                                                        {"police-nl", "customs-nl"}}) {
    auto settled = f_.AwaitAudit(sender, [&](const v1::AuditRecord& r) {
      return (r.type() == v1::ITEM_DELIVERED || r.type() == v1::DELIVERY_REFUSED) &&
             r.partner() == partner && r.detail() == "retraction" &&
             r.item().item_id() == ripoff->item.item_id();
    });
    EXPECT_TRUE(settled.ok()) << sender << ": " << settled.status();
  }

  // Nothing was refused: the deploy policies' inbound rules accept what
  // their partners release, and a second copy of a version (through
  // another gateway) is a duplicate, not a conflict.
  for (const std::string& id : kRunning) {
    for (const v1::AuditRecord& r : f_.Audit(id)) {
      EXPECT_NE(r.type(), v1::RECEIPT_REFUSED) << id << ": " << r.DebugString();
      EXPECT_NE(r.type(), v1::DELIVERY_REFUSED) << id << ": " << r.DebugString();
    }
  }
}

// --- Three gateways, policies written here ----------------------------------

constexpr char kPoliceNlPolicy[] = R"yaml(
organisation: police-nl
version: "three-1"
partners:
  - {id: customs-nl, name: Dutch Customs, kind: CUSTOMS, country: NL}
  - {id: port-rtm, name: Port of Rotterdam, kind: PORT_OPERATOR, country: NL}
keys:
  - {name: k, file: keys/k.key}
rules:
  - name: alerts-to-customs
    to: [customs-nl]
    kinds: [ALERT]
    share: ["*"]
    withhold: [persons.document_number, source]
    transform:
      persons.name: {pseudonymise: {key: k}}
  - name: rotterdam-alerts-to-port
    to: [port-rtm]
    kinds: [ALERT]
    when: location.unlocode == "NLRTM"
    share: [category, severity, title, containers.number, persons.badge_id]
    transform:
      title: {replace: {with: "Hold at terminal"}}
inbound:
  accept:
    - from: [customs-nl]
    - from: [port-rtm]
      kinds: [ALERT]
)yaml";

constexpr char kCustomsPolicy[] = R"yaml(
organisation: customs-nl
version: "three-1"
partners:
  - {id: police-nl, name: Dutch police, kind: POLICE, country: NL}
  - {id: port-rtm, name: Port of Rotterdam, kind: PORT_OPERATOR, country: NL}
rules:
  - name: container-hits-to-police
    to: [police-nl]
    kinds: [ALERT]
    when: category == SUSPICIOUS_CONTAINER
    share: ["*"]
    withhold: [containers.consignee]
inbound:
  accept:
    - from: [police-nl]
      kinds: [ALERT]
)yaml";

constexpr char kPortPolicy[] = R"yaml(
organisation: port-rtm
version: "three-1"
partners:
  - {id: police-nl, name: Dutch police, kind: POLICE, country: NL}
  - {id: customs-nl, name: Dutch Customs, kind: CUSTOMS, country: NL}
rules:
  - name: badges-to-police
    to: [police-nl]
    kinds: [ALERT]
    when: category == UNAUTHORISED_ACCESS
    share: [category, severity, title, persons]
    transform:
      persons.badge_id: {mask: {keep_last: 3}}
inbound:
  accept:
    - from: [police-nl]
      kinds: [ALERT]
      categories: [PIN_CODE_FRAUD, UNAUTHORISED_ACCESS]
)yaml";

class ThreeGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::map<std::string, std::string> policies = {
        {"police-nl", kPoliceNlPolicy},
        {"customs-nl", kCustomsPolicy},
        {"port-rtm", kPortPolicy}};
    for (const auto& [id, text] : policies) ASSERT_TRUE(f_.AddOrg(id).ok());
    for (const auto& [id, text] : policies) {
      auto path = f_.WritePolicy(id, text);
      ASSERT_TRUE(path.ok()) << path.status();
      std::vector<std::string> peers;
      for (const auto& [peer, unused] : policies) {
        if (peer != id) peers.push_back(peer);
      }
      absl::Status started = f_.Start(id, peers);
      ASSERT_TRUE(started.ok()) << started;
    }
  }

  Federation f_;
};

TEST_F(ThreeGatewayTest, FieldsAsReleasedAndNothingForPartnersWithoutARule) {
  // A: a PIN fraud in Rotterdam with a suspect's document and a source.
  v1::Item a = MakeAlertAt("three-a", "NLRTM");
  a.mutable_alert()->set_description("Release PIN used from an unknown terminal");
  a.mutable_alert()->mutable_persons(0)->set_document_number("NX1234567");
  a.mutable_alert()->mutable_persons(0)->set_date_of_birth("1990-01-02");
  a.mutable_alert()->mutable_source()->set_reference("CI-RTM-0001");
  // B: the same in Antwerp: the port desk gets nothing.
  v1::Item b = MakeAlertAt("three-b", "BEANR");
  // D: a customs container hit with a consignee.
  v1::Item d = MakeAlertAt("three-d", "NLRTM", v1::Alert::SUSPICIOUS_CONTAINER);
  d.mutable_alert()->mutable_containers(0)->set_consignee("Trading B.V.");
  d.mutable_alert()->mutable_containers(0)->set_seal_number("SEAL-1");
  // E: a badge used out of hours at the port.
  v1::Item e = MakeAlertAt("three-e", "NLRTM", v1::Alert::UNAUTHORISED_ACCESS);
  ASSERT_TRUE(f_.Push("police-nl", a).ok());
  ASSERT_TRUE(f_.Push("police-nl", b).ok());
  ASSERT_TRUE(f_.Push("customs-nl", d).ok());
  ASSERT_TRUE(f_.Push("port-rtm", e).ok());

  // Customs: all of A but the document and the source, name pseudonymised.
  auto customs_a = f_.AwaitItem("customs-nl", "three-a");
  ASSERT_TRUE(customs_a.ok()) << customs_a.status();
  const v1::Alert& ca = customs_a->item().alert();
  EXPECT_EQ(ca.title(), "Stolen release PIN used");
  EXPECT_EQ(ca.description(), "Release PIN used from an unknown terminal");
  EXPECT_EQ(ca.severity(), v1::Alert::HIGH);
  EXPECT_EQ(ca.location().terminal(), "ECT Delta");
  ASSERT_EQ(ca.containers_size(), 1);
  EXPECT_EQ(ca.containers(0).number(), "CSQU3054383");
  EXPECT_EQ(ca.containers(0).port_of_loading(), "ECGYE");
  ASSERT_EQ(ca.persons_size(), 1);
  EXPECT_THAT(ca.persons(0).name(), ::testing::MatchesRegex("ps:[0-9a-f]{32}"));
  EXPECT_EQ(ca.persons(0).date_of_birth(), "1990-01-02");
  EXPECT_EQ(ca.persons(0).badge_id(), "RTM-48213");
  EXPECT_EQ(ca.persons(0).document_number(), "");
  EXPECT_FALSE(ca.has_source());
  EXPECT_EQ(customs_a->item().classification().tlp(), v1::Classification::AMBER);
  ASSERT_EQ(customs_a->item().provenance_size(), 1);
  EXPECT_EQ(customs_a->item().provenance(0).policy_version(), "three-1");
  auto customs_b = f_.AwaitItem("customs-nl", "three-b");
  ASSERT_TRUE(customs_b.ok()) << customs_b.status();
  EXPECT_EQ(customs_b->item().alert().location().unlocode(), "BEANR");

  // Port: A's category, severity, replaced title, container number and
  // badge; nothing else.
  auto port_a = f_.AwaitItem("port-rtm", "three-a");
  ASSERT_TRUE(port_a.ok()) << port_a.status();
  v1::Alert expected_port;
  expected_port.set_category(v1::Alert::PIN_CODE_FRAUD);
  expected_port.set_severity(v1::Alert::HIGH);
  expected_port.set_title("Hold at terminal");
  expected_port.add_containers()->set_number("CSQU3054383");
  expected_port.add_persons()->set_badge_id("RTM-48213");
  EXPECT_EQ(port_a->item().alert().DebugString(), expected_port.DebugString());
  EXPECT_EQ(port_a->item().item_id(), "three-a");
  EXPECT_EQ(port_a->item().origin(), "police-nl");

  // Police: D without the consignee; E with the badge masked.
  auto police_d = f_.AwaitItem("police-nl", "three-d");
  ASSERT_TRUE(police_d.ok()) << police_d.status();
  ASSERT_EQ(police_d->item().alert().containers_size(), 1);
  EXPECT_EQ(police_d->item().alert().containers(0).consignee(), "");
  EXPECT_EQ(police_d->item().alert().containers(0).seal_number(), "SEAL-1");
  EXPECT_EQ(police_d->received_from(), "customs-nl");
  auto police_e = f_.AwaitItem("police-nl", "three-e");
  ASSERT_TRUE(police_e.ok()) << police_e.status();
  const v1::Alert& pe = police_e->item().alert();
  EXPECT_EQ(pe.containers_size(), 0);
  EXPECT_FALSE(pe.has_location());
  ASSERT_EQ(pe.persons_size(), 1);
  EXPECT_EQ(pe.persons(0).name(), "Jan de Vries");
  EXPECT_EQ(pe.persons(0).badge_id(), "******213");

  // Absent: B at the port (rule does not match: checked after a later
  // item from police-nl reached the port), D at the port (customs has no
  // rule for it), E at customs.
  ASSERT_TRUE(f_.Push("police-nl", MakeAlertAt("three-marker", "NLRTM")).ok());
  ASSERT_TRUE(f_.AwaitItem("port-rtm", "three-marker").ok());
  EXPECT_TRUE(f_.Shown("port-rtm", "three-b").empty());
  EXPECT_TRUE(f_.Shown("port-rtm", "three-d").empty());
  EXPECT_TRUE(f_.Shown("customs-nl", "three-e").empty());
  // The decisions behind the absences are on record at the senders.
  auto b_decided = f_.AuditWhere("police-nl", [](const v1::AuditRecord& r) {
    return r.type() == v1::SHARE_DECIDED && r.item().item_id() == "three-b" &&
           r.partner() == "port-rtm";
  });
  ASSERT_EQ(b_decided.size(), 1u);
  EXPECT_FALSE(b_decided[0].released());
}

TEST_F(ThreeGatewayTest, AnItemTheReceiversInboundRulesRefuseIsRecordedAndNotShown) {
  // police-nl's rule sends every Rotterdam alert to the port desk, whose
  // inbound rules accept only PIN-code fraud and unauthorised access.
  v1::Item seizure = MakeAlertAt("three-seizure", "NLRTM", v1::Alert::SEIZURE);
  ASSERT_TRUE(f_.Push("police-nl", seizure).ok());
  ASSERT_TRUE(f_.Push("police-nl", MakeAlertAt("three-after", "NLRTM")).ok());

  auto refused = f_.AwaitAudit("port-rtm", [](const v1::AuditRecord& r) {
    return r.type() == v1::RECEIPT_REFUSED && r.item().item_id() == "three-seizure";
  });
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->partner(), "police-nl");
  EXPECT_EQ(refused->item().origin(), "police-nl");
  EXPECT_THAT(refused->reason(), HasSubstr("PERMISSION_DENIED"));
  EXPECT_THAT(refused->reason(), HasSubstr("SEIZURE"));
  auto delivery = f_.AwaitAudit("police-nl", [](const v1::AuditRecord& r) {
    return r.type() == v1::DELIVERY_REFUSED && r.item().item_id() == "three-seizure";
  });
  ASSERT_TRUE(delivery.ok()) << delivery.status();
  EXPECT_EQ(delivery->partner(), "port-rtm");
  EXPECT_THAT(delivery->reason(), HasSubstr("PERMISSION_DENIED"));

  // The next item on the same link still arrives; the refused one is not
  // shown (and not resent: it was settled, once).
  ASSERT_TRUE(f_.AwaitItem("port-rtm", "three-after").ok());
  EXPECT_TRUE(f_.Shown("port-rtm", "three-seizure", true).empty());
  auto versions = f_.StoredVersions("port-rtm");
  ASSERT_TRUE(versions.ok()) << versions.status();
  EXPECT_EQ(versions->count({"police-nl", "three-seizure", 1}), 0u);
  EXPECT_EQ(f_.AuditWhere("police-nl", [](const v1::AuditRecord& r) {
              return r.type() == v1::DELIVERY_REFUSED &&
                     r.item().item_id() == "three-seizure";
            }).size(), 1u);
  // Customs, whose rules accept it, has it.
  EXPECT_TRUE(f_.AwaitItem("customs-nl", "three-seizure").ok());
}

}  // namespace
}  // namespace havengate::testing
