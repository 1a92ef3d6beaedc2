// Federation end to end: five real gateway processes (Dutch police, Dutch
// customs, the Port of Rotterdam, Belgian police, Ecuadorian police), each
// with its own CA and its policy from deploy/policies, exchanging items over
// mutual TLS. Checks, field by field, what each partner received.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/harness.h"

namespace havengate::testing {
namespace {

using ::testing::HasSubstr;

class FederationTest : public ::testing::Test {
 protected:
  // Organisation id → its partners (as its deploy policy names them).
  const std::map<std::string, std::vector<std::string>> kTopology = {
      {"police-nl", {"customs-nl", "port-rtm", "police-be", "police-ec"}},
      {"customs-nl", {"police-nl", "port-rtm", "police-be"}},
      {"port-rtm", {"police-nl", "customs-nl"}},
      {"police-be", {"police-nl", "customs-nl"}},
      {"police-ec", {"police-nl"}},
  };
  const std::map<std::string, std::string> kDomains = {
      {"police-nl", "police.nl.example"},   {"customs-nl", "customs.nl.example"},
      {"port-rtm", "portofrotterdam.example"}, {"police-be", "police.be.example"},
      {"police-ec", "policia.ec.example"},
  };

  void SetUp() override {
    for (const auto& [id, domain] : kDomains) {
      auto org = CreateTestOrg(dir_.path(), id, domain);
      ASSERT_TRUE(org.ok()) << org.status();
      orgs_[id] = std::make_unique<TestOrg>(std::move(*org));
      ports_[id] = PickUnusedPort();
    }
    for (const auto& [id, partners] : kTopology) {
      GatewaySpec spec;
      spec.org = orgs_[id].get();
      spec.port = ports_[id];
      auto policy = InstallDeployPolicy(*spec.org);
      ASSERT_TRUE(policy.ok()) << policy.status();
      spec.policy_file = *policy;
      for (const std::string& partner : partners) {
        spec.peers.push_back({orgs_[partner].get(), ports_[partner]});
      }
      auto gateway = GatewayProcess::Start(spec);
      ASSERT_TRUE(gateway.ok()) << gateway.status();
      gateways_[id] = std::move(*gateway);
    }
  }

  client::Client& ClientOf(const std::string& id) {
    auto& client = clients_[id];
    if (client == nullptr) {
      auto connected = ConnectClient(*orgs_[id], gateways_[id]->port());
      EXPECT_TRUE(connected.ok()) << connected.status();
      client = std::move(*connected);
    }
    return *client;
  }

  // The inbox entries `id` holds for `item_id` (any origin).
  std::vector<v1::InboxEntry> Received(const std::string& id,
                                       const std::string& item_id) {
    v1::ListRequest request;
    request.mutable_filter()->set_item_id(item_id);
    auto page = ClientOf(id).List(request);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) return {};
    return {page->entries().begin(), page->entries().end()};
  }

  // Waits until `id` holds `item_id` and returns the entry.
  absl::StatusOr<v1::InboxEntry> AwaitItem(const std::string& id,
                                           const std::string& item_id,
                                           uint32_t version = 1) {
    v1::InboxEntry found;
    bool ok = WaitFor([&] {
      for (const v1::InboxEntry& entry : Received(id, item_id)) {
        if (entry.item().version() == version) {
          found = entry;
          return true;
        }
      }
      return false;
    }, absl::Seconds(20));
    if (!ok) {
      return absl::NotFoundError(absl::StrCat(id, " never received ", item_id,
                                              "; its log:\n",
                                              gateways_[id]->ReadLog()));
    }
    return found;
  }

  TempDir dir_;
  std::map<std::string, std::unique_ptr<TestOrg>> orgs_;
  std::map<std::string, int> ports_;
  std::map<std::string, std::unique_ptr<GatewayProcess>> gateways_;
  std::map<std::string, std::unique_ptr<client::Client>> clients_;
};

TEST_F(FederationTest, EachPartnerReceivesExactlyWhatThePolicyReleases) {
  auto item = LoadSample("pin_code_fraud_rtm.json");
  ASSERT_TRUE(item.ok()) << item.status();
  auto receipt = ClientOf("police-nl").Push(*item);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  const std::string id = item->item_id();

  // Customs (HARC): everything but identity documents and the source.
  auto customs = AwaitItem("customs-nl", id);
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

  // Port security desk: identifiers and badges, no suspects.
  auto port = AwaitItem("port-rtm", id);
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
  auto antwerp = AwaitItem("police-be", id);
  ASSERT_TRUE(antwerp.ok()) << antwerp.status();
  const v1::Alert& b = antwerp->item().alert();
  ASSERT_EQ(b.persons_size(), 2);
  EXPECT_THAT(b.persons(0).name(), ::testing::MatchesRegex("ps:[0-9a-f]{32}"));
  EXPECT_EQ(b.containers(0).consignee(), "");
  EXPECT_FALSE(b.location().has_position());
  EXPECT_EQ(b.observed_at().seconds() % 3600, 0);

  // Guayaquil: container and vessel identifiers only.
  auto guayaquil = AwaitItem("police-ec", id);
  ASSERT_TRUE(guayaquil.ok()) << guayaquil.status();
  const v1::Alert& e = guayaquil->item().alert();
  EXPECT_EQ(e.title(), "");
  EXPECT_EQ(e.severity(), v1::Alert::SEVERITY_UNSPECIFIED);
  ASSERT_EQ(e.vessels_size(), 1);
  EXPECT_EQ(e.vessels(0).imo(), "IMO9482316");
  EXPECT_FALSE(e.has_location());
}

}  // namespace
}  // namespace havengate::testing
