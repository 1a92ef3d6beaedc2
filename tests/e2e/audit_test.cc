// End-to-end tests of the evidence and observability of a gateway: a real
// havengate process writes its audit log and checkpoint file; `havenctl
// audit` verifies copies of them after tampering done with sqlite3; the
// Prometheus endpoint is scraped over HTTPS with client certificates; the
// federation health service follows the peers.
#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "evidence/audit_chain.h"
#include "evidence/audit_store.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "havengate/v1/federation.pb.h"
#include "httplib.h"
#include "proto/json.h"
#include "server/metrics/exposition_parser.h"
#include "tests/testing/harness.h"

namespace havengate::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

// Item contents that must never reach the audit log or its export.
constexpr char kCanaryTitle[] = "Canary Operation Nightjar";
constexpr char kCanaryPerson[] = "Wilhelmina Canaryfield";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

v1::Item CanaryAlert(const std::string& id) {
  v1::Item item = MakeAlert(id, kCanaryTitle);
  item.mutable_alert()->mutable_persons(0)->set_name(kCanaryPerson);
  return item;
}

// One organisation's gateway with small checkpoint intervals and metrics.
class AuditE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A refused TLS connection may break the pipe under httplib's client.
    signal(SIGPIPE, SIG_IGN);
    auto police = CreateTestOrg(dir_.path(), "police-nl", "police.nl.example");
    ASSERT_TRUE(police.ok()) << police.status();
    police_ = *police;
    auto customs = CreateTestOrg(dir_.path(), "customs-nl", "customs.nl.example");
    ASSERT_TRUE(customs.ok()) << customs.status();
    customs_ = *customs;
  }

  void StartGateway(const std::string& extra_yaml = "") {
    metrics_port_ = PickUnusedPort();
    GatewaySpec spec;
    spec.org = &police_;
    spec.extra_yaml = absl::StrCat(
        "audit: {checkpoint_every_records: 10, checkpoint_interval_seconds: "
        "3600}\n",
        "metrics: {listen: 127.0.0.1:", metrics_port_, "}\n", extra_yaml);
    auto gateway = GatewayProcess::Start(spec);
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_ = std::move(*gateway);
    auto client = ConnectClient(police_, gateway_->port());
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }

  // Pushes `n` canary items and one invalid item, then stops the gateway
  // cleanly (which seals the log with a last checkpoint).
  void ProduceLog(int n) {
    StartGateway();
    for (int i = 0; i < n; ++i) {
      auto receipt = client_->Push(CanaryAlert(absl::StrCat("rtm-", i)));
      ASSERT_TRUE(receipt.ok()) << receipt.status();
    }
    v1::Item invalid = CanaryAlert("rtm-bad");
    invalid.mutable_alert()->clear_title();
    EXPECT_FALSE(client_->Push(invalid).ok());
    client_.reset();
    auto stopped = gateway_->Terminate();
    ASSERT_TRUE(stopped.ok()) << stopped.status();
    ASSERT_EQ(*stopped, 0) << gateway_->ReadLog();
    store_ = gateway_->store_file();
    checkpoints_ = store_ + ".checkpoints";
    ASSERT_TRUE(fs::exists(checkpoints_));
    // The log as written: sequence -> type.
    auto reader = evidence::AuditStore::Open(store_);
    ASSERT_TRUE(reader.ok()) << reader.status();
    ASSERT_TRUE((*reader)
                    ->ForEachRecord([&](const v1::AuditRecord& r) {
                      types_.push_back(r.type());
                      return true;
                    })
                    .ok());
  }

  // A sequence k in the middle whose record and neighbours are ingests.
  uint64_t MiddleIngest() {
    for (size_t i = types_.size() / 2; i + 1 < types_.size(); ++i) {
      if (types_[i - 1] == v1::ITEM_INGESTED && types_[i] == v1::ITEM_INGESTED &&
          types_[i + 1] == v1::ITEM_INGESTED) {
        return i + 1;  // sequences start at 1
      }
    }
    ADD_FAILURE() << "no three ingests in a row";
    return 0;
  }

  // A copy of the store and its checkpoint file, to tamper with.
  std::string CopyStore(const std::string& name) {
    fs::path dir = fs::path(dir_.path()) / name;
    fs::create_directories(dir);
    std::string copy = (dir / "gateway.db").string();
    fs::copy_file(store_, copy);
    fs::copy_file(checkpoints_, copy + ".checkpoints");
    return copy;
  }

  static void Sqlite3(const std::string& db, const std::string& sql) {
    CommandResult r = RunCommand({"sqlite3", db, sql});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  CommandResult Havenctl(std::vector<std::string> args) {
    args.insert(args.begin(), HavenctlBinary());
    return RunCommand(args);
  }

  CommandResult Verify(const std::string& store,
                       const std::string& cert = "") {
    return Havenctl({"audit", "verify", "--store", store, "--cert",
                     cert.empty() ? police_.gateway_cert : cert});
  }

  TempDir dir_;
  TestOrg police_, customs_;
  int metrics_port_ = 0;
  std::unique_ptr<GatewayProcess> gateway_;
  std::unique_ptr<client::Client> client_;
  std::string store_, checkpoints_;
  std::vector<v1::AuditEventType> types_;  // types_[s - 1]: record s
};

TEST_F(AuditE2eTest, VerifyPassesOnARealLogAndChecksSignatures) {
  ProduceLog(30);
  // 30 ingests, a rejection, start and stop, and checkpoints: every 10
  // records and a last one at shutdown.
  ASSERT_GE(types_.size(), 36u);
  EXPECT_EQ(types_.front(), v1::GATEWAY_STARTED);
  EXPECT_EQ(types_.back(), v1::CHECKPOINT) << "sealed at shutdown";
  EXPECT_EQ(types_[types_.size() - 2], v1::GATEWAY_STOPPED);

  CommandResult ok = Verify(store_);
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("OK: the audit log is intact"));
  EXPECT_THAT(ok.out, HasSubstr(absl::StrCat("records      ", types_.size(),
                                             " (sequence 1..", types_.size(),
                                             ")")));
  EXPECT_THAT(ok.out, HasSubstr("0 after the last"));
  EXPECT_THAT(ok.out, Not(HasSubstr("note:")));

  // Another organisation's gateway certificate: every signature fails.
  CommandResult foreign = Verify(store_, customs_.gateway_cert);
  EXPECT_EQ(foreign.exit_code, 1) << foreign.out;
  EXPECT_THAT(foreign.out, HasSubstr("(CHECKPOINT): bad signature"));
  EXPECT_THAT(foreign.out, HasSubstr("signatures   0 verified"));
}

struct Tampering {
  std::string name;
  // Changes the copy; returns the lines verify must print.
  std::function<std::vector<std::string>(AuditE2eTest&, const std::string& db)>
      apply;
};

TEST_F(AuditE2eTest, EveryKindOfTamperingIsReportedWithItsPlace) {
  ProduceLog(30);
  const uint64_t k = MiddleIngest();
  ASSERT_GT(k, 2u);
  const uint64_t last = types_.size();

  std::vector<Tampering> cases = {
      {"changed byte",
       [k](AuditE2eTest&, const std::string& db) -> std::vector<std::string> {
         // One byte of the caller's id inside record k, changed in place.
         sqlite3* h = nullptr;
         EXPECT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
         sqlite3_stmt* s = nullptr;
         sqlite3_prepare_v2(h, "SELECT record FROM audit WHERE sequence=?", -1,
                            &s, nullptr);
         sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(k));
         EXPECT_EQ(sqlite3_step(s), SQLITE_ROW);
         std::string blob(static_cast<const char*>(sqlite3_column_blob(s, 0)),
                          static_cast<size_t>(sqlite3_column_bytes(s, 0)));
         sqlite3_finalize(s);
         size_t at = blob.find("police.nl.example");
         EXPECT_NE(at, std::string::npos);
         blob[at] = 'P';
         sqlite3_prepare_v2(h, "UPDATE audit SET record=? WHERE sequence=?", -1,
                            &s, nullptr);
         sqlite3_bind_blob(s, 1, blob.data(), static_cast<int>(blob.size()),
                           SQLITE_TRANSIENT);
         sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(k));
         EXPECT_EQ(sqlite3_step(s), SQLITE_DONE);
         sqlite3_finalize(s);
         sqlite3_close(h);
         return {absl::StrCat("record ", k, " (ITEM_INGESTED): changed: its "
                              "content does not match its hash")};
       }},
      {"deleted record",
       [k](AuditE2eTest& t, const std::string& db) -> std::vector<std::string> {
         t.Sqlite3(db, absl::StrCat("DELETE FROM audit WHERE sequence=", k));
         return {absl::StrCat("record ", k, ": removed")};
       }},
      {"inserted copy",
       // Rows from k on move up one; row k gets a copy of record 2.
       [k](AuditE2eTest& t, const std::string& db) -> std::vector<std::string> {
         t.Sqlite3(db, absl::StrCat(
                           "UPDATE audit SET sequence=-sequence-1 WHERE "
                           "sequence>=", k, ";"
                           "UPDATE audit SET sequence=-sequence WHERE sequence<0;"
                           "INSERT INTO audit(sequence, record) SELECT ", k,
                           ", record FROM audit WHERE sequence=2;"));
         return {absl::StrCat("record 2 (ITEM_INGESTED): inserted: a second "
                              "record claims sequence 2 (store row ", k, ")")};
       }},
      {"inserted forgery",
       // A well-formed record with a correct hash, linked to record k-1.
       [k](AuditE2eTest& t, const std::string& db) -> std::vector<std::string> {
         auto reader = evidence::AuditStore::Open(db);
         std::string previous_hash;
         EXPECT_TRUE((*reader)
                         ->ForEachRecord([&](const v1::AuditRecord& r) {
                           if (r.sequence() == k - 1) previous_hash = r.hash();
                           return true;
                         })
                         .ok());
         reader->reset();
         v1::AuditRecord forged;
         forged.set_type(v1::ITEM_RETRACTED);
         evidence::SealAuditRecord(k, previous_hash, forged);
         t.Sqlite3(db, absl::StrCat(
                           "UPDATE audit SET sequence=-sequence-1 WHERE "
                           "sequence>=", k, ";"
                           "UPDATE audit SET sequence=-sequence WHERE sequence<0;"
                           "INSERT INTO audit(sequence, record) VALUES(", k,
                           ", X'",
                           absl::BytesToHexString(
                               evidence::AuditRecordBytes(forged)),
                           "');"));
         return {absl::StrCat("record ", k, " (ITEM_INGESTED): inserted: a "
                              "second record claims sequence ", k,
                              " (store rows ", k, " and ", k + 1, ")")};
       }},
      {"swapped records",
       [k](AuditE2eTest& t, const std::string& db) -> std::vector<std::string> {
         t.Sqlite3(db, absl::StrCat(
                           "CREATE TEMP TABLE t AS SELECT sequence, record FROM "
                           "audit WHERE sequence IN (", k, ",", k + 1, ");"
                           "UPDATE audit SET record=(SELECT record FROM t WHERE "
                           "t.sequence = ", 2 * k + 1, " - audit.sequence) "
                           "WHERE sequence IN (", k, ",", k + 1, ");"));
         return {absl::StrCat("record ", k, " (ITEM_INGESTED): reordered: out "
                              "of order: stored after record ", k + 1)};
       }},
      {"cut-off tail",
       // The last 3 records: the final checkpoint, GATEWAY_STOPPED, one more.
       [last](AuditE2eTest& t, const std::string& db) -> std::vector<std::string> {
         t.Sqlite3(db, absl::StrCat("DELETE FROM audit WHERE sequence>", last - 3));
         return {absl::StrCat("records ", last - 2, "..", last,
                              ": cut-off tail: the log ends at record ",
                              last - 3)};
       }},
  };

  for (const Tampering& c : cases) {
    SCOPED_TRACE(c.name);
    std::string db = CopyStore(absl::StrCat("tamper-", &c - &cases[0]));
    ASSERT_EQ(Verify(db).exit_code, 0) << "the copy verifies before";
    std::vector<std::string> expected = c.apply(*this, db);
    CommandResult r = Verify(db);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    for (const std::string& line : expected) {
      EXPECT_THAT(r.out, HasSubstr(absl::StrCat("PROBLEM ", line))) << r.out;
    }
    EXPECT_THAT(r.out, HasSubstr("FAILED: 1 problem:")) << r.out;
    EXPECT_THAT(r.out, Not(HasSubstr(kCanaryTitle)));
  }
}

TEST_F(AuditE2eTest, ExportIsJsonLinesWithoutItemContents) {
  ProduceLog(12);
  // The canaries are in the store (so their absence below means something).
  std::string raw = ReadFile(store_);
  ASSERT_THAT(raw, HasSubstr(kCanaryTitle));
  ASSERT_THAT(raw, HasSubstr(kCanaryPerson));

  CommandResult r = Havenctl({"audit", "export", "--store", store_, "--since",
                              "2000-01-01", "--format", "jsonl"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), types_.size());
  uint64_t sequence = 0;
  for (const std::string& line : lines) {
    v1::AuditRecord record;
    ASSERT_TRUE(ParseJson(line, &record).ok()) << line;
    EXPECT_EQ(record.sequence(), ++sequence);
  }
  EXPECT_THAT(r.out, Not(HasSubstr(kCanaryTitle)));
  EXPECT_THAT(r.out, Not(HasSubstr(kCanaryPerson)));
  EXPECT_THAT(r.out, Not(HasSubstr("Nightjar")));

  // A period with nothing in it.
  CommandResult none = Havenctl({"audit", "export", "--store", store_,
                                 "--since", "2000-01-01", "--until",
                                 "2000-01-02"});
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_EQ(none.out, "");

  // The oversight questions run on the same file (nothing was shared: no
  // peers and no policy in this gateway).
  CommandResult shared = Havenctl({"audit", "shared", "--store", store_,
                                   "--partner", "customs-nl", "--container",
                                   "CSQU3054383"});
  EXPECT_EQ(shared.exit_code, 0) << shared.err;
  EXPECT_THAT(shared.out, HasSubstr("0 decisions (0 released), 0 delivered"));
  CommandResult rule = Havenctl(
      {"audit", "rule", "--store", store_, "--field", "persons.name"});
  EXPECT_EQ(rule.exit_code, 0) << rule.err;
  EXPECT_THAT(rule.out, HasSubstr("released under 0 policy versions"));
  CommandResult bad = Havenctl({"audit", "received", "--store", store_,
                                "--partner", "customs-nl", "--since", "soon"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("--since"));
}

// GET /metrics with an optional client certificate, verifying the gateway.
httplib::Result Scrape(int port, const std::string& ca, const std::string& cert,
                       const std::string& key) {
  std::unique_ptr<httplib::SSLClient> cli =
      cert.empty() ? std::make_unique<httplib::SSLClient>("localhost", port)
                   : std::make_unique<httplib::SSLClient>("localhost", port,
                                                          cert, key);
  cli->set_hostname_addr_map({{"localhost", "127.0.0.1"}});
  cli->set_ca_cert_path(ca);
  cli->enable_server_certificate_verification(true);
  cli->set_connection_timeout(5, 0);
  cli->set_read_timeout(5, 0);
  return cli->Get("/metrics");
}

TEST_F(AuditE2eTest, MetricsAreScrapedOverHttpsWithAnOwnCaCertificateOnly) {
  StartGateway();
  auto scrape = [&]() -> metrics::Exposition {
    httplib::Result res = Scrape(metrics_port_, police_.ca_file,
                                 police_.client_cert, police_.client_key);
    EXPECT_TRUE(res) << httplib::to_string(res.error());
    if (!res) return {};
    EXPECT_EQ(res->status, 200);
    auto parsed = metrics::ParseExposition(res->body);
    EXPECT_TRUE(parsed.ok()) << parsed.status() << "\n" << res->body;
    return parsed.ok() ? *parsed : metrics::Exposition{};
  };
  metrics::Exposition before = scrape();
  EXPECT_EQ(before.Find("havengate_items_ingested_total"), 0.0);
  EXPECT_EQ(before.Find("havengate_store_healthy"), 1.0);

  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client_->Push(CanaryAlert(absl::StrCat("m-", i))).ok());
  }
  v1::Item invalid = CanaryAlert("m-bad");
  invalid.mutable_alert()->clear_title();
  EXPECT_FALSE(client_->Push(invalid).ok());

  // The rejection is audited asynchronously: wait for it.
  metrics::Exposition after;
  EXPECT_TRUE(WaitFor([&] {
    after = scrape();
    return after.Find("havengate_calls_rejected_total",
                      {{"method", "Push"}, {"code", "INVALID_ARGUMENT"}}) == 1.0;
  }, absl::Seconds(10)));
  EXPECT_EQ(after.Find("havengate_items_ingested_total"), 3.0);
  EXPECT_EQ(after.Find("havengate_audit_records_total",
                       {{"type", "ITEM_INGESTED"}}),
            3.0);
  EXPECT_EQ(after.Find("havengate_audit_records_total",
                       {{"type", "CALL_REJECTED"}}),
            1.0);
  EXPECT_GE(after.Find("havengate_audit_last_sequence").value_or(0), 5.0);
  EXPECT_EQ(after.types.at("havengate_delivery_latency_seconds"), "histogram");
  EXPECT_EQ(after.types.at("havengate_items_ingested_total"), "counter");
  // Never item contents in labels or anywhere.
  httplib::Result raw = Scrape(metrics_port_, police_.ca_file,
                               police_.client_cert, police_.client_key);
  ASSERT_TRUE(raw);
  EXPECT_THAT(raw->body, Not(HasSubstr("Canary")));
  EXPECT_THAT(raw->body, Not(HasSubstr("alert.title")));

  // Without a client certificate, or with one of another organisation's
  // CA, there is no scrape.
  httplib::Result anonymous = Scrape(metrics_port_, police_.ca_file, "", "");
  EXPECT_FALSE(anonymous) << "status " << anonymous->status;
  httplib::Result foreign = Scrape(metrics_port_, police_.ca_file,
                                   customs_.client_cert, customs_.client_key);
  EXPECT_FALSE(foreign) << "status " << foreign->status;
  // And no plaintext.
  httplib::Client plain("127.0.0.1", metrics_port_);
  plain.set_read_timeout(5, 0);
  httplib::Result cleartext = plain.Get("/metrics");
  EXPECT_FALSE(cleartext && cleartext->status == 200);
}

// grpc.health.v1.Health/Check for `service` through the client library: 1
// SERVING, 2 NOT_SERVING, or -1 if the call failed.
int HealthStatus(client::Client& client, const std::string& service) {
  auto status = client.Health(service);
  return status.ok() ? static_cast<int>(*status) : -1;
}

// `havenctl health --json` against `org`'s gateway at `port`.
CommandResult HavenctlHealth(const TestOrg& org, int port) {
  return RunCommand({HavenctlBinary(), "health", "--json", "--address",
                     absl::StrCat("localhost:", port), "--cert", org.client_cert, "--key",
                     org.client_key, "--ca", org.ca_file, "--gateway-id", org.gateway_id()});
}

TEST_F(AuditE2eTest, FederationHealthFollowsThePeers) {
  // A configured peer that is not running. (localhost: the peer's
  // certificate names localhost, not 127.0.0.1.)
  const int customs_port = PickUnusedPort();
  StartGateway(absl::StrCat("peers:\n  - {id: customs-nl, domain: ",
                            customs_.domain, ", address: localhost:",
                            customs_port, ", ca: ", customs_.ca_file, "}\n"));
  auto federation = [&] {
    return HealthStatus(*client_, "havengate.v1.Federation");
  };
  EXPECT_EQ(HealthStatus(*client_, ""), 1);
  // Nothing to send: links connect only to send, an idle peer is fine.
  EXPECT_EQ(federation(), 1);

  // Something waits for that peer (queued a minute ago, as a policy would
  // queue it; written into the stopped gateway's outbox).
  client_.reset();
  ASSERT_TRUE(gateway_->Terminate().ok());
  v1::FederationMessage message;
  message.mutable_retraction()->set_origin("police-nl");
  message.mutable_retraction()->set_item_id("rtm-gone");
  message.mutable_retraction()->set_reason("withdrawn");
  const int64_t queued_us = absl::ToUnixMicros(absl::Now() - absl::Minutes(1));
  Sqlite3(gateway_->store_file(),
          absl::StrCat("INSERT INTO outbox(partner, sequence, payload, "
                       "expires_at_us, enqueued_at_us) VALUES('customs-nl', 1, "
                       "X'",
                       absl::BytesToHexString(message.SerializeAsString()),
                       "', 0, ",
                       queued_us, ");"
                       "INSERT INTO outbox_sequence VALUES('customs-nl', 1);"));
  ASSERT_TRUE(gateway_->Restart().ok()) << gateway_->ReadLog();
  auto client = ConnectClient(police_, gateway_->port());
  ASSERT_TRUE(client.ok());
  client_ = std::move(*client);
  EXPECT_TRUE(WaitFor([&] { return federation() == 2; }, absl::Seconds(20)))
      << "a backlog and no link: not serving";
  EXPECT_EQ(HealthStatus(*client_, ""), 1) << "overall: the store";
  // What a probe script sees: exit 1 and why.
  CommandResult probe = HavenctlHealth(police_, gateway_->port());
  EXPECT_EQ(probe.exit_code, 1) << probe.out << probe.err;
  EXPECT_THAT(probe.out,
              ::testing::StartsWith(absl::StrCat(
                  "{\"address\":\"localhost:", gateway_->port(),
                  "\",\"gateway\":\"SERVING\",\"federation\":"
                  "\"NOT_SERVING\",\"policy_file\":\"SERVING\",\"config\":\"SERVING\","
                  "\"serving\":false,\"peers\":[{\"partner\":\"customs-nl\",\"connected\":false,")));
  // The break reason depends on how far the first attempt got; no crl file.
  EXPECT_THAT(probe.out, ::testing::EndsWith(
                             "\"crl\":\"not_configured\",\"crl_number\":-1,"
                             "\"crl_next_update\":\"\",\"crl_last_fetched\":\"\"}]}\n"));

  // The peer comes up: the link delivers and federation is serving again.
  GatewaySpec customs_spec;
  customs_spec.org = &customs_;
  customs_spec.port = customs_port;
  customs_spec.peers = {{&police_, gateway_->port()}};
  auto customs = GatewayProcess::Start(customs_spec);
  ASSERT_TRUE(customs.ok()) << customs.status();
  EXPECT_TRUE(WaitFor([&] { return federation() == 1; }, absl::Seconds(60)))
      << gateway_->ReadLog();
  probe = HavenctlHealth(police_, gateway_->port());
  EXPECT_EQ(probe.exit_code, 0) << probe.out << probe.err;
  EXPECT_THAT(probe.out, HasSubstr("\"serving\":true"));
  // A gateway that is not there: exit 2, the reason on stderr.
  probe = HavenctlHealth(police_, PickUnusedPort());
  EXPECT_EQ(probe.exit_code, 2) << probe.out;
  EXPECT_THAT(probe.err, HasSubstr("havenctl health: cannot ask localhost:"));

  // The metrics tell the same story: the message was settled.
  metrics::Exposition e;
  EXPECT_TRUE(WaitFor([&] {
    httplib::Result res = Scrape(metrics_port_, police_.ca_file,
                                 police_.client_cert, police_.client_key);
    if (!res) return false;
    auto parsed = metrics::ParseExposition(res->body);
    if (!parsed.ok()) return false;
    e = *parsed;
    return e.Find("havengate_outbox_depth", {{"partner", "customs-nl"}}) == 0.0;
  }, absl::Seconds(20)));
  EXPECT_EQ(e.Sum("havengate_deliveries_total", {{"partner", "customs-nl"}}), 1.0);
}

}  // namespace
}  // namespace havengate::testing
