// Runs the real `havenctl pki` binary: the operator's path through the PKI.
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "certs/ca.h"
#include "certs/x509.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace havengate::pki {
namespace {

using ::testing::HasSubstr;

struct CliRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

class HavenctlPkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The build tree: $HAVENGATE_BINARY_DIR, else the parent of this test
    // binary's directory (<build>/certs/havenctl_pki_test).
    const char* bin = getenv("HAVENGATE_BINARY_DIR");
    const std::filesystem::path build =
        bin != nullptr
            ? std::filesystem::path(bin)
            : std::filesystem::read_symlink("/proc/self/exe").parent_path().parent_path();
    havenctl_ = (build / "client" / "havenctl").string();
    ASSERT_TRUE(std::filesystem::exists(havenctl_)) << havenctl_;
    char tmpl[] = "/tmp/hg-havenctl-pki-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // Runs `havenctl <args>` in the test directory. Arguments are ours, never
  // user input, so plain shell quoting is enough.
  CliRun Havenctl(const std::string& args) {
    return Shell(absl::StrCat("'", havenctl_, "' ", args));
  }
  // Runs a shell command line in the test directory, stderr with stdout.
  CliRun Shell(const std::string& command_line) {
    const std::string command =
        absl::StrCat("cd '", root_, "' && ", command_line, " 2>&1");
    CliRun run;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return run;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) run.output.append(buf, n);
    int status = pclose(pipe);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
  }
  std::string Path(absl::string_view name) const {
    return absl::StrCat(root_, "/", name);
  }

  std::string havenctl_;
  std::string root_;
};

TEST_F(HavenctlPkiTest, FullLifecycle) {
  CliRun init = Havenctl("pki init-ca --org police-nl --domain police.nl.example --dir ca");
  ASSERT_EQ(init.exit_code, 0) << init.output;
  EXPECT_THAT(init.output, HasSubstr("trust domain police.nl.example"));

  CliRun gw = Havenctl("pki issue --ca-dir ca --role gateway --out gw --dns localhost");
  ASSERT_EQ(gw.exit_code, 0) << gw.output;
  EXPECT_THAT(gw.output, HasSubstr("spiffe://police.nl.example/gateway"));
  CliRun client = Havenctl(
      "pki issue --ca-dir ca --role client --name case-system --out clients --days 30");
  ASSERT_EQ(client.exit_code, 0) << client.output;
  absl::StatusOr<Certificate> cert = ReadCertificateFile(Path("clients/case-system.crt"));
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_NEAR(absl::ToDoubleHours(cert->not_after() - absl::Now()), 24 * 30, 0.1);
  struct stat st;
  ASSERT_EQ(stat(Path("clients/case-system.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  CliRun show = Havenctl("pki show clients/case-system.crt --ca ca/ca.crt --crl ca/crl.pem");
  EXPECT_EQ(show.exit_code, 0) << show.output;
  EXPECT_THAT(show.output, HasSubstr("role         client"));
  EXPECT_THAT(show.output, HasSubstr(cert->SerialHex()));
  EXPECT_THAT(show.output, HasSubstr("verification ok"));

  CliRun revoke = Havenctl("pki revoke --ca-dir ca clients/case-system.crt");
  ASSERT_EQ(revoke.exit_code, 0) << revoke.output;
  absl::StatusOr<Crl> crl = Crl::ReadFile(Path("ca/crl.pem"));
  ASSERT_TRUE(crl.ok());
  EXPECT_TRUE(crl->IsRevoked(*cert));
  CliRun show_revoked =
      Havenctl("pki show clients/case-system.crt --ca ca/ca.crt --crl ca/crl.pem");
  EXPECT_EQ(show_revoked.exit_code, 1);
  EXPECT_THAT(show_revoked.output, HasSubstr("FAILED (revoked)"));

  CliRun fresh = Havenctl("pki crl --ca-dir ca --out published.crl --days 7");
  ASSERT_EQ(fresh.exit_code, 0) << fresh.output;
  absl::StatusOr<Crl> published = Crl::ReadFile(Path("published.crl"));
  ASSERT_TRUE(published.ok());
  EXPECT_GT(published->crl_number(), crl->crl_number());

  CliRun list = Havenctl("pki list --ca-dir ca");
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_THAT(list.output, HasSubstr("revoked"));
  EXPECT_THAT(list.output, HasSubstr("spiffe://police.nl.example/gateway"));
}

TEST_F(HavenctlPkiTest, RefusalsArePlainAndNonZero) {
  ASSERT_EQ(Havenctl("pki init-ca --org police-nl --domain police.nl.example --dir ca")
                .exit_code,
            0);
  CliRun again = Havenctl("pki init-ca --org police-nl --domain police.nl.example --dir ca");
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.output, HasSubstr("refusing to overwrite"));

  ASSERT_EQ(Havenctl("pki issue --ca-dir ca --role client --name pcs --out c").exit_code, 0);
  CliRun overwrite = Havenctl("pki issue --ca-dir ca --role client --name pcs --out c");
  EXPECT_EQ(overwrite.exit_code, 1);
  EXPECT_THAT(overwrite.output, HasSubstr("c/pcs.key already exists"));

  CliRun bad_domain = Havenctl("pki init-ca --org x-y --domain Bad.Example --dir ca2");
  EXPECT_EQ(bad_domain.exit_code, 1);
  EXPECT_THAT(bad_domain.output, HasSubstr("lower-case"));

  CliRun no_name = Havenctl("pki issue --ca-dir ca --role officer --out c");
  EXPECT_EQ(no_name.exit_code, 1);
  EXPECT_THAT(no_name.output, HasSubstr("--name is required"));

  CliRun bad_role = Havenctl("pki issue --ca-dir ca --role admin --name x --out c");
  EXPECT_EQ(bad_role.exit_code, 2);

  CliRun both = Havenctl("pki revoke --ca-dir ca c/pcs.crt --serial 01");
  EXPECT_EQ(both.exit_code, 1);

  CliRun unknown = Havenctl("pki revoke --ca-dir ca --serial 0123abcd");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.output, HasSubstr("not in the index"));

  CliRun missing = Havenctl("pki show nope.crt");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.output, HasSubstr("nope.crt"));

  for (const char* help : {"pki --help", "pki init-ca --help", "pki issue --help",
                           "pki revoke --help", "pki crl --help", "pki show --help",
                           "pki list --help"}) {
    CliRun h = Havenctl(help);
    EXPECT_EQ(h.exit_code, 0) << help;
    EXPECT_THAT(h.output, HasSubstr("Usage")) << help;
  }
}

TEST_F(HavenctlPkiTest, IssueWithIpSansAndJson) {
  ASSERT_EQ(Havenctl("pki init-ca --org police-nl --domain police.nl.example --dir ca")
                .exit_code,
            0);
  CliRun issue = Havenctl(
      "pki issue --ca-dir ca --role gateway --out gw --dns localhost --ip 127.0.0.1 "
      "--ip ::1 --json");
  ASSERT_EQ(issue.exit_code, 0) << issue.output;
  EXPECT_THAT(issue.output,
              HasSubstr("\"spiffe_id\":\"spiffe://police.nl.example/gateway\""));
  EXPECT_THAT(issue.output, HasSubstr("\"ip_addresses\":[\"127.0.0.1\",\"::1\"]"));
  absl::StatusOr<Certificate> cert = ReadCertificateFile(Path("gw/gateway.crt"));
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_THAT(cert->IpSans(), ::testing::ElementsAre("127.0.0.1", "::1"));
  EXPECT_THAT(cert->DnsSans(), ::testing::ElementsAre("localhost"));

  // The certificate as curl sees it: its IP SAN matches the address dialled.
  CliRun openssl = Shell("openssl x509 -in gw/gateway.crt -noout -checkip 127.0.0.1");
  EXPECT_THAT(openssl.output, HasSubstr("does match certificate")) << openssl.output;

  // pki show --json: one object that a JSON parser reads.
  CliRun show = Havenctl(
      "pki show gw/gateway.crt --ca ca/ca.crt --json > show.json && /usr/bin/python3 -c '"
      "import json; d = json.load(open(\"show.json\")); "
      "assert d[\"ip_addresses\"] == [\"127.0.0.1\", \"::1\"], d; "
      "assert d[\"dns_names\"] == [\"localhost\"], d; "
      "assert d[\"role\"] == \"gateway\" and d[\"state\"] == \"valid\", d; "
      "assert d[\"verification\"][\"ok\"] is True, d; print(\"parsed\")'");
  EXPECT_EQ(show.exit_code, 0) << show.output;
  EXPECT_THAT(show.output, HasSubstr("parsed"));
  CliRun text = Havenctl("pki show gw/gateway.crt");
  EXPECT_THAT(text.output, HasSubstr("IP addresses 127.0.0.1, ::1"));

  // pki list --json: one object per certificate and line.
  ASSERT_EQ(Havenctl("pki issue --ca-dir ca --role client --name pcs --out c").exit_code, 0);
  ASSERT_EQ(Havenctl("pki revoke --ca-dir ca c/pcs.crt").exit_code, 0);
  CliRun list = Havenctl(
      "pki list --ca-dir ca --json | /usr/bin/python3 -c '"
      "import json, sys; rows = [json.loads(l) for l in sys.stdin]; "
      "assert len(rows) == 2, rows; "
      "s = {r[\"spiffe_id\"]: r[\"status\"] for r in rows}; "
      "assert s == {\"spiffe://police.nl.example/gateway\": \"valid\", "
      "\"spiffe://police.nl.example/client/pcs\": \"revoked\"}, rows; "
      "assert all(\"serial\" in r and \"not_after\" in r for r in rows); "
      "print(\"parsed\")'");
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_THAT(list.output, HasSubstr("parsed"));

  CliRun bad_ip = Havenctl("pki issue --ca-dir ca --role gateway --name g2 --out g2 --ip 300.1.2.3");
  EXPECT_EQ(bad_ip.exit_code, 1);
  EXPECT_THAT(bad_ip.output, HasSubstr("\"300.1.2.3\" is not an IPv4 or IPv6 address"));
  CliRun ip_as_dns = Havenctl("pki issue --ca-dir ca --role gateway --name g3 --out g3 --dns 10.0.0.1");
  EXPECT_EQ(ip_as_dns.exit_code, 1);
  EXPECT_THAT(ip_as_dns.output, HasSubstr("IP SAN"));
}

TEST_F(HavenctlPkiTest, UnknownSubcommandIsNamed) {
  CliRun pki = Havenctl("pki isue --ca-dir ca");
  EXPECT_EQ(pki.exit_code, 2);
  EXPECT_THAT(pki.output, HasSubstr("isue"));
  CliRun top = Havenctl("pkk list");
  EXPECT_EQ(top.exit_code, 2);
  EXPECT_THAT(top.output, HasSubstr("pkk"));
}

}  // namespace
}  // namespace havengate::pki
