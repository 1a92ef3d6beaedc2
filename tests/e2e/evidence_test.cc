// The Evidence service end to end (real gateway processes, mutual TLS):
// police-nl shares an alert about container MSCU4812360 with port-rtm; its
// officer asks the running gateway what was shared with port-rtm about
// that container, what port-rtm received, which rule released
// containers.number and who proposed and approved that version, the
// chain's state and a signed extract — through the C++ client and through
// `havenctl audit ... --remote`. Integration-client and gateway
// certificates are refused (and the refusal audited); every answered
// question is audited as the officer.
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "certs/x509.h"
#include "client/evidence_client.h"
#include "evidence/audit_store.h"
#include "evidence/checkpoint_signature.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/json.h"
#include "tests/e2e/federation_fixture.h"
#include "tests/testing/harness.h"

namespace havengate::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kContainer[] = "MSCU4812360";
constexpr char kOfficer[] = "spiffe://police.nl.example/officer/officer-a";

class EvidenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* id : {"police-nl", "customs-nl", "port-rtm", "police-be", "police-ec"}) {
      ASSERT_TRUE(f_.AddOrg(id).ok());
    }
    ASSERT_TRUE(f_.InstallDeployPolicy("police-nl").ok());
    ASSERT_TRUE(f_.InstallDeployPolicy("port-rtm").ok());
    absl::Status rtm = f_.Start("port-rtm", {"police-nl", "customs-nl"});
    ASSERT_TRUE(rtm.ok()) << rtm;
    // A checkpoint every few records, so that the chain status has one.
    absl::Status police =
        f_.Start("police-nl", {"customs-nl", "port-rtm", "police-be", "police-ec"},
                 "audit:\n  checkpoint_every_records: 3\n");
    ASSERT_TRUE(police.ok()) << police;

    v1::Item about = MakeAlertAt("01JDQEV0000000000000000001", "NLRTM");
    about.mutable_alert()->mutable_containers(0)->set_number(kContainer);
    ASSERT_TRUE(f_.Push("police-nl", about).ok());
    v1::Item other = MakeAlertAt("01JDQEV0000000000000000002", "NLRTM");
    ASSERT_TRUE(f_.Push("police-nl", other).ok());
    for (const char* id : {"01JDQEV0000000000000000001", "01JDQEV0000000000000000002"}) {
      auto held = f_.AwaitItem("port-rtm", id);
      ASSERT_TRUE(held.ok()) << held.status() << f_.Logs();
    }
    // The delivery acknowledgements are audited after the partner stores.
    ASSERT_TRUE(f_.AwaitAudit("police-nl", [](const v1::AuditRecord& r) {
                    return r.type() == v1::ITEM_DELIVERED &&
                           r.item().item_id() == "01JDQEV0000000000000000002";
                  }).ok());
  }

  std::unique_ptr<client::Client> Connect(const std::string& cert, const std::string& key) {
    auto client = ConnectClient(f_.org("police-nl"), f_.port("police-nl"), cert, key);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  CommandResult Havenctl(std::vector<std::string> args) {
    const TestOrg& org = f_.org("police-nl");
    std::vector<std::string> argv = {HavenctlBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    for (const std::string& flag :
         {std::string("--address"), absl::StrCat("127.0.0.1:", f_.port("police-nl")),
          std::string("--cert"), org.officer_cert, std::string("--key"), org.officer_key,
          std::string("--ca"), org.ca_file, std::string("--gateway-id"), org.gateway_id()}) {
      argv.push_back(flag);
    }
    return RunCommand(argv);
  }

  Federation f_;
};

TEST_F(EvidenceTest, OfficerAsksWhatWasSharedAboutAContainer) {
  const TestOrg& police = f_.org("police-nl");
  auto officer = Connect(police.officer_cert, police.officer_key);
  client::EvidenceClient evidence(*officer);
  v1::SharedRequest request;
  request.set_partner("port-rtm");
  request.set_container("mscu 4812360");  // compared without case or spaces
  auto shared = evidence.Shared(request);
  ASSERT_TRUE(shared.ok()) << shared.status();
  std::vector<v1::AuditEventType> types;
  for (const v1::AuditRecord& r : shared->records()) {
    EXPECT_EQ(r.item().item_id(), "01JDQEV0000000000000000001") << r.DebugString();
    EXPECT_EQ(r.partner(), "port-rtm");
    types.push_back(r.type());
    if (r.type() == v1::SHARE_DECIDED) {
      EXPECT_TRUE(r.released());
      EXPECT_THAT(r.matched_rules(),
                  UnorderedElementsAre("port-desk-blocks-containers-and-badges",
                                               "informants-never-leave"));
      EXPECT_THAT(r.released_fields(), ::testing::Contains("containers.number"));
      EXPECT_THAT(r.withheld_fields(), ::testing::Contains("persons.name"));
    }
  }
  EXPECT_THAT(types, UnorderedElementsAre(v1::SHARE_DECIDED, v1::ITEM_DELIVERED));

  // By item id and by a container nobody mentioned.
  request.clear_container();
  request.set_item_id("01JDQEV0000000000000000002");
  auto by_item = evidence.Shared(request);
  ASSERT_TRUE(by_item.ok()) << by_item.status();
  EXPECT_EQ(by_item->records_size(), 2);
  request.clear_item_id();
  request.set_container("MSKU0000005");
  auto none = evidence.Shared(request);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->records_size(), 0);
  request.set_item_id("x");
  EXPECT_EQ(evidence.Shared(request).status().code(), absl::StatusCode::kInvalidArgument);

  v1::ReceivedRequest received;
  received.set_partner("port-rtm");
  auto delivered = evidence.Received(received);
  ASSERT_TRUE(delivered.ok()) << delivered.status();
  EXPECT_EQ(delivered->records_size(), 2);

  v1::ActivityRequest activity_request;
  auto activity = evidence.Activity(activity_request);
  ASSERT_TRUE(activity.ok()) << activity.status();
  const v1::PartnerActivity* rtm = nullptr;
  for (const v1::PartnerActivity& a : activity->partners()) {
    if (a.partner() == "port-rtm") rtm = &a;
  }
  ASSERT_NE(rtm, nullptr) << activity->DebugString();
  EXPECT_EQ(rtm->shared(), 2u);
  EXPECT_EQ(rtm->delivered(), 2u);
  EXPECT_EQ(rtm->received(), 0u);
  // By the stored items' category and TLP (MakeAlert: PIN_CODE_FRAUD, AMBER).
  EXPECT_THAT(rtm->shared_by_category(),
              ::testing::UnorderedElementsAre(::testing::Pair("PIN_CODE_FRAUD", 2u)));
  EXPECT_THAT(rtm->shared_by_tlp(), ::testing::UnorderedElementsAre(::testing::Pair("AMBER", 2u)));
  EXPECT_TRUE(rtm->received_by_category().empty());

  // Every question is audited as the officer, with its terms (the one
  // refused for naming two subjects too).
  auto queried = f_.AuditWhere("police-nl", [](const v1::AuditRecord& r) {
    return r.type() == v1::EVIDENCE_QUERIED;
  });
  ASSERT_EQ(queried.size(), 6u);
  EXPECT_EQ(queried[0].actor(), kOfficer);
  EXPECT_THAT(queried[0].detail(), HasSubstr("Shared partner=port-rtm container=mscu 4812360"));
}

// police-be receives suspects' names pseudonymised (deploy policy,
// cross-border-alerts-to-antwerp); given only the code police-be holds, the
// officer finds what was shared about that person.
// Issue 16: police-nl writes one audit record for all its partners'
// decisions on an item. Each partner's answer, from the running gateway
// and from havenctl offline, is that partner's decision field by field,
// and the chain holding the combined records verifies.
TEST_F(EvidenceTest, OneRecordHoldsEveryPartnersDecisionAndEachAnswerIsItsOwn) {
  const std::string id = "01JDQEV0000000000000000001";
  const std::string store = f_.gateway("police-nl").store_file();
  std::vector<v1::AuditRecord> combined;
  int old_form = 0;
  auto reader = evidence::AuditStore::Open(store);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_TRUE((*reader)
                  ->ForEachRecord([&](const v1::AuditRecord& r) {
                    if (r.item().item_id() != id) return true;
                    if (r.type() == v1::SHARES_DECIDED) combined.push_back(r);
                    if (r.type() == v1::SHARE_DECIDED) ++old_form;
                    return true;
                  })
                  .ok());
  reader->reset();
  ASSERT_EQ(combined.size(), 1u) << "one record for every partner's decision";
  EXPECT_EQ(old_form, 0);
  const v1::AuditRecord& record = combined[0];
  ASSERT_EQ(record.decisions_size(), 4);  // customs-nl, port-rtm, police-be, police-ec
  std::set<std::string> projections;
  for (const v1::PartnerShareDecision& d : record.decisions()) {
    projections.insert(absl::StrJoin(d.released_fields(), ","));
  }
  EXPECT_GT(projections.size(), 1u) << "the partners get different projections";

  const TestOrg& police = f_.org("police-nl");
  auto officer = Connect(police.officer_cert, police.officer_key);
  client::EvidenceClient evidence(*officer);
  for (const v1::PartnerShareDecision& d : record.decisions()) {
    SCOPED_TRACE(d.partner());
    v1::SharedRequest request;
    request.set_partner(d.partner());
    request.set_item_id(id);
    auto shared = evidence.Shared(request);
    ASSERT_TRUE(shared.ok()) << shared.status();
    std::vector<v1::AuditRecord> decisions;
    for (const v1::AuditRecord& r : shared->records()) {
      EXPECT_EQ(r.partner(), d.partner());
      if (r.type() == v1::SHARE_DECIDED) decisions.push_back(r);
    }
    ASSERT_EQ(decisions.size(), 1u);
    const v1::AuditRecord& answer = decisions[0];
    EXPECT_EQ(answer.sequence(), record.sequence());
    EXPECT_EQ(answer.policy_version(), record.policy_version());
    EXPECT_EQ(answer.released(), d.released());
    EXPECT_EQ(absl::StrJoin(answer.released_fields(), ","), absl::StrJoin(d.released_fields(), ","));
    EXPECT_EQ(absl::StrJoin(answer.withheld_fields(), ","), absl::StrJoin(d.withheld_fields(), ","));
    EXPECT_EQ(absl::StrJoin(answer.transformed_fields(), ","),
              absl::StrJoin(d.transformed_fields(), ","));
    EXPECT_EQ(absl::StrJoin(answer.matched_rules(), ","), absl::StrJoin(d.matched_rules(), ","));
    EXPECT_EQ(answer.reason(), d.reason());

    // havenctl offline prints the same decision (and no other partner's).
    CommandResult offline = RunCommand({HavenctlBinary(), "audit", "shared", "--store", store,
                                        "--partner", d.partner(), "--item", id, "--json"});
    ASSERT_EQ(offline.exit_code, 0) << offline.out << offline.err;
    int decided_lines = 0;
    for (absl::string_view line : absl::StrSplit(offline.out, '\n', absl::SkipEmpty())) {
      v1::AuditRecord r;
      ASSERT_TRUE(ParseJson(std::string(line), &r).ok()) << line;
      EXPECT_EQ(r.partner(), d.partner());
      if (r.type() != v1::SHARE_DECIDED) continue;
      ++decided_lines;
      EXPECT_EQ(absl::StrJoin(r.released_fields(), ","), absl::StrJoin(d.released_fields(), ","));
      EXPECT_EQ(absl::StrJoin(r.withheld_fields(), ","), absl::StrJoin(d.withheld_fields(), ","));
    }
    EXPECT_EQ(decided_lines, 1);
  }

  CommandResult verify =
      RunCommand({HavenctlBinary(), "audit", "verify", "--store", store, "--json"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_THAT(verify.out, HasSubstr("\"ok\":true"));
}

TEST_F(EvidenceTest, OfficerAsksWhatWasSharedAboutAPersonPseudonym) {
  v1::Item third = MakeAlertAt("01JDQEV0000000000000000003", "NLRTM");
  third.mutable_alert()->mutable_persons(0)->set_name("Piet Jansen");
  ASSERT_TRUE(f_.Push("police-nl", third).ok());
  ASSERT_TRUE(f_.AwaitAudit("police-nl", [](const v1::AuditRecord& r) {
                  return r.type() == v1::SHARE_DECIDED && r.partner() == "police-be" &&
                         r.item().item_id() == "01JDQEV0000000000000000003";
                }).ok());
  // The codes exactly as police-be receives them: the projection under the
  // installed policy and its keys.
  auto compiled = f_.LoadPolicy("police-nl");
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  auto code_sent_for = [&](const v1::Item& item) {
    auto decision = (*compiled)->DecideFor("police-be", item);
    EXPECT_TRUE(decision.ok() && decision->released) << item.item_id();
    return decision->projected.alert().persons(0).name();
  };
  const std::string jan = code_sent_for(MakeAlertAt("01JDQEV0000000000000000001", "NLRTM"));
  const std::string piet = code_sent_for(third);
  ASSERT_THAT(jan, ::testing::StartsWith("ps:"));
  ASSERT_NE(jan, piet);

  const TestOrg& police = f_.org("police-nl");
  auto officer = Connect(police.officer_cert, police.officer_key);
  client::EvidenceClient evidence(*officer);
  auto items_about = [&](const std::string& code) {
    v1::SharedRequest request;
    request.set_partner("police-be");
    request.set_person_pseudonym(code);
    auto shared = evidence.Shared(request);
    EXPECT_TRUE(shared.ok()) << shared.status();
    std::set<std::string> items;
    if (!shared.ok()) return items;
    for (const v1::AuditRecord& r : shared->records()) {
      EXPECT_EQ(r.partner(), "police-be");
      EXPECT_EQ(r.type(), v1::SHARE_DECIDED);  // police-be's gateway is not running
      EXPECT_TRUE(r.released());
      EXPECT_THAT(r.transformed_fields(), ::testing::Contains("persons.name: pseudonymise"));
      items.insert(r.item().item_id());
    }
    return items;
  };
  // Jan de Vries is in the two alerts of SetUp, Piet Jansen only in the third.
  EXPECT_THAT(items_about(jan), UnorderedElementsAre("01JDQEV0000000000000000001",
                                                     "01JDQEV0000000000000000002"));
  EXPECT_THAT(items_about(piet), UnorderedElementsAre("01JDQEV0000000000000000003"));
  // A well-formed code nobody was sent finds nothing.
  EXPECT_TRUE(items_about("ps:0123456789abcdef0123456789abcdef").empty());

  // A clear name instead of a code is refused without being repeated.
  v1::SharedRequest clear;
  clear.set_partner("police-be");
  clear.set_person_pseudonym("Jan de Vries");
  auto refused = evidence.Shared(clear);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("person_pseudonym"));
  EXPECT_THAT(std::string(refused.status().message()), ::testing::Not(HasSubstr("Jan")));

  // havenctl asks the same; offline it cannot (no keys) and says so.
  CommandResult remote =
      Havenctl({"audit", "shared", "--remote", "--partner", "police-be", "--pseudonym", piet});
  ASSERT_EQ(remote.exit_code, 0) << remote.out << remote.err;
  EXPECT_THAT(remote.out, HasSubstr("01JDQEV0000000000000000003"));
  EXPECT_THAT(remote.out, ::testing::Not(HasSubstr("01JDQEV0000000000000000001")));
  EXPECT_THAT(remote.out, HasSubstr(absl::StrCat("about person ", piet)));
  EXPECT_THAT(remote.out, ::testing::Not(HasSubstr("Piet")));
  CommandResult offline = RunCommand(
      {HavenctlBinary(), "audit", "shared", "--store", f_.gateway("police-nl").store_file(),
       "--partner", "police-be", "--pseudonym", piet});
  EXPECT_NE(offline.exit_code, 0);
  EXPECT_THAT(offline.err, HasSubstr("--remote"));

  // The questions are audited with the code, never a clear value.
  auto queried = f_.AuditWhere("police-nl", [](const v1::AuditRecord& r) {
    return r.type() == v1::EVIDENCE_QUERIED && absl::StrContains(r.detail(), "person_pseudonym");
  });
  ASSERT_EQ(queried.size(), 4u);
  EXPECT_THAT(queried[0].detail(),
              HasSubstr(absl::StrCat("Shared partner=police-be person_pseudonym=", jan)));
  for (const v1::AuditRecord& r : queried) {
    EXPECT_EQ(r.actor(), kOfficer);
    EXPECT_THAT(r.detail(), ::testing::Not(HasSubstr("Jan")));
    EXPECT_THAT(r.detail(), ::testing::Not(HasSubstr("Piet")));
  }
  EXPECT_THAT(f_.Logs(), ::testing::Not(HasSubstr("Piet Jansen")));
}

TEST_F(EvidenceTest, WhichRuleReleasedAFieldAndWhoApprovedIt) {
  const TestOrg& police = f_.org("police-nl");
  auto officer = Connect(police.officer_cert, police.officer_key);
  client::EvidenceClient evidence(*officer);
  v1::FieldReleasesRequest request;
  request.set_field("containers.number");
  request.set_partner("port-rtm");
  auto releases = evidence.FieldReleases(request);
  ASSERT_TRUE(releases.ok()) << releases.status();
  ASSERT_EQ(releases->releases_size(), 1);
  const v1::FieldRelease& release = releases->releases(0);
  EXPECT_EQ(release.policy_version(), "2026-11-28.1");
  EXPECT_EQ(release.decisions(), 2u);
  EXPECT_EQ(release.outcomes().at("released"), 2u);
  EXPECT_THAT(release.rules(), UnorderedElementsAre("port-desk-blocks-containers-and-badges",
                                               "informants-never-leave"));
  // The version came from the policy file: the history says so, and no
  // officer approved it.
  EXPECT_EQ(release.proposed_by(), "policy file on disk");
  EXPECT_EQ(release.approved_by(), "");

  auto status = evidence.ChainStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(status->ok());
  EXPECT_GT(status->records(), 5u);
  EXPECT_EQ(status->last_sequence(), status->records());
  EXPECT_GE(status->checkpoints(), 1u);
  EXPECT_TRUE(status->last_checkpoint_signature_valid());
  EXPECT_GT(status->last_checkpoint().sequence(), 0u);

  auto extract = evidence.Extract(v1::ExtractRequest());
  ASSERT_TRUE(extract.ok()) << extract.status();
  ASSERT_GT(extract->records_size(), 5);
  EXPECT_EQ(extract->records(0).sequence(), 1u);
  // The checkpoint verifies with the certificate the extract carries.
  auto cert = pki::ParsePemCertificates(extract->gateway_certificate_pem());
  ASSERT_TRUE(cert.ok()) << cert.status();
  auto verifier = evidence::CheckpointVerifier::FromCertificates(*cert);
  ASSERT_TRUE(verifier.ok());
  const v1::AuditCheckpoint& cp = extract->checkpoint();
  EXPECT_TRUE(verifier->Verify(cp.sequence(), cp.previous_hash(), cp.signature(), cp.key_id())
                  .ok());
}

// The console's stored-item search: by container, vessel, category and
// period, each criterion narrowing; newest first; audited as the officer.
TEST_F(EvidenceTest, OfficerFindsStoredItemsToPreview) {
  v1::Item vessel = MakeAlertAt("01JDQEV0000000000000000003", "NLRTM", v1::Alert::RIP_OFF);
  v1::Vessel* ship = vessel.mutable_alert()->add_vessels();
  ship->set_imo("IMO9319466");
  ship->set_name("Maersk Essen");
  ASSERT_TRUE(f_.Push("police-nl", vessel).ok());
  const TestOrg& police = f_.org("police-nl");
  auto officer = Connect(police.officer_cert, police.officer_key);
  client::EvidenceClient evidence(*officer);
  auto ids = [&](const v1::FindItemsRequest& request) {
    std::vector<std::string> out;
    auto found = evidence.FindItems(request);
    EXPECT_TRUE(found.ok()) << found.status();
    if (found.ok()) {
      for (const v1::Item& item : found->items()) out.push_back(item.item_id());
    }
    return out;
  };
  v1::FindItemsRequest request;
  EXPECT_EQ(ids(request).size(), 3u);
  request.set_container("mscu 4812360");
  EXPECT_THAT(ids(request), ::testing::ElementsAre("01JDQEV0000000000000000001"));
  request.set_category(v1::Alert::RIP_OFF);  // and: nothing meets both
  EXPECT_TRUE(ids(request).empty());
  request.clear_container();
  EXPECT_THAT(ids(request), ::testing::ElementsAre("01JDQEV0000000000000000003"));
  request.clear_category();
  request.set_vessel("maersk essen");
  EXPECT_THAT(ids(request), ::testing::ElementsAre("01JDQEV0000000000000000003"));
  request.set_vessel("IMO9319466");
  EXPECT_THAT(ids(request), ::testing::ElementsAre("01JDQEV0000000000000000003"));
  request.clear_vessel();
  request.mutable_period()->mutable_since()->set_seconds(absl::ToUnixSeconds(absl::Now()) + 3600);
  EXPECT_TRUE(ids(request).empty());
  request.clear_period();
  request.set_max_items(1);
  auto newest = evidence.FindItems(request);
  ASSERT_TRUE(newest.ok()) << newest.status();
  ASSERT_EQ(newest->items_size(), 1);
  EXPECT_TRUE(newest->truncated());
  request.set_max_items(501);
  EXPECT_EQ(evidence.FindItems(request).status().code(), absl::StatusCode::kInvalidArgument);

  auto queried = f_.AuditWhere("police-nl", [](const v1::AuditRecord& r) {
    return r.type() == v1::EVIDENCE_QUERIED && absl::StrContains(r.detail(), "FindItems");
  });
  ASSERT_GE(queried.size(), 7u);
  EXPECT_EQ(queried[1].actor(), kOfficer);
  EXPECT_THAT(queried[1].detail(), HasSubstr("FindItems container=mscu 4812360"));
}

TEST_F(EvidenceTest, OnlyOfficersMayAsk) {
  const TestOrg& police = f_.org("police-nl");
  for (auto [cert, key] : {std::pair(police.client_cert, police.client_key),
                           std::pair(police.gateway_cert, police.gateway_key)}) {
    auto caller = Connect(cert, key);
    client::EvidenceClient evidence(*caller);
    v1::SharedRequest request;
    request.set_partner("port-rtm");
    auto refused = evidence.Shared(request);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << refused.status();
    EXPECT_EQ(evidence.ChainStatus().status().code(), absl::StatusCode::kPermissionDenied);
  }
  auto rejected = f_.AwaitAudit("police-nl", [](const v1::AuditRecord& r) {
    return r.type() == v1::CALL_REJECTED && absl::StartsWith(r.reason(), "Evidence.Shared") &&
           absl::StrContains(r.actor(), "/client/");
  });
  ASSERT_TRUE(rejected.ok()) << rejected.status();
  EXPECT_TRUE(f_.AuditWhere("police-nl", [](const v1::AuditRecord& r) {
                  return r.type() == v1::EVIDENCE_QUERIED;
                }).empty());
}

TEST_F(EvidenceTest, HavenctlAuditRemoteAnswersAsOffline) {
  CommandResult remote = Havenctl({"audit", "shared", "--remote", "--partner", "port-rtm",
                                   "--container", kContainer});
  ASSERT_EQ(remote.exit_code, 0) << remote.out << remote.err;
  EXPECT_THAT(remote.out, HasSubstr("01JDQEV0000000000000000001"));
  EXPECT_THAT(remote.out, ::testing::Not(HasSubstr("01JDQEV0000000000000000002")));
  EXPECT_THAT(remote.out, HasSubstr("about container MSCU4812360"));
  EXPECT_THAT(remote.out, HasSubstr("1 decisions (1 released), 1 delivered"));

  CommandResult rule = Havenctl({"audit", "rule", "--remote", "--field", "containers.number"});
  ASSERT_EQ(rule.exit_code, 0) << rule.out << rule.err;
  EXPECT_THAT(rule.out, HasSubstr("port-desk-blocks-containers-and-badges"));

  CommandResult status = Havenctl({"audit", "status"});
  ASSERT_EQ(status.exit_code, 0) << status.out << status.err;
  EXPECT_THAT(status.out, HasSubstr("signature valid"));
  EXPECT_THAT(status.out, HasSubstr("OK: the audit log is intact"));

  // The offline form reads the same store file and gives the same answer.
  const std::string store = f_.gateway("police-nl").store_file();
  CommandResult offline = RunCommand({HavenctlBinary(), "audit", "shared", "--store", store,
                                      "--partner", "port-rtm", "--container", kContainer});
  ASSERT_EQ(offline.exit_code, 0) << offline.out << offline.err;
  EXPECT_THAT(offline.out, HasSubstr("1 decisions (1 released), 1 delivered"));

  CommandResult neither = RunCommand(
      {HavenctlBinary(), "audit", "received", "--partner", "port-rtm"});
  EXPECT_NE(neither.exit_code, 0);
  EXPECT_THAT(neither.err, HasSubstr("give --store FILE (offline) or --remote"));
}

}  // namespace
}  // namespace havengate::testing
