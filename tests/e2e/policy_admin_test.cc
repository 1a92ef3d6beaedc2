// The policy lifecycle end to end (PolicyAdmin over mutual TLS, real
// gateway processes): the Dutch police gateway shares with Dutch customs
// under its deploy policy; officers propose, approve (four eyes), activate
// and roll back a version in which customs no longer receives alert titles,
// and customs' inbox shows which version decided each item.
#include <atomic>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "client/policy_admin_client.h"
#include "proto/json.h"
#include "tests/e2e/federation_fixture.h"
#include "tests/testing/harness.h"

namespace havengate::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using v1::PolicyProposal;

constexpr char kV1[] = "2026-11-28.1";  // deploy/policies/police-nl
constexpr char kV2[] = "2026-11-29.1";  // this test's: no titles for customs
constexpr char kV3[] = "2026-11-30.1";  // v1's text under a new label

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class PolicyAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* id : {"police-nl", "customs-nl", "port-rtm", "police-be", "police-ec"}) {
      ASSERT_TRUE(f_.AddOrg(id).ok());
    }
    auto path = f_.InstallDeployPolicy("police-nl");
    ASSERT_TRUE(path.ok()) << path.status();
    policy_path_ = *path;
    v1_text_ = ReadFile(policy_path_);
    ASSERT_THAT(v1_text_, HasSubstr(absl::StrCat("version: \"", kV1, "\"")));
    // v2: the HARC rule for customs also withholds the title.
    const std::string customs_rule = "withhold: [persons.document_number]\n";
    ASSERT_EQ(CountOccurrences(v1_text_, customs_rule), 1);
    v2_text_ = absl::StrReplaceAll(
        v1_text_, {{absl::StrCat("version: \"", kV1, "\""),
                    absl::StrCat("version: \"", kV2, "\"")},
                   {customs_rule, "withhold: [persons.document_number, title]\n"}});
    ASSERT_TRUE(f_.InstallDeployPolicy("customs-nl").ok());
    absl::Status customs = f_.Start("customs-nl", {"police-nl", "port-rtm", "police-be"});
    ASSERT_TRUE(customs.ok()) << customs;
    StartPolice();
    auto bob = IssueCert(f_.org("police-nl"), pki::Role::kOfficer, "bob", "bob");
    ASSERT_TRUE(bob.ok()) << bob.status();
    bob_cert_ = bob->cert_file;
    bob_key_ = bob->key_file;
  }

  void StartPolice() {
    absl::Status started =
        f_.Start("police-nl", {"customs-nl", "port-rtm", "police-be", "police-ec"},
                 "limits:\n  per_caller:\n    items_per_second: 0\n");
    ASSERT_TRUE(started.ok()) << started;
  }

  // A PolicyAdmin connection of police-nl with the given certificate.
  std::unique_ptr<client::Client> Connect(const std::string& cert,
                                          const std::string& key) {
    auto client = ConnectClient(f_.org("police-nl"), f_.port("police-nl"), cert, key);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }
  std::unique_ptr<client::Client> Alice() {
    return Connect(f_.org("police-nl").officer_cert, f_.org("police-nl").officer_key);
  }
  std::unique_ptr<client::Client> Bob() { return Connect(bob_cert_, bob_key_); }
  std::string AliceId() const { return "spiffe://police.nl.example/officer/officer-a"; }
  std::string BobId() const { return "spiffe://police.nl.example/officer/bob"; }

  // havenctl with officer credentials of police-nl.
  CommandResult Havenctl(std::vector<std::string> args, const std::string& cert,
                         const std::string& key) {
    const TestOrg& org = f_.org("police-nl");
    std::vector<std::string> argv = {HavenctlBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    for (const std::string& flag :
         {std::string("--address"), absl::StrCat("127.0.0.1:", f_.port("police-nl")),
          std::string("--cert"), cert, std::string("--key"), key, std::string("--ca"),
          org.ca_file, std::string("--gateway-id"), org.gateway_id()}) {
      argv.push_back(flag);
    }
    return RunCommand(argv);
  }

  // Proposes v2 as Alice and approves it as Bob; returns its id.
  std::string ProposeAndApproveV2() {
    auto alice = Alice();
    auto bob = Bob();
    client::PolicyAdminClient as_alice(*alice), as_bob(*bob);
    auto proposed = as_alice.Propose(v2_text_, "customs gets no titles");
    EXPECT_TRUE(proposed.ok()) << proposed.status();
    if (!proposed.ok()) return "";
    auto approved = as_bob.Approve(proposed->id(), "checked");
    EXPECT_TRUE(approved.ok()) << approved.status();
    return proposed->id();
  }

  // The alert pushed to police-nl, as customs holds it.
  absl::StatusOr<v1::InboxEntry> PushAndAwait(const std::string& item_id) {
    auto receipt = f_.Push("police-nl", MakeAlertAt(item_id, "NLRTM"));
    if (!receipt.ok()) return receipt.status();
    return f_.AwaitItem("customs-nl", item_id);
  }

  std::vector<v1::AuditRecord> Lifecycle() {
    return f_.AuditWhere("police-nl", [](const v1::AuditRecord& r) {
      return r.type() >= v1::POLICY_PROPOSED && r.type() <= v1::POLICY_REJECTED;
    });
  }

  Federation f_;
  std::string policy_path_, v1_text_, v2_text_;
  std::string bob_cert_, bob_key_;
};

// The whole lifecycle through havenctl, as officers use it.
TEST_F(PolicyAdminTest, FourEyesLifecycleWithHavenctl) {
  const TestOrg& police = f_.org("police-nl");
  auto before = PushAndAwait("01JDQPA0000000000000000001");
  ASSERT_TRUE(before.ok()) << before.status() << f_.Logs();
  EXPECT_FALSE(before->item().alert().title().empty());

  for (const char* command :
       {"validate", "preview", "diff", "propose", "approve", "activate", "rollback", "history"}) {
    CommandResult help = RunCommand({HavenctlBinary(), "policy", command, "--help"});
    EXPECT_EQ(help.exit_code, 0) << command;
    EXPECT_THAT(help.out, HasSubstr("Usage:")) << command;
  }

  const std::string candidate = f_.root() + "/v2.yaml";
  std::ofstream(candidate) << v2_text_;
  CommandResult validated = Havenctl({"policy", "validate", "--remote", candidate},
                                     police.officer_cert, police.officer_key);
  EXPECT_EQ(validated.exit_code, 0) << validated.err;
  EXPECT_THAT(validated.out, HasSubstr(absl::StrCat("valid for this gateway: version ", kV2)));

  // Preview: the candidate withholds the title from customs; the active
  // policy releases it.
  const std::string item_file = f_.root() + "/alert.json";
  std::ofstream(item_file) << ToJson(MakeAlertAt("01JDQPA0000000000000000009", "NLRTM"));
  CommandResult preview = Havenctl({"policy", "preview", "--remote", candidate, item_file,
                                    "--partner", "customs-nl", "--explain"},
                                   police.officer_cert, police.officer_key);
  ASSERT_EQ(preview.exit_code, 0) << preview.err;
  EXPECT_THAT(preview.out, HasSubstr("== customs-nl: receives the item"));
  EXPECT_THAT(preview.out, HasSubstr("title: withheld"));
  EXPECT_THAT(preview.out, Not(HasSubstr("\"title\"")));
  CommandResult now = Havenctl({"policy", "preview", "--remote", "--active", item_file,
                                "--partner", "customs-nl", "--json"},
                               police.officer_cert, police.officer_key);
  ASSERT_EQ(now.exit_code, 0) << now.err;
  EXPECT_THAT(now.out, HasSubstr(absl::StrCat("{\"policy_version\":\"", kV1, "\"")));
  EXPECT_THAT(now.out, HasSubstr("\"title\":"));

  // Diff over what the gateway stored: the one alert pushed above, only in
  // a period that contains it.
  CommandResult diff = Havenctl({"policy", "diff", "--remote", candidate, "--since",
                                 "2020-01-01", "--until", "2100-01-01", "--items"},
                                police.officer_cert, police.officer_key);
  EXPECT_EQ(diff.exit_code, 0) << diff.err;
  EXPECT_THAT(diff.out, HasSubstr(absl::StrCat("policy ", kV1, " -> ", kV2,
                                               ": 1 stored items compared")));
  EXPECT_THAT(diff.out, HasSubstr("== customs-nl: receives 1 item differently\n"
                                  "  - title (1 item)\n"));
  EXPECT_THAT(diff.out, HasSubstr("/01JDQPA0000000000000000001@"));
  EXPECT_THAT(diff.out, HasSubstr(" -> customs-nl: receives a different view\n  - title"));
  EXPECT_THAT(diff.out, Not(HasSubstr("port-rtm")));
  CommandResult before_any = Havenctl({"policy", "diff", "--remote", candidate, "--until",
                                       "2020-01-01", "--exit-code"},
                                      police.officer_cert, police.officer_key);
  EXPECT_EQ(before_any.exit_code, 0) << before_any.err;
  EXPECT_THAT(before_any.out, HasSubstr("0 stored items compared"));
  EXPECT_THAT(before_any.out, HasSubstr("no partner's view of these items changes"));

  CommandResult proposed =
      Havenctl({"policy", "propose", candidate, "--comment", "customs gets no titles"},
               police.officer_cert, police.officer_key);
  ASSERT_EQ(proposed.exit_code, 0) << proposed.err;
  EXPECT_THAT(proposed.out, HasSubstr("proposal 2  version 2026-11-29.1  PROPOSED"));

  // Four eyes: the proposer cannot approve, nor activate unapproved.
  CommandResult own = Havenctl({"policy", "approve", "2"}, police.officer_cert,
                               police.officer_key);
  EXPECT_EQ(own.exit_code, 1);
  EXPECT_THAT(own.err, HasSubstr("PERMISSION_DENIED: four eyes"));
  CommandResult early = Havenctl({"policy", "activate", "2"}, police.officer_cert,
                                 police.officer_key);
  EXPECT_EQ(early.exit_code, 1);
  EXPECT_THAT(early.err, HasSubstr("is not approved"));

  CommandResult approved = Havenctl({"policy", "approve", "2", "--comment", "checked the impact"},
                                    bob_cert_, bob_key_);
  ASSERT_EQ(approved.exit_code, 0) << approved.err;
  EXPECT_THAT(approved.out, HasSubstr("approved"));
  CommandResult activated = Havenctl({"policy", "activate", "2"}, police.officer_cert,
                                     police.officer_key);
  ASSERT_EQ(activated.exit_code, 0) << activated.err;
  EXPECT_THAT(activated.out, HasSubstr("ACTIVE"));

  // The file on disk is the activated text; new items are decided by it.
  EXPECT_EQ(ReadFile(policy_path_), v2_text_);
  auto after = PushAndAwait("01JDQPA0000000000000000002");
  ASSERT_TRUE(after.ok()) << after.status() << f_.Logs();
  EXPECT_TRUE(after->item().alert().title().empty());
  EXPECT_FALSE(after->item().alert().location().unlocode().empty());
  ASSERT_FALSE(after->item().provenance().empty());
  EXPECT_EQ(after->item().provenance().rbegin()->policy_version(), kV2);

  // Two versions of the history compared over the same items.
  CommandResult versions = Havenctl({"policy", "diff", "--remote", "--version", kV1,
                                     "--base-version", kV2, "--exit-code"},
                                    bob_cert_, bob_key_);
  EXPECT_EQ(versions.exit_code, 1) << versions.err;  // --exit-code: views change
  EXPECT_THAT(versions.out, HasSubstr(absl::StrCat("policy ", kV2, " -> ", kV1,
                                                   ": 2 stored items compared")));
  EXPECT_THAT(versions.out, HasSubstr("== customs-nl: receives 2 items differently\n"
                                      "  + title (2 items)\n"));

  CommandResult history = Havenctl({"policy", "history"}, police.officer_cert,
                                   police.officer_key);
  ASSERT_EQ(history.exit_code, 0) << history.err;
  EXPECT_THAT(history.out, HasSubstr("proposal 2  version 2026-11-29.1  ACTIVE"));
  EXPECT_THAT(history.out, HasSubstr("proposal 1  version 2026-11-28.1  SUPERSEDED"));
  EXPECT_THAT(history.out, HasSubstr("approved  "));
  EXPECT_THAT(history.out, HasSubstr(BobId() + ": checked the impact"));

  // The evidence: each step with the officer who took it.
  std::map<v1::AuditEventType, std::vector<std::string>> actors;
  for (const v1::AuditRecord& r : Lifecycle()) {
    if (r.policy_version() == kV2) actors[r.type()].push_back(r.actor());
  }
  EXPECT_THAT(actors[v1::POLICY_PROPOSED], ::testing::ElementsAre(AliceId()));
  EXPECT_THAT(actors[v1::POLICY_APPROVED], ::testing::ElementsAre(BobId()));
  EXPECT_THAT(actors[v1::POLICY_ACTIVATED], ::testing::ElementsAre(AliceId()));
  EXPECT_THAT(actors[v1::POLICY_REJECTED],
              ::testing::ElementsAre(AliceId(), AliceId()));  // own approval, early activation

  // The oversight question: who proposed and approved the version that
  // (no longer) released the title to customs.
  CommandResult rule = RunCommand({HavenctlBinary(), "audit", "rule", "--store",
                                   f_.gateway("police-nl").store_file(), "--field",
                                   "location", "--partner", "customs-nl"});
  ASSERT_EQ(rule.exit_code, 0) << rule.err;
  EXPECT_THAT(rule.out, HasSubstr(absl::StrCat("policy version ", kV2)));
  EXPECT_THAT(rule.out, HasSubstr(absl::StrCat("proposed   ", AliceId())));
  EXPECT_THAT(rule.out, HasSubstr(absl::StrCat("approved   ", BobId())));
}

TEST_F(PolicyAdminTest, OnlyOfficersMayUsePolicyAdmin) {
  const TestOrg& police = f_.org("police-nl");
  for (const auto& [cert, key] : {std::make_pair(police.client_cert, police.client_key),
                                  std::make_pair(police.gateway_cert, police.gateway_key)}) {
    auto connection = Connect(cert, key);
    ASSERT_NE(connection, nullptr);
    client::PolicyAdminClient admin(*connection);
    v1::PolicyCandidate candidate;
    candidate.set_policy_text(v2_text_);
    v1::PreviewPolicyRequest preview;
    *preview.mutable_item() = MakeAlert("01JDQPA0000000000000000003");
    std::vector<absl::Status> answers = {
        admin.Validate(candidate).status(),
        admin.Preview(preview).status(),
        admin.Diff({}).status(),
        admin.Propose(v2_text_, "sneaky").status(),
        admin.Approve("1", "").status(),
        admin.Activate("1").status(),
        admin.Rollback(kV1, "sneaky").status(),
        admin.History(true).status(),
    };
    for (const absl::Status& s : answers) {
      EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << cert << ": " << s;
      EXPECT_THAT(s.message(), HasSubstr("policy officers of this organisation"));
    }
  }
  // Nothing changed, and every refusal is evidence.
  EXPECT_EQ(ReadFile(policy_path_), v1_text_);
  auto refused = f_.AwaitAudit("police-nl", [](const v1::AuditRecord& r) {
    return r.type() == v1::CALL_REJECTED &&
           absl::StrContains(r.reason(), "PolicyAdmin.History") &&
           absl::StrContains(r.actor(), "/gateway");
  });
  EXPECT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(f_.AuditWhere("police-nl", [](const v1::AuditRecord& r) {
                return r.type() == v1::CALL_REJECTED &&
                       absl::StrContains(r.reason(), "PolicyAdmin.");
              }).size(),
            16u);
  EXPECT_TRUE(Lifecycle().empty());

  // A customs officer is refused in the TLS handshake: the police gateway
  // trusts the customs CA for the customs gateway only.
  auto customs_officer = Connect(f_.org("customs-nl").officer_cert,
                                 f_.org("customs-nl").officer_key);
  ASSERT_NE(customs_officer, nullptr);
  auto foreign = client::PolicyAdminClient(*customs_officer).History(false);
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kUnavailable) << foreign.status();
}

TEST_F(PolicyAdminTest, BadCandidatesNeverActivate) {
  auto alice = Alice();
  client::PolicyAdminClient admin(*alice);
  struct Case {
    std::string name, text, expected;
  };
  const std::vector<Case> cases = {
      {"syntax", absl::StrReplaceAll(v2_text_, {{"share: [\"*\"]", "share: [\"*\""}}),
       "candidate:"},
      {"unknown field",
       absl::StrReplaceAll(v2_text_, {{"withhold: [persons.document_number, title]",
                                       "withhold: [persons.passport, title]"}}),
       "persons.passport"},
      {"partner not a peer",
       absl::StrReplaceAll(v2_text_, {{"partners:\n", "partners:\n  - {id: police-fr, name: Police nationale, kind: POLICE, country: FR}\n"}}),
       "police-fr is not a peer"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_NE(c.text, v2_text_);
    v1::PolicyCandidate candidate;
    candidate.set_policy_text(c.text);
    auto report = admin.Validate(candidate);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_FALSE(report->valid());
    ASSERT_GT(report->diagnostics_size(), 0);
    EXPECT_EQ(report->diagnostics(0).severity(), v1::PolicyDiagnostic::ERROR);
    std::string all;
    for (const auto& d : report->diagnostics()) absl::StrAppend(&all, d.text(), "\n");
    EXPECT_THAT(all, HasSubstr(c.expected));

    auto proposed = admin.Propose(c.text, "should fail");
    EXPECT_EQ(proposed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(proposed.status().message(), HasSubstr("cannot be proposed"));
    EXPECT_THAT(proposed.status().message(), HasSubstr(c.expected));
  }
  // The syntax error is pinned to line and column.
  v1::PolicyCandidate broken;
  broken.set_policy_text(cases[0].text);
  auto report = admin.Validate(broken);
  ASSERT_TRUE(report.ok());
  EXPECT_GT(report->diagnostics(0).line(), 1);
  EXPECT_THAT(report->diagnostics(0).text(),
              ::testing::MatchesRegex("candidate:[0-9]+:[0-9]+: error: .*"));

  // Nothing was stored or activated.
  auto history = admin.History(false);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->proposals_size(), 1);
  EXPECT_EQ(history->proposals(0).version(), kV1);
  EXPECT_EQ(history->proposals(0).state(), PolicyProposal::ACTIVE);
  EXPECT_EQ(ReadFile(policy_path_), v1_text_);
  auto still = PushAndAwait("01JDQPA0000000000000000004");
  ASSERT_TRUE(still.ok()) << still.status();
  EXPECT_FALSE(still->item().alert().title().empty());
  EXPECT_EQ(f_.AuditWhere("police-nl", [](const v1::AuditRecord& r) {
                return r.type() == v1::POLICY_REJECTED;
              }).size(),
            3u);

  // A version label can name one text only.
  auto reused = admin.Propose(absl::StrReplaceAll(v2_text_, {{kV2, kV1}}), "same label");
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(PolicyAdminTest, HistorySurvivesRestartAndRollbackRestoresAnEarlierVersion) {
  const std::string id = ProposeAndApproveV2();
  ASSERT_FALSE(id.empty());
  {
    auto alice = Alice();
    auto active = client::PolicyAdminClient(*alice).Activate(id);
    ASSERT_TRUE(active.ok()) << active.status();
  }
  auto stopped = f_.gateway("police-nl").Terminate();
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  ASSERT_TRUE(f_.gateway("police-nl").Restart().ok());
  ASSERT_TRUE(WaitFor([&] { return !f_.gateway("police-nl").ReadLog().empty(); }));

  auto bob = Bob();
  client::PolicyAdminClient admin(*bob);
  absl::StatusOr<v1::PolicyHistoryResponse> history;
  ASSERT_TRUE(WaitFor([&] {
    history = admin.History(false);
    return history.ok();
  })) << history.status();
  ASSERT_EQ(history->proposals_size(), 2);
  EXPECT_EQ(history->proposals(0).version(), kV2);
  EXPECT_EQ(history->proposals(0).state(), PolicyProposal::ACTIVE);
  EXPECT_EQ(history->proposals(0).proposed_by(), AliceId());
  EXPECT_EQ(history->proposals(0).approved_by(), BobId());
  auto v2_item = PushAndAwait("01JDQPA0000000000000000005");
  ASSERT_TRUE(v2_item.ok()) << v2_item.status() << f_.Logs();
  EXPECT_TRUE(v2_item->item().alert().title().empty());

  // Rollback needs a reason and a version that was active.
  EXPECT_EQ(admin.Rollback(kV1, "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(admin.Rollback("2020-01-01.1", "typo").status().code(),
            absl::StatusCode::kNotFound);
  // v1 came from the policy file on disk: no officer approved it, so a
  // rollback cannot bring it back on one officer's word.
  auto unapproved = admin.Rollback(kV1, "back to the deploy policy");
  EXPECT_EQ(unapproved.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(unapproved.status().message(), HasSubstr("never approved"));
  EXPECT_EQ(ReadFile(policy_path_), v2_text_);

  // v1's text comes back as v3, through four eyes (Bob proposes this time).
  const std::string v3_text = absl::StrReplaceAll(v1_text_, {{kV1, kV3}});
  auto v3 = admin.Propose(v3_text, "customs needs titles for the scan queue");
  ASSERT_TRUE(v3.ok()) << v3.status();
  {
    auto alice = Alice();
    client::PolicyAdminClient as_alice(*alice);
    ASSERT_TRUE(as_alice.Approve(v3->id(), "").ok());
    ASSERT_TRUE(as_alice.Activate(v3->id()).ok());
  }
  auto v3_item = PushAndAwait("01JDQPA0000000000000000006");
  ASSERT_TRUE(v3_item.ok()) << v3_item.status();
  EXPECT_FALSE(v3_item->item().alert().title().empty());
  EXPECT_EQ(v3_item->item().provenance().rbegin()->policy_version(), kV3);

  // v2 was approved before: Alice rolls back to it alone, with havenctl.
  CommandResult rolled_back = Havenctl(
      {"policy", "rollback", kV2, "--comment", "scan queue done; titles stay home"},
      f_.org("police-nl").officer_cert, f_.org("police-nl").officer_key);
  ASSERT_EQ(rolled_back.exit_code, 0) << rolled_back.err;
  EXPECT_THAT(rolled_back.out, HasSubstr(absl::StrCat("version ", kV2, "  ACTIVE")));
  EXPECT_EQ(ReadFile(policy_path_), v2_text_);
  auto again = PushAndAwait("01JDQPA0000000000000000007");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->item().alert().title().empty());
  EXPECT_EQ(again->item().provenance().rbegin()->policy_version(), kV2);
  auto record = f_.AwaitAudit("police-nl", [&](const v1::AuditRecord& r) {
    return r.type() == v1::POLICY_ROLLED_BACK && r.actor() == AliceId() &&
           r.policy_version() == kV2 &&
           absl::StrContains(r.detail(), "scan queue done");
  });
  EXPECT_TRUE(record.ok()) << record.status();
  auto refused = f_.AwaitAudit("police-nl", [&](const v1::AuditRecord& r) {
    return r.type() == v1::POLICY_REJECTED && r.actor() == BobId() &&
           r.policy_version() == kV1 && absl::StrContains(r.reason(), "never approved");
  });
  EXPECT_TRUE(refused.ok()) << refused.status();
  history = admin.History(false);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->proposals_size(), 3);
  EXPECT_EQ(history->proposals(0).version(), kV3);
  EXPECT_EQ(history->proposals(0).state(), PolicyProposal::SUPERSEDED);
  EXPECT_EQ(history->proposals(1).version(), kV2);
  EXPECT_EQ(history->proposals(1).state(), PolicyProposal::ACTIVE);
  EXPECT_EQ(history->proposals(1).activated_by(), AliceId());

  // An operator's edit of the file on disk joins the history too.
  const std::string edited = absl::StrReplaceAll(v1_text_, {{kV1, "2026-12-01.1"}});
  std::ofstream(policy_path_, std::ios::trunc) << edited;
  ASSERT_TRUE(WaitFor([&] {
    auto h = admin.History(false);
    return h.ok() && h->proposals(0).version() == "2026-12-01.1" &&
           h->proposals(0).state() == PolicyProposal::ACTIVE &&
           h->proposals(0).proposed_by() == "policy file on disk";
  }));
}

// Activation while a client streams items as fast as the gateway takes
// them: every item reaches customs once, and each was decided wholly under
// one version — the one its audit record and its provenance name.
TEST_F(PolicyAdminTest, ActivationUnderLoadMisdecidesNothing) {
  const std::string id = ProposeAndApproveV2();
  ASSERT_FALSE(id.empty());
  constexpr int kItems = 20'000;
  constexpr int kActivateAfter = 8'000;
  std::atomic<int> acknowledged{0};
  std::atomic<bool> activated{false};
  std::thread officer([&] {
    if (!WaitFor([&] { return acknowledged.load() >= kActivateAfter; },
                 absl::Minutes(2))) {
      ADD_FAILURE() << "the stream never reached " << kActivateAfter << " items";
      return;
    }
    auto alice = Alice();
    auto active = client::PolicyAdminClient(*alice).Activate(id);
    EXPECT_TRUE(active.ok()) << active.status() << f_.Logs();
    activated = active.ok();
  });
  int next = 0;
  int refused = 0;
  absl::Time start = absl::Now();
  absl::Status streamed = f_.ClientOf("police-nl").PushStream(
      [&]() -> std::optional<v1::Item> {
        if (next == kItems) return std::nullopt;
        return MakeAlertAt(absl::StrFormat("01JDQPB%019d", next++), "NLRTM");
      },
      [&](const v1::PushResult& result) {
        if (result.code() == 0) {
          ++acknowledged;
        } else {
          ++refused;
        }
      },
      512);
  double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  officer.join();
  ASSERT_TRUE(streamed.ok()) << streamed;
  ASSERT_EQ(refused, 0);
  ASSERT_EQ(acknowledged.load(), kItems);
  ASSERT_TRUE(activated.load());
  RecordProperty("items_per_second", static_cast<int>(kItems / seconds));
  std::cout << "pushed " << kItems << " items at " << static_cast<int>(kItems / seconds)
            << " items/s; activated after " << kActivateAfter << "\n";

  // Every item at customs exactly once.
  absl::StatusOr<std::map<ItemKey, int>> stored;
  ASSERT_TRUE(WaitFor(
      [&] {
        stored = f_.StoredVersions("customs-nl");
        return stored.ok() && static_cast<int>(stored->size()) >= kItems;
      },
      absl::Minutes(3)))
      << (stored.ok() ? absl::StrCat(stored->size(), " items") : stored.status().ToString());
  for (const auto& [key, copies] : *stored) {
    ASSERT_EQ(copies, 1) << std::get<1>(key);
  }

  // The version each decision for customs records ...
  std::map<std::string, std::string> decided_by;
  for (const v1::AuditRecord& r : f_.AuditWhere("police-nl", [](const v1::AuditRecord& r) {
         return r.type() == v1::SHARE_DECIDED && r.partner() == "customs-nl";
       })) {
    EXPECT_TRUE(decided_by.emplace(r.item().item_id(), r.policy_version()).second)
        << r.item().item_id() << " decided twice";
  }
  // ... is the version that projected what customs holds.
  auto held = f_.Inbox("customs-nl");
  ASSERT_TRUE(held.ok()) << held.status();
  std::map<std::string, int> per_version;
  int checked = 0;
  for (const v1::InboxEntry& entry : *held) {
    if (!absl::StartsWith(entry.item().item_id(), "01JDQPB")) continue;
    ++checked;
    const std::string& version = decided_by[entry.item().item_id()];
    ++per_version[version];
    ASSERT_FALSE(entry.item().provenance().empty());
    EXPECT_EQ(entry.item().provenance().rbegin()->policy_version(), version)
        << entry.item().item_id();
    if (version == kV1) {
      EXPECT_FALSE(entry.item().alert().title().empty()) << entry.item().item_id();
    } else {
      ASSERT_EQ(version, kV2) << entry.item().item_id();
      EXPECT_TRUE(entry.item().alert().title().empty()) << entry.item().item_id();
    }
    EXPECT_FALSE(entry.item().alert().location().unlocode().empty());
  }
  EXPECT_EQ(checked, kItems);
  // Both versions decided part of the stream.
  EXPECT_GE(per_version[kV1], kActivateAfter);
  EXPECT_GT(per_version[kV2], 0);
}

}  // namespace
}  // namespace havengate::testing
