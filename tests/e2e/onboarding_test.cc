// Onboarding a partner as the README's "Federate with a partner" says, with
// the real binaries: each organisation exports its partner bundle from its
// gateway's configuration, the other adds it (`havenctl peer add`), both
// name each other in their policies, --check-config passes, and after a
// restart an alert released by police-nl's policy reaches customs-nl over
// mutual TLS — field by field. Tampered and duplicate bundles are refused
// and leave the configuration as it was.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/harness.h"

namespace havengate::testing {
namespace {

using ::testing::HasSubstr;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

CommandResult Havenctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {HavenctlBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

class OnboardingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto police = CreateTestOrg(dir_.path(), "police-nl", "police.nl.example");
    auto customs = CreateTestOrg(dir_.path(), "customs-nl", "customs.nl.example");
    ASSERT_TRUE(police.ok() && customs.ok());
    police_ = *police;
    customs_ = *customs;
    // Each organisation's gateway as it ran before federating: no peers,
    // no policy (the harness writes its config).
    for (auto [org, gateway] : {std::pair{&police_, &police_gw_}, {&customs_, &customs_gw_}}) {
      GatewaySpec spec;
      spec.org = org;
      auto started = GatewayProcess::Start(spec);
      ASSERT_TRUE(started.ok()) << started.status();
      *gateway = std::move(*started);
    }
  }

  std::string Config(const TestOrg& org) { return org.dir + "/gateway.yaml"; }

  std::string ExportBundle(const TestOrg& org, const GatewayProcess& gateway) {
    const std::string out = org.dir + "/" + org.id + ".bundle";
    CommandResult r = Havenctl({"peer", "bundle", "export", "--config", Config(org),
                                "--address", absl::StrCat("localhost:", gateway.port()),
                                "--out", out});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return out;
  }

  TempDir dir_;
  TestOrg police_, customs_;
  std::unique_ptr<GatewayProcess> police_gw_, customs_gw_;
};

TEST_F(OnboardingTest, TwoOrganisationsFederateWithOneBundleEachWay) {
  const std::string police_bundle = ExportBundle(police_, *police_gw_);
  const std::string customs_bundle = ExportBundle(customs_, *customs_gw_);
  const std::string bundle_text = ReadText(police_bundle);
  EXPECT_THAT(bundle_text, HasSubstr("havengate_partner_bundle: 1"));
  EXPECT_THAT(bundle_text, HasSubstr("spiffe_id: spiffe://police.nl.example/gateway"));
  EXPECT_THAT(bundle_text, HasSubstr("BEGIN CERTIFICATE"));
  EXPECT_THAT(bundle_text, ::testing::Not(HasSubstr("PRIVATE KEY")));

  // Each adds the other's bundle.
  CommandResult added = Havenctl({"peer", "add", customs_bundle, "--config", Config(police_)});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  EXPECT_THAT(added.out, HasSubstr("added customs-nl"));
  EXPECT_THAT(added.out, HasSubstr("CA fingerprint (SHA-256)"));
  added = Havenctl({"peer", "add", police_bundle, "--config", Config(customs_)});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  EXPECT_TRUE(std::filesystem::exists(police_.dir + "/peers/customs-nl/ca.crt"));
  EXPECT_EQ(ReadText(police_.dir + "/peers/customs-nl/ca.crt"), ReadText(customs_.ca_file));

  // Adding it again is refused, and the config stays as it is.
  const std::string config_before = ReadText(Config(police_));
  CommandResult again = Havenctl({"peer", "add", customs_bundle, "--config", Config(police_)});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("customs-nl (customs.nl.example) is already a peer"));
  EXPECT_EQ(ReadText(Config(police_)), config_before);

  // Each names the other in its policy: police-nl releases alerts' title
  // and containers to customs-nl, which accepts alerts from police-nl.
  const std::string police_policy = police_.dir + "/policy.yaml";
  std::ofstream(police_policy) << R"(organisation: police-nl
version: "onboarding-1"
partners: [{id: customs-nl}]
rules:
  - {name: alerts-to-customs, to: [customs-nl], kinds: [ALERT], share: [category, title, containers.number]}
)";
  const std::string customs_policy = customs_.dir + "/policy.yaml";
  std::ofstream(customs_policy) << R"(organisation: customs-nl
version: "onboarding-1"
partners: [{id: police-nl}]
rules: []
inbound: {accept: [{from: [police-nl], kinds: [ALERT]}]}
)";
  std::ofstream(Config(police_), std::ios::app) << "policy: " << police_policy << "\n";
  std::ofstream(Config(customs_), std::ios::app) << "policy: " << customs_policy << "\n";

  // Stop both; the pre-flight passes on the edited configurations (their
  // ports are free again); restart.
  ASSERT_TRUE(police_gw_->Terminate().ok());
  ASSERT_TRUE(customs_gw_->Terminate().ok());
  for (const TestOrg* org : {&police_, &customs_}) {
    CommandResult check =
        RunCommand({HavengateBinary(), "--config", Config(*org), "--check-config"});
    EXPECT_EQ(check.exit_code, 0) << check.err;
  }
  ASSERT_TRUE(customs_gw_->Restart().ok()) << customs_gw_->ReadLog();
  ASSERT_TRUE(police_gw_->Restart().ok()) << police_gw_->ReadLog();

  auto police_client = ConnectClient(police_, police_gw_->port());
  ASSERT_TRUE(police_client.ok());
  v1::Item alert = MakeAlert("onboarded-1", "Container released with a stolen PIN");
  alert.mutable_alert()->add_containers()->set_number("MSCU4812360");
  ASSERT_TRUE((*police_client)->Push(alert).ok());

  auto customs_client = ConnectClient(customs_, customs_gw_->port());
  ASSERT_TRUE(customs_client.ok());
  v1::InboxEntry received;
  ASSERT_TRUE(WaitFor([&] {
    v1::ListRequest request;
    request.set_page_size(10);
    auto page = (*customs_client)->List(request);
    if (!page.ok()) return false;
    for (const v1::InboxEntry& e : page->entries()) {
      if (e.item().item_id() == "onboarded-1") {
        received = e;
        return true;
      }
    }
    return false;
  })) << police_gw_->ReadLog();
  EXPECT_EQ(received.received_from(), "police-nl");
  EXPECT_EQ(received.item().origin(), "police-nl");
  const v1::Alert& got = received.item().alert();
  EXPECT_EQ(got.title(), "Container released with a stolen PIN");
  ASSERT_EQ(got.containers_size(), alert.alert().containers_size());
  EXPECT_EQ(got.containers(got.containers_size() - 1).number(), "MSCU4812360");
  EXPECT_TRUE(got.persons().empty()) << "persons were not released";
  EXPECT_TRUE(got.description().empty()) << "the description was not released";
}

TEST_F(OnboardingTest, AlteredOrWrongBundlesAreRefusedAndChangeNothing) {
  const std::string bundle = ExportBundle(customs_, *customs_gw_);
  const std::string text = ReadText(bundle);
  const std::string config_before = ReadText(Config(police_));
  struct Case {
    std::string name, from, to, error;
  };
  const std::vector<Case> cases = {
      {"another domain with this CA", "customs.nl.example", "police.nl.example",
       "ca_certificate: "},
      {"gateway id of another domain", "spiffe_id: spiffe://customs.nl.example/gateway",
       "spiffe_id: spiffe://police.nl.example/gateway", "is not the gateway of"},
      {"fingerprint altered", "ca_sha256: ", "ca_sha256: 00", "does not match ca_certificate"},
      {"bad port", "address: localhost:", "address: localhost:9", ""},
  };
  for (const Case& c : cases) {
    std::string altered = absl::StrReplaceAll(text, {{c.from, c.to}});  // every occurrence
    if (c.name == "bad port") {
      altered = absl::StrReplaceAll(text, {{absl::StrCat("localhost:", customs_gw_->port()),
                                            "localhost:99999"}});
    }
    ASSERT_NE(altered, text) << c.name;
    const std::string file = absl::StrCat(dir_.path(), "/altered.bundle");
    std::ofstream(file, std::ios::trunc) << altered;
    CommandResult r = Havenctl({"peer", "add", file, "--config", Config(police_)});
    EXPECT_EQ(r.exit_code, 1) << c.name;
    EXPECT_THAT(r.err, HasSubstr(c.name == "bad port" ? "port from 1 to 65535" : c.error))
        << c.name;
    EXPECT_EQ(ReadText(Config(police_)), config_before) << c.name;
  }
  EXPECT_FALSE(std::filesystem::exists(police_.dir + "/peers"));
}

}  // namespace
}  // namespace havengate::testing
