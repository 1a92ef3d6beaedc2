// Runs the built `havenctl policy ...` commands on the demo policies and
// checks exit codes and output, as an officer would see them.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/policy_testing.h"

namespace havengate::policy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::SourceDir;
using testing::TempDir;

struct Result {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs a shell command line; stderr goes with stdout.
Result Shell(const std::string& command_line) {
  std::string command = absl::StrCat(command_line, " 2>&1");
  Result r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) r.output.append(buffer, n);
  int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

Result Havenctl(const std::string& args) {
  return Shell(absl::StrCat(testing::BinaryDir(), "/client/havenctl ", args));
}

std::string Sample(const std::string& name) {
  return absl::StrCat(SourceDir(), "/deploy/samples/", name);
}

class HavenctlPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(testing::BinaryDir() + "/client/havenctl"))
        << "build havenctl first";
    police_ = testing::CopyDeployPolicy("police-nl", dir_);
  }
  TempDir dir_;
  std::string police_;
};

TEST_F(HavenctlPolicyTest, CheckAcceptsEveryDemoPolicy) {
  for (const char* org : {"police-nl", "customs-nl", "port-rtm", "police-be", "police-ec"}) {
    std::string path = testing::CopyDeployPolicy(org, dir_);
    Result r = Havenctl("policy check " + path);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr(absl::StrCat("OK: policy of ", org)));
    EXPECT_THAT(r.output, HasSubstr(", 0 warnings"));
  }
}

TEST_F(HavenctlPolicyTest, CheckReportsErrorsWithPositions) {
  dir_.WriteFile("bad.yaml", R"(organisation: police-nl
version: "1"
partners: [{id: customs-nl}]
rules:
  - name: r
    to: [customs-nl, port-rtm]
    kinds: [ALERT]
    when: severity >= HIGHH
    share: [containers.numbr]
)");
  Result r = Havenctl("policy check " + dir_.path() + "/bad.yaml");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("bad.yaml:6:22: error: rule `r`: `port-rtm` is not a partner"));
  EXPECT_THAT(r.output, HasSubstr("bad.yaml:8:23: error: rule `r`: `HIGHH` is not a value"));
  EXPECT_THAT(r.output, HasSubstr("bad.yaml:9:13: error: rule `r`: `containers.numbr`"));
  EXPECT_THAT(r.output, HasSubstr("3 errors, 0 warnings; the policy cannot be used"));
}

TEST_F(HavenctlPolicyTest, TestRunsThePolicyTests) {
  Result r = Havenctl(absl::StrCat("policy test ", police_, " ", SourceDir(),
                                   "/deploy/policies/police-nl/policy_tests.yaml"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("PASS  TLP:RED is shared with nobody unless a rule names RED"));
  EXPECT_THAT(r.output, HasSubstr(" 0 failed"));

  dir_.WriteFile("police-nl/failing.yaml", absl::StrCat(R"(tests:
  - name: customs must not see suspects
    item: )", Sample("pin_code_fraud_rtm.json"), R"(
    expect:
      customs-nl: {absent: [persons.name]}
)"));
  Result failing = Havenctl(absl::StrCat("policy test ", police_, " ", dir_.path(),
                                         "/police-nl/failing.yaml"));
  EXPECT_EQ(failing.exit_code, 1);
  EXPECT_THAT(failing.output, HasSubstr("FAIL  customs must not see suspects"));
  EXPECT_THAT(failing.output,
              HasSubstr("customs-nl: persons.name: expected absent, but found 2 values"));
}

TEST_F(HavenctlPolicyTest, PreviewShowsEachPartnersView) {
  Result r = Havenctl(absl::StrCat("policy preview ", police_, " ",
                                   Sample("pin_code_fraud_rtm.json")));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("== customs-nl: receives the item"));
  EXPECT_THAT(r.output, HasSubstr("== port-rtm: receives the item"));
  EXPECT_THAT(r.output, HasSubstr("\"badge_id\": \"ECT-77120\""));
  EXPECT_THAT(r.output, Not(HasSubstr("NX4R7K2P9")));    // document number: withheld
  EXPECT_THAT(r.output, Not(HasSubstr("CI-RTM-0412")));  // informant: withheld

  Result red = Havenctl(absl::StrCat("policy preview ", police_, " ",
                                     Sample("insider_red_h2.json"), " --partner port-rtm"));
  EXPECT_EQ(red.exit_code, 0);
  EXPECT_THAT(red.output, HasSubstr("== port-rtm: receives nothing"));
  EXPECT_THAT(red.output, Not(HasSubstr("customs-nl")));

  Result explain = Havenctl(absl::StrCat("policy preview ", police_, " ",
                                         Sample("pin_code_fraud_rtm.json"),
                                         " --partner police-be --explain"));
  EXPECT_THAT(explain.output, HasSubstr("cross-border-alerts-to-antwerp: matched"));
  EXPECT_THAT(explain.output, HasSubstr("persons.name: transformed (pseudonymise with key "
                                        "`correlation-2026` by cross-border-alerts-to-antwerp"));
  EXPECT_THAT(explain.output, HasSubstr("containers.consignee: withheld"));

  Result json = Havenctl(absl::StrCat("policy preview ", police_, " ",
                                      Sample("rip_off_antwerp_received.json"),
                                      " --received --json"));
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_THAT(json.output, HasSubstr("{\"policy_version\":\"2026-11-28.1\",\"partners\":["));
  EXPECT_THAT(json.output, HasSubstr("\"partner\":\"customs-nl\",\"released\":true"));
  // port-rtm: no rule may forward a received item to it; only
  // informants-never-leave matches, and it protects without releasing (it
  // needs no forward_received for that). Before protections failed closed
  // it carried forward_received, and the reason was the originator's.
  EXPECT_THAT(json.output, HasSubstr("\"partner\":\"port-rtm\",\"released\":false,\"reason\":"
                                     "\"receives nothing: no rule that may release the item to "
                                     "this partner matched\",\"matched_rules\":[],"
                                     "\"protecting_rules\":[\"informants-never-leave\"]"));
  EXPECT_THAT(json.output, HasSubstr("\"partner\":\"customs-nl\",\"released\":true,"
                                     "\"reason\":\"receives the item\",\"matched_rules\":"
                                     "[\"forward-antwerp-rip-offs-to-customs\"]"));

  Result usage = Havenctl(absl::StrCat("policy preview ", police_, " ",
                                       Sample("pin_code_fraud_rtm.json"), " --partner nobody"));
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_THAT(usage.output, HasSubstr("`nobody` is not a partner"));
}

TEST_F(HavenctlPolicyTest, DiffShowsTheImpactOfAChange) {
  std::string text = testing::ReadFileOrDie(police_);
  // The new version stops withholding the consignee from Antwerp.
  std::string changed = text;
  const std::string before = "withhold: [containers.consignee, containers.bill_of_lading]";
  ASSERT_NE(changed.find(before), std::string::npos);
  changed.replace(changed.find(before), before.size(), "withhold: [containers.bill_of_lading]");
  changed.replace(changed.find("2026-11-28.1"), 12, "2026-11-29.1");
  dir_.WriteFile("police-nl/new.yaml", changed);
  std::string items = absl::StrCat(Sample("pin_code_fraud_rtm.json"), " ",
                                   Sample("suspicious_vessel.json"));
  Result r = Havenctl(absl::StrCat("policy diff ", police_, " ", dir_.path(),
                                   "/police-nl/new.yaml ", items));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("policy 2026-11-28.1 -> 2026-11-29.1"));
  EXPECT_THAT(r.output, HasSubstr("pin_code_fraud_rtm.json -> police-be: receives a different "
                                  "view\n  + containers.consignee"));
  Result gate = Havenctl(absl::StrCat("policy diff --exit-code ", police_, " ", dir_.path(),
                                      "/police-nl/new.yaml ", items));
  EXPECT_EQ(gate.exit_code, 1);
  Result same = Havenctl(absl::StrCat("policy diff --exit-code ", police_, " ", police_, " ",
                                      items));
  EXPECT_EQ(same.exit_code, 0);
  EXPECT_THAT(same.output, HasSubstr("no partner's view of these items changes"));
}

// Parses `json` with python3 and runs the assertions in `check` (a Python
// expression on `d`); exit code 0 if they hold.
Result CheckJson(const std::string& json_file, const std::string& check) {
  return Shell(absl::StrCat("/usr/bin/python3 -c 'import json,sys; "
                            "d=json.load(open(sys.argv[1])); assert ",
                            check, ", d' ", json_file));
}

constexpr char kSmallPolicy[] = R"(organisation: police-nl
version: "7"
partners: [{id: customs-nl}]
rules:
  - name: r
    to: [customs-nl]
    kinds: [ALERT]
    when: severity >= HIGH
    share: [containers.number]
)";

TEST_F(HavenctlPolicyTest, CheckJsonAndStdin) {
  dir_.WriteFile("small.yaml", kSmallPolicy);
  const std::string small = dir_.path() + "/small.yaml";
  Result json = Havenctl("policy check --json - < " + small);
  EXPECT_EQ(json.exit_code, 0) << json.output;
  EXPECT_THAT(json.output, HasSubstr("{\"file\":\"<stdin>\",\"ok\":true,\"errors\":0,"
                                     "\"warnings\":0,\"diagnostics\":[],"
                                     "\"organisation\":\"police-nl\",\"version\":\"7\","
                                     "\"partners\":1,\"rules\":1}"));
  Result text = Havenctl("policy check - < " + small);
  EXPECT_EQ(text.exit_code, 0) << text.output;
  EXPECT_THAT(text.output, HasSubstr("<stdin>: OK: policy of police-nl, version 7"));

  dir_.WriteFile("bad.yaml", "organisation: police-nl\nversion: \"1\"\npartners: []\n"
                             "rules: [{name: r, to: [port-rtm], share: [x]}]\n");
  Result bad = Havenctl("policy validate --json " + dir_.path() + "/bad.yaml > " +
                        dir_.path() + "/bad.json");
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  Result parsed = CheckJson(dir_.path() + "/bad.json",
                            "d[\"ok\"] is False and d[\"errors\"] >= 1 and "
                            "d[\"diagnostics\"][0][\"severity\"] == \"error\" and "
                            "d[\"diagnostics\"][0][\"line\"] == 4 and \"problem\" in d");
  EXPECT_EQ(parsed.exit_code, 0) << parsed.output;
}

TEST_F(HavenctlPolicyTest, PreviewReadsTheItemFromStdin) {
  Result r = Havenctl(absl::StrCat("policy preview ", police_, " - --json < ",
                                   Sample("pin_code_fraud_rtm.json")));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("\"partner\":\"customs-nl\",\"released\":true"));
}

TEST_F(HavenctlPolicyTest, TestAndDiffJson) {
  const std::string out = dir_.path() + "/out.json";
  Result test = Havenctl(absl::StrCat("policy test --json ", police_, " ", SourceDir(),
                                      "/deploy/policies/police-nl/policy_tests.yaml > ", out));
  EXPECT_EQ(test.exit_code, 0) << test.output;
  Result parsed = CheckJson(out, "d[\"failed\"] == 0 and d[\"passed\"] == len(d[\"results\"]) "
                                 "> 0 and all(r[\"passed\"] and r[\"failures\"] == [] "
                                 "for r in d[\"results\"])");
  EXPECT_EQ(parsed.exit_code, 0) << parsed.output;

  std::string changed = testing::ReadFileOrDie(police_);
  const std::string before = "withhold: [containers.consignee, containers.bill_of_lading]";
  ASSERT_NE(changed.find(before), std::string::npos);
  changed.replace(changed.find(before), before.size(), "withhold: [containers.bill_of_lading]");
  changed.replace(changed.find("2026-11-28.1"), 12, "2026-11-29.1");
  dir_.WriteFile("police-nl/new.yaml", changed);
  Result diff = Havenctl(absl::StrCat("policy diff --json ", police_, " ", dir_.path(),
                                      "/police-nl/new.yaml ", Sample("pin_code_fraud_rtm.json"),
                                      " > ", out));
  EXPECT_EQ(diff.exit_code, 0) << diff.output;
  parsed = CheckJson(out, "d[\"old_version\"] == \"2026-11-28.1\" and "
                          "d[\"new_version\"] == \"2026-11-29.1\" and d[\"changed\"] and "
                          "any(c[\"partner\"] == \"police-be\" and "
                          "\"containers.consignee\" in c[\"gained\"] for c in d[\"changes\"])");
  EXPECT_EQ(parsed.exit_code, 0) << parsed.output;
}

TEST_F(HavenctlPolicyTest, UnknownSubcommandIsNamed) {
  Result r = Havenctl("policy chekc " + police_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("chekc"));
  Result top = Havenctl("polcy check " + police_);
  EXPECT_EQ(top.exit_code, 2);
  EXPECT_THAT(top.output, HasSubstr("polcy"));
}

TEST_F(HavenctlPolicyTest, KeygenCreatesMissingKeysOnce) {
  dir_.WriteFile("fresh/policy.yaml",
                 testing::ReadFileOrDie(SourceDir() + "/deploy/policies/customs-nl/policy.yaml"));
  std::string path = dir_.path() + "/fresh/policy.yaml";
  EXPECT_EQ(Havenctl("policy check " + path).exit_code, 1);
  Result created = Havenctl("policy keygen " + path);
  EXPECT_EQ(created.exit_code, 0);
  EXPECT_THAT(created.output, HasSubstr("created " + dir_.path() + "/fresh/keys/traders.key"));
  EXPECT_EQ(Havenctl("policy check " + path).exit_code, 0);
  EXPECT_THAT(Havenctl("policy keygen " + path).output, HasSubstr("nothing created"));
}

}  // namespace
}  // namespace havengate::policy
