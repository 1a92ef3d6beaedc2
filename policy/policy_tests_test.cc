// The policy-tests file format and runner (havenctl policy test), the diff
// (havenctl policy diff), and the shipped demo policies and samples.
#include "policy/policy_tests.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/diff.h"
#include "policy/item_paths.h"
#include "policy/policy_testing.h"
#include "proto/item_validation.h"

namespace havengate::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using testing::SampleItem;
using testing::SourceDir;
using testing::TempDir;

constexpr char kPolicy[] = R"(organisation: police-nl
version: "1"
partners: [{id: customs-nl}, {id: port-rtm}]
keys: [{name: k, file: k.key}]
rules:
  - name: customs
    to: [customs-nl]
    kinds: [ALERT]
    share: [title, containers, persons.name, persons.role]
    transform: {persons.name: {pseudonymise: k}}
)";

class PolicyTestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = testing::LoadWithKeys(kPolicy, dir_);
    ASSERT_TRUE(p.ok()) << p.status();
    policy_ = *p;
    dir_.WriteFile("item.json", testing::ReadFileOrDie(
                                    SourceDir() + "/deploy/samples/pin_code_fraud_rtm.json"));
  }
  absl::StatusOr<PolicyTestSuite> Parse(const std::string& text) {
    diagnostics_.clear();
    return ParsePolicyTests(text, "t.yaml", dir_.path(), &diagnostics_);
  }
  TempDir dir_;
  std::shared_ptr<const CompiledPolicy> policy_;
  std::vector<Diagnostic> diagnostics_;
};

TEST_F(PolicyTestsTest, PassingSuite) {
  auto suite = Parse(R"(tests:
  - name: file item
    item: item.json
    expect:
      customs-nl:
        receives: true
        present: [title, containers.number]
        absent: [persons.date_of_birth, location, source]
        values:
          containers.number: [MSCU4812360, CSQU3054383]
          containers.port_of_loading: ECGYE
          persons.role: [DRIVER, EMPLOYEE]
          classification.tlp: AMBER
        matches: {persons.name: "^ps:[0-9a-f]{32}$"}
      "*": {receives: false}
  - name: inline item with patch
    item: {item_id: x1, classification: {tlp: GREEN}, alert: {title: t, category: SEIZURE}}
    patch: {alert: {title: patched}}
    expect:
      customs-nl: {values: {title: patched}, absent: [category]}
      port-rtm: {receives: false}
)");
  ASSERT_TRUE(suite.ok()) << suite.status() << FormatDiagnostics(diagnostics_);
  ASSERT_EQ(suite->tests.size(), 2u);
  EXPECT_EQ(suite->tests[0].where, "t.yaml:2:5");
  TestReport report = RunPolicyTests(*policy_, *suite);
  EXPECT_EQ(report.passed(), 2) << report.ToString();
  EXPECT_EQ(report.failed(), 0);
  EXPECT_THAT(report.ToString(), HasSubstr("2 tests, 2 passed, 0 failed"));
}

TEST_F(PolicyTestsTest, FailuresNameThePartnerAndTheField) {
  auto suite = Parse(R"(tests:
  - name: wrong expectations
    item: item.json
    expect:
      customs-nl:
        present: [description, vessels.imo]
        absent: [containers.number]
        values: {containers.number: [CSQU3054383], title: x}
        matches: {containers.number: "^X"}
      port-rtm: {receives: true, present: [title]}
      nobody: {receives: false}
  - name: received item gets nothing
    item: item.json
    received: true
    expect:
      customs-nl: {receives: true}
)");
  ASSERT_TRUE(suite.ok()) << suite.status();
  EXPECT_TRUE(suite->tests[1].received_from_partner);
  TestReport report = RunPolicyTests(*policy_, *suite);
  EXPECT_EQ(report.failed(), 2);
  EXPECT_THAT(report.results[0].failures, UnorderedElementsAre(
      "nobody: not a partner in this policy",
      "customs-nl: description: expected present, but it is absent",
      "customs-nl: vessels.imo: expected present, but it is absent",
      "customs-nl: containers.number: expected absent, but found 2 values",
      "customs-nl: containers.number: expected [CSQU3054383], found [MSCU4812360, CSQU3054383]",
      HasSubstr("customs-nl: title: expected x, found [Release PIN"),
      "customs-nl: containers.number: expected every value to match /^X/, found [MSCU4812360, CSQU3054383]",
      "port-rtm: expected to receive the item, but it receives nothing: no rule that may release the item to this partner matched",
      "port-rtm: title: expected present, but the partner receives nothing"));
  EXPECT_THAT(report.results[1].failures, ElementsAre(HasSubstr(
      "customs-nl: expected to receive the item, but it receives nothing")));
  EXPECT_THAT(report.ToString(), HasSubstr("FAIL  wrong expectations (t.yaml:2:5)"));
}

TEST_F(PolicyTestsTest, FileErrorsArePinned) {
  auto suite = Parse(R"(tests:
  - name: a
    item: missing.json
    expect: {customs-nl: {receives: yes}}
  - name: a
    itme: item.json
    expect: {}
  - name: c
    item: {alert: {colour: red}}
    expect: {customs-nl: {presnt: [title], matches: {title: "("}}}
)");
  EXPECT_FALSE(suite.ok());
  std::vector<std::string> lines;
  for (const Diagnostic& d : diagnostics_) lines.push_back(d.ToString());
  EXPECT_THAT(lines, UnorderedElementsAre(
      HasSubstr("t.yaml:3:11: error: cannot read item file"),
      "t.yaml:4:37: error: `receives` takes true or false",
      "t.yaml:6:5: error: unknown key `itme` in a test (did you mean `item`?)",
      "t.yaml:5:5: error: test name `a` is used twice",
      "t.yaml:9:11: error: item: alert: unknown field \"colour\"",
      "t.yaml:10:27: error: unknown key `presnt` in an expectation (did you mean `present`?)"));
}

TEST(ItemPathsTest, ValuesFormatEveryType) {
  v1::Item item = SampleItem("pin_code_fraud_rtm.json");
  auto values = [&](const char* path) { return *ValuesAtPath(item, path); };
  EXPECT_THAT(values("observed_at"), ElementsAre("2026-11-28T03:17:45Z"));
  EXPECT_THAT(values("location.position.latitude"), ElementsAre("51.951287"));
  EXPECT_THAT(values("severity"), ElementsAre("HIGH"));
  EXPECT_THAT(values("version"), ElementsAre("1"));
  EXPECT_THAT(values("location.position"), ElementsAre("{...}"));
  EXPECT_THAT(values("companies.name"), IsEmpty());
  EXPECT_THAT(values("persons.badge_id"), ElementsAre("ECT-77120"));
  EXPECT_FALSE(ValuesAtPath(item, "summary").ok());
}

TEST(DiffTest, ReportsGainedLostChangedAndReceivers) {
  TempDir dir;
  auto before = testing::LoadWithKeys(R"(organisation: police-nl
version: "1"
partners: [{id: customs-nl}, {id: port-rtm}]
keys: [{name: k, file: k.key}]
rules:
  - {name: a, to: [customs-nl], kinds: [ALERT], share: [title, persons.name, containers.number],
     transform: {persons.name: {pseudonymise: k}}}
  - {name: b, to: [port-rtm], kinds: [ALERT], share: [containers.number]}
)",
                                      dir);
  auto after = testing::LoadWithKeys(R"(organisation: police-nl
version: "2"
partners: [{id: customs-nl}, {id: port-rtm}, {id: police-be}]
keys: [{name: k, file: k.key}]
rules:
  - {name: a, to: [customs-nl], kinds: [ALERT], share: [title, persons.name, vessels.imo]}
  - {name: c, to: [police-be], kinds: [ALERT], share: [category]}
)",
                                     dir);
  ASSERT_TRUE(before.ok() && after.ok());
  std::vector<NamedItem> items = {{"pin.json", SampleItem("pin_code_fraud_rtm.json")}};
  PolicyDiff diff = DiffPolicies(**before, **after, items);
  EXPECT_EQ(diff.old_version, "1");
  ASSERT_EQ(diff.changes.size(), 3u);
  const PartnerChange& customs = diff.changes[0];
  EXPECT_EQ(customs.partner, "customs-nl");
  EXPECT_THAT(customs.gained, ElementsAre("vessels.imo"));
  EXPECT_THAT(customs.lost, ElementsAre("containers.number"));
  EXPECT_THAT(customs.changed, ElementsAre("persons.name: pseudonymise -> as is"));
  EXPECT_EQ(diff.changes[1].partner, "port-rtm");
  EXPECT_TRUE(diff.changes[1].received_before);
  EXPECT_FALSE(diff.changes[1].received_after);
  EXPECT_EQ(diff.changes[2].partner, "police-be");
  EXPECT_TRUE(diff.changes[2].received_after);
  std::string text = diff.ToString();
  EXPECT_THAT(text, HasSubstr("pin.json -> port-rtm: NO LONGER RECEIVES the item"));
  EXPECT_THAT(text, HasSubstr("pin.json -> police-be: NOW RECEIVES the item\n  + category"));
  EXPECT_THAT(text, HasSubstr("  ~ persons.name: pseudonymise -> as is"));
  EXPECT_TRUE(DiffPolicies(**before, **before, items).empty());

  // Per partner over several items: the same item twice counts twice.
  items.push_back({"pin-again.json", items[0].item});
  std::vector<PartnerSummary> summary =
      SummariseByPartner(DiffPolicies(**before, **after, items));
  ASSERT_EQ(summary.size(), 3u);
  EXPECT_EQ(summary[0].partner, "customs-nl");
  EXPECT_EQ(summary[0].items_changed, 2);
  EXPECT_EQ(summary[0].items_lost, 0);
  EXPECT_THAT(summary[0].gained, ElementsAre(Pair("vessels.imo", 2)));
  EXPECT_THAT(summary[0].lost, ElementsAre(Pair("containers.number", 2)));
  EXPECT_THAT(summary[0].changed,
              ElementsAre(Pair("persons.name: pseudonymise -> as is", 2)));
  EXPECT_EQ(summary[1].partner, "port-rtm");
  EXPECT_EQ(summary[1].items_lost, 2);
  EXPECT_EQ(summary[2].partner, "police-be");
  EXPECT_EQ(summary[2].items_gained, 2);
  EXPECT_THAT(summary[2].gained, ::testing::Contains(Pair("category", 2)));
}

// Every sample item passes ingest validation (check digits included).
TEST(SamplesTest, EverySampleIsAValidItem) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(SourceDir() + "/deploy/samples")) {
    if (entry.path().extension() != ".json") continue;
    ++count;
    v1::Item item = SampleItem(entry.path().filename().string());
    EXPECT_TRUE(ValidateItem(item).ok()) << entry.path() << ": " << ValidateItem(item);
  }
  EXPECT_GE(count, 6);
}

TEST(SamplesTest, TheRichestAlertHasAboutFortyFields) {
  v1::Item item = SampleItem("pin_code_fraud_rtm.json");
  size_t leaves = 0;
  for (const std::string& path : PresentLeafPaths(item)) {
    leaves += ValuesAtPath(item, path)->size();
  }
  EXPECT_GE(leaves, 38u);
  EXPECT_LE(leaves, 48u);
}

// The demo policies load without errors or warnings and pass their tests.
class DeployPolicyTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DeployPolicyTest, LoadsCleanlyAndPassesItsTests) {
  TempDir dir;
  std::string path = testing::CopyDeployPolicy(GetParam(), dir);
  std::vector<Diagnostic> diagnostics;
  auto p = LoadPolicyFile(path, &diagnostics);
  ASSERT_TRUE(p.ok()) << FormatDiagnostics(diagnostics);
  EXPECT_THAT(diagnostics, IsEmpty()) << FormatDiagnostics(diagnostics);
  EXPECT_EQ((*p)->organisation(), GetParam());
  EXPECT_FALSE((*p)->source().inbound().accept().empty());
  auto suite = LoadPolicyTestsFile(
      absl::StrCat(SourceDir(), "/deploy/policies/", GetParam(), "/policy_tests.yaml"),
      &diagnostics);
  ASSERT_TRUE(suite.ok()) << suite.status() << FormatDiagnostics(diagnostics);
  EXPECT_GE(suite->tests.size(), 2u);
  TestReport report = RunPolicyTests(**p, *suite);
  EXPECT_EQ(report.failed(), 0) << report.ToString();
}

INSTANTIATE_TEST_SUITE_P(Organisations, DeployPolicyTest,
                         ::testing::Values("police-nl", "customs-nl", "port-rtm", "police-be",
                                           "police-ec"));

}  // namespace
}  // namespace havengate::policy
