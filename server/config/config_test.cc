#include "server/config/config.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace havengate::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("config_test_", getpid());
    std::filesystem::create_directories(dir_ / "certs");
    for (const char* f : {"certs/gw.crt", "certs/gw.key", "certs/ca.crt",
                          "certs/customs-ca.crt"}) {
      std::ofstream(dir_ / f) << "x";
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  absl::StatusOr<GatewayConfig> Parse(const std::string& yaml) {
    return ParseGatewayConfig(yaml, "gateway.yaml", dir_.string());
  }

  std::filesystem::path dir_;
};

constexpr const char* kValid = R"yaml(
organisation: {id: police-nl, domain: police.nl.example}
listen: 127.0.0.1:0
port_file: run/port
tls:
  certificate: certs/gw.crt
  private_key: certs/gw.key
  ca: certs/ca.crt
  reload_interval_seconds: 2
store: {path: data/gw.db}
peers:
  - id: customs-nl
    domain: customs.nl.example
    address: 127.0.0.1:7444
    ca: certs/customs-ca.crt
limits: {max_item_bytes: 65536}
)yaml";

TEST_F(ConfigTest, ReadsEveryKeyAndResolvesPathsAgainstTheFile) {
  auto c = Parse(kValid);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->organisation_id, "police-nl");
  EXPECT_EQ(c->organisation_domain, "police.nl.example");
  EXPECT_EQ(c->listen_address, "127.0.0.1:0");
  EXPECT_EQ(c->port_file, (dir_ / "run/port").string());
  EXPECT_EQ(c->tls.certificate, (dir_ / "certs/gw.crt").string());
  EXPECT_EQ(c->tls.reload_interval, absl::Seconds(2));
  EXPECT_EQ(c->store.backend, StoreBackend::kSqlite);
  EXPECT_EQ(c->store.path, (dir_ / "data/gw.db").string());
  ASSERT_EQ(c->peers.size(), 1u);
  EXPECT_EQ(c->peers[0].id, "customs-nl");
  EXPECT_EQ(c->peers[0].ca, (dir_ / "certs/customs-ca.crt").string());
  EXPECT_EQ(c->limits.max_item_bytes, 65536);
  EXPECT_EQ(c->limits.max_message_bytes, 4 << 20);
  EXPECT_EQ(c->log_format, "text");
}

TEST_F(ConfigTest, ReportsEveryProblemWithItsKey) {
  auto c = Parse(R"yaml(
organisation: {id: Police NL}
listen: nowhere
tls: {certificate: certs/missing.crt, private_key: certs/gw.key, ca: certs/ca.crt}
store: {}
peers:
  - {id: customs-nl, domain: customs.nl.example, address: x:99999, ca: certs/customs-ca.crt}
  - {id: customs-nl, domain: customs.nl.example, address: 127.0.0.1:1, ca: certs/customs-ca.crt}
limits: {max_item_bytes: lots}
)yaml");
  ASSERT_FALSE(c.ok());
  const std::string m(c.status().message());
  EXPECT_THAT(m, HasSubstr("organisation.id: must be an organisation id"));
  EXPECT_THAT(m, HasSubstr("organisation.domain: is required"));
  EXPECT_THAT(m, HasSubstr("listen: must be host:port"));
  EXPECT_THAT(m, HasSubstr("tls.certificate: cannot read file"));
  EXPECT_THAT(m, HasSubstr("store.path: is required"));
  // The real problem, not the shape: x:99999 is host:port with a bad port.
  EXPECT_THAT(m, HasSubstr("peers[0].address: port 99999 is out of range (0 to 65535)"));
  EXPECT_THAT(m, HasSubstr("peers[1].id: is listed twice"));
  EXPECT_THAT(m, HasSubstr("limits.max_item_bytes: must be a whole number"));
  EXPECT_THAT(m, HasSubstr("gateway.yaml:"));
}

TEST_F(ConfigTest, PeerCrlRefreshDefaultsToFiveMinutesAndNeedsACrlFile) {
  auto c = Parse(kValid);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->peers[0].crl_refresh, absl::Minutes(5));
  auto d = Parse(R"yaml(
organisation: {id: police-nl, domain: police.nl.example}
listen: 127.0.0.1:0
tls: {certificate: certs/gw.crt, private_key: certs/gw.key, ca: certs/ca.crt}
store: {path: data/gw.db}
peers:
  - {id: customs-nl, domain: customs.nl.example, address: 127.0.0.1:1,
     ca: certs/customs-ca.crt, crl_refresh_seconds: 60}
  - {id: port-rdam, domain: port.example, address: 127.0.0.1:2,
     ca: certs/customs-ca.crt, crl_refresh_seconds: 0}
)yaml");
  ASSERT_FALSE(d.ok());
  const std::string m(d.status().message());
  EXPECT_THAT(m, HasSubstr("peers[0].crl_refresh_seconds: needs crl"));
  EXPECT_THAT(m, HasSubstr("peers[1].crl_refresh_seconds: must be between 1 and 86400"));
}

TEST_F(ConfigTest, AuditCheckpointsDefaultBesideTheStoreAndCanBeSet) {
  auto c = Parse(kValid);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->audit.checkpoint_every_records, 1000);
  EXPECT_EQ(c->audit.checkpoint_interval, absl::Seconds(60));
  EXPECT_EQ(c->audit.checkpoint_file,
            (dir_ / "data/gw.db.checkpoints").string());
  c = Parse(std::string(kValid) +
            "audit: {checkpoint_every_records: 50, "
            "checkpoint_interval_seconds: 5, checkpoint_file: evidence/cp}\n"
            "metrics: {listen: 127.0.0.1:9443}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->audit.checkpoint_every_records, 50);
  EXPECT_EQ(c->audit.checkpoint_interval, absl::Seconds(5));
  EXPECT_EQ(c->audit.checkpoint_file, (dir_ / "evidence/cp").string());
  EXPECT_EQ(c->metrics_listen_address, "127.0.0.1:9443");
  c = Parse(std::string(kValid) +
            "audit: {checkpoint_every_records: 0, checkpoint_intervals: 5}\n");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(),
              HasSubstr("audit.checkpoint_every_records: must be between"));
  EXPECT_THAT(c.status().message(),
              HasSubstr("audit.checkpoint_intervals: unknown key"));
}

// kValid with its limits line replaced.
std::string WithLimits(const std::string& limits) {
  std::string yaml = kValid;
  const std::string line = "limits: {max_item_bytes: 65536}\n";
  yaml.replace(yaml.find(line), line.size(), limits);
  return yaml;
}

TEST_F(ConfigTest, StoreBackendIsSqliteUnlessTheFileNamesAnother) {
  auto c = Parse(absl::StrReplaceAll(
      kValid, {{"store: {path: data/gw.db}",
                "store: {backend: sqlite, path: data/gw.db}"}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->store.backend, StoreBackend::kSqlite);
  EXPECT_EQ(StoreBackendName(c->store.backend), "sqlite");
  EXPECT_EQ(c->store.path, (dir_ / "data/gw.db").string());
}

TEST_F(ConfigTest, AnUnknownStoreBackendIsAnErrorNamingTheKey) {
  for (const char* backend : {"postgres-someday", "SQLite", "\"\""}) {
    auto c = Parse(absl::StrReplaceAll(
        kValid, {{"store: {path: data/gw.db}",
                  absl::StrCat("store: {backend: ", backend, ", path: data/gw.db}")}}));
    ASSERT_FALSE(c.ok()) << backend;
    EXPECT_THAT(c.status().message(),
                HasSubstr("store.backend: unknown backend"));
    EXPECT_THAT(c.status().message(), HasSubstr("expected one of: sqlite"));
  }
  auto c = Parse(absl::StrReplaceAll(
      kValid, {{"store: {path: data/gw.db}",
                "store: {backend: [sqlite], path: data/gw.db}"}}));
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(),
              HasSubstr("store.backend: must be a single value"));
  c = Parse(absl::StrReplaceAll(
      kValid, {{"store: {path: data/gw.db}",
                "store: {backend: sqlite, path: data/gw.db, dsn: x}"}}));
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("store.dsn: is for backend postgresql"));
}

TEST_F(ConfigTest, PostgresqlStoreTakesADsnAndNoFileBesideIt) {
  auto c = Parse(absl::StrReplaceAll(
      kValid, {{"store: {path: data/gw.db}",
                "store: {backend: postgresql, dsn: 'host=db1,db2 dbname=gw "
                "passfile=/etc/havengate/pgpass target_session_attrs=read-write'}"},
               {"reload_interval_seconds: 2",
                "reload_interval_seconds: 2\n  state_dir: state/tls"}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->store.backend, StoreBackend::kPostgresql);
  EXPECT_EQ(StoreBackendName(c->store.backend), "postgresql");
  EXPECT_EQ(c->store.dsn,
            "host=db1,db2 dbname=gw passfile=/etc/havengate/pgpass "
            "target_session_attrs=read-write");
  EXPECT_EQ(c->store.path, "");
  EXPECT_EQ(c->audit.checkpoint_file, "") << "no file unless the config names one";

  // A dsn is required, a path refused, and the TLS state must be placed.
  c = Parse(absl::StrReplaceAll(
      kValid, {{"store: {path: data/gw.db}",
                "store: {backend: postgresql, path: data/gw.db}"}}));
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("store.dsn: is required"));
  EXPECT_THAT(c.status().message(), HasSubstr("store.path: is for backend sqlite"));
  EXPECT_THAT(c.status().message(),
              HasSubstr("tls.state_dir: is required with store.backend postgresql"));
}

TEST_F(ConfigTest, TlsStateDefaultsBesideTheStoreAndCanBeSet) {
  auto c = Parse(kValid);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tls.state_dir, (dir_ / "data/gw.db.tls").string());
  c = Parse(absl::StrReplaceAll(
      kValid, {{"reload_interval_seconds: 2",
                "reload_interval_seconds: 2\n  state_dir: state/tls"}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tls.state_dir, (dir_ / "state/tls").string());
  EXPECT_EQ(c->audit.checkpoint_file,
            (dir_ / "data/gw.db.checkpoints").string())
      << "each path is its own setting";
}

TEST_F(ConfigTest, PerCallerLimitsHaveDefaultsAndCanBeSetOrTurnedOff) {
  auto c = Parse(kValid);
  ASSERT_TRUE(c.ok()) << c.status();
  const limits::CallerLimitsOptions& d = c->limits.per_caller;
  EXPECT_EQ(d.calls_per_second, 200);
  EXPECT_EQ(d.call_burst, 1000);
  EXPECT_EQ(d.items_per_second, 1000);
  EXPECT_EQ(d.item_burst, 10000);
  EXPECT_EQ(d.max_concurrent_calls, 64);
  c = Parse(WithLimits(R"yaml(limits:
  per_caller:
    calls_per_second: 0
    call_burst: 7
    items_per_second: 50
    item_burst: 500
    max_concurrent_calls: 4
)yaml"));
  ASSERT_TRUE(c.ok()) << c.status();
  const limits::CallerLimitsOptions& p = c->limits.per_caller;
  EXPECT_EQ(p.calls_per_second, 0);
  EXPECT_EQ(p.call_burst, 7);
  EXPECT_EQ(p.items_per_second, 50);
  EXPECT_EQ(p.item_burst, 500);
  EXPECT_EQ(p.max_concurrent_calls, 4);
}

TEST_F(ConfigTest, BadPerCallerLimitsAreReportedWithTheirKeys) {
  auto c = Parse(WithLimits(R"yaml(limits:
  per_caller:
    calls_per_second: -1
    call_burst: 0
    items_per_second: fast
    max_concurrent_calls: 1000000
    connections: 3
)yaml"));
  ASSERT_FALSE(c.ok());
  const std::string m(c.status().message());
  EXPECT_THAT(m, HasSubstr("limits.per_caller.calls_per_second: must be between 0 and"));
  EXPECT_THAT(m, HasSubstr("limits.per_caller.call_burst: must be between 1 and"));
  EXPECT_THAT(m, HasSubstr("limits.per_caller.items_per_second: must be a whole number"));
  EXPECT_THAT(m, HasSubstr("limits.per_caller.max_concurrent_calls: must be between 0 and 100000"));
  EXPECT_THAT(m, HasSubstr("limits.per_caller.connections: unknown key"));
  c = Parse(WithLimits("limits: {per_caller: 5}\n"));
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(),
              HasSubstr("limits.per_caller: must be a mapping"));
}

TEST_F(ConfigTest, HitQuestionLimitsHaveDefaultsAndBadValuesAreNamed) {
  auto c = Parse(kValid);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->limits.hit_questions_per_second, 2);
  EXPECT_EQ(c->limits.hit_question_burst, 30);
  c = Parse(WithLimits("limits: {hit_questions_per_second: 0, hit_question_burst: 5}\n"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->limits.hit_questions_per_second, 0);
  EXPECT_EQ(c->limits.hit_question_burst, 5);
  c = Parse(WithLimits("limits: {hit_questions_per_second: -1, hit_question_burst: 0}\n"));
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(),
              HasSubstr("limits.hit_questions_per_second: must be between 0 and"));
  EXPECT_THAT(c.status().message(),
              HasSubstr("limits.hit_question_burst: must be between 1 and"));
}

TEST_F(ConfigTest, UnknownKeysAreErrorsNotIgnored) {
  std::string yaml = std::string(kValid) + "plaintext_port: 8080\n";
  auto c = Parse(yaml);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("plaintext_port: unknown key"));
}

// The audit benchmark's switch is a field of the struct only: no file can
// turn the audit off, under any spelling of the key.
TEST_F(ConfigTest, NoConfigFileCanDiscardTheAudit) {
  auto c = Parse(kValid);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->discard_audit_for_benchmark);
  for (const char* yaml :
       {"discard_audit_for_benchmark: true\n",
        "audit: {discard_audit_for_benchmark: true}\n",
        "store: {path: data/gw.db, discard_audit_for_benchmark: true}\n"}) {
    std::string text = std::string(kValid) + yaml;
    if (absl::StrContains(yaml, "store:")) {
      text.replace(text.find("store: {path: data/gw.db}\n"),
                   sizeof("store: {path: data/gw.db}\n") - 1, "");
    }
    c = Parse(text);
    ASSERT_FALSE(c.ok()) << yaml;
    EXPECT_THAT(c.status().message(),
                HasSubstr("discard_audit_for_benchmark: unknown key"))
        << yaml;
  }
}

TEST_F(ConfigTest, PeerMayNotBeOwnOrganisationOrDomain) {
  auto c = Parse(R"yaml(
organisation: {id: police-nl, domain: police.nl.example}
listen: 127.0.0.1:0
tls: {certificate: certs/gw.crt, private_key: certs/gw.key, ca: certs/ca.crt}
store: {path: gw.db}
peers:
  - {id: police-nl, domain: police.nl.example, address: 127.0.0.1:1, ca: certs/ca.crt}
)yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("peers[0].id: is this gateway's own"));
  EXPECT_THAT(c.status().message(), HasSubstr("peers[0].domain: is this gateway's own"));
}

TEST_F(ConfigTest, BrokenYamlNamesLineAndColumn) {
  auto c = Parse("organisation: {id: police-nl\nlisten: [\n");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("gateway.yaml:"));
  EXPECT_THAT(c.status().message(), HasSubstr("not valid YAML"));
}

TEST_F(ConfigTest, MissingFileIsNotFound) {
  EXPECT_EQ(LoadGatewayConfig((dir_ / "nope.yaml").string()).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace havengate::config
