// High availability end to end: two replicas of police-nl share one
// PostgreSQL database (a real server the test starts) and one identity;
// customs-nl and port-rtm are ordinary gateways on SQLite. A client pushes
// to both replicas alternately while the replica delivering to customs-nl
// is SIGKILLed and restarted, or while the database's postmaster is
// SIGKILLed and restarted: every acknowledged item reaches each partner
// exactly once, in the order police-nl accepted it; the audit chain the two
// replicas wrote together verifies; a policy activated through one replica
// decides the next item on the other.
//
// Prints `lease_failover_ms=N` (SIGKILL of the lease holder to the other
// replica holding the lease) and `delivery_failover_ms=N` (to the first
// item pushed after the kill stored at customs-nl).
//
// The issue's run by default (10,000 items, three kills, ~10 s);
// HAVENGATE_REPLICA_ITEMS / HAVENGATE_REPLICA_KILLS change it (the
// slow-labelled soak: 50,000 items, ten kills); HAVENGATE_REPLICA_SEED
// repeats the kill moments of an earlier run (each run prints its seed).
#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "evidence/audit_chain.h"
#include "gtest/gtest.h"
#include "proto/audit_views.h"
#include "tests/e2e/federation_fixture.h"
#include "tests/postgres/postgres_server.h"
#include "tests/testing/harness.h"

namespace havengate::testing {
namespace {

// The items are copies of one alert (one container): with the default hit
// index (containers, vessel) each would hit up to 100 earlier ones, which
// is what the hits tests measure, not this one. The policies index seal
// numbers, which the items have none of.
constexpr char kSenderPolicy[] = R"yaml(
organisation: police-nl
version: "replicas-1"
matching: {index: [seal_number]}
partners:
  - {id: customs-nl, name: Dutch Customs, kind: CUSTOMS, country: NL}
  - {id: port-rtm, name: Port of Rotterdam, kind: PORT_OPERATOR, country: NL}
rules:
  - name: alerts-to-customs
    to: [customs-nl]
    kinds: [ALERT]
    share: ["*"]
  - name: pin-fraud-to-port
    to: [port-rtm]
    kinds: [ALERT]
    when: category == PIN_CODE_FRAUD
    share: [category, severity, title]
inbound:
  accept:
    - from: [customs-nl, port-rtm]
)yaml";

std::string ReceiverPolicy(const std::string& id) {
  return absl::StrCat(R"yaml(
organisation: )yaml", id, R"yaml(
version: "replicas-1"
matching: {index: [seal_number]}
partners:
  - {id: police-nl, name: Dutch police, kind: POLICE, country: NL}
rules:
  - name: seizures-to-police
    to: [police-nl]
    kinds: [ALERT]
    when: category == SEIZURE
    share: ["*"]
inbound:
  accept:
    - from: [police-nl]
      kinds: [ALERT]
)yaml");
}

// Every third item a suspicious container (customs only), the others
// PIN-code fraud (both partners).
v1::Item ItemNumber(int i) {
  return MakeAlertAt(absl::StrCat("ha-", i), "NLRTM",
                     i % 3 == 0 ? v1::Alert::SUSPICIOUS_CONTAINER
                                : v1::Alert::PIN_CODE_FRAUD);
}
bool ForPort(int i) { return i % 3 != 0; }

int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  int n = 0;
  return value != nullptr && absl::SimpleAtoi(value, &n) && n > 0 ? n : fallback;
}

// The rows of a one-column query on `dsn` (empty on any error).
std::vector<std::string> Query(const std::string& dsn, const std::string& sql) {
  std::vector<std::string> rows;
  PGconn* conn = PQconnectdb(dsn.c_str());
  if (PQstatus(conn) == CONNECTION_OK) {
    PGresult* r = PQexecParams(conn, sql.c_str(), 0, nullptr, nullptr, nullptr,
                               nullptr, /*resultFormat=*/1);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
      for (int i = 0; i < PQntuples(r); ++i) {
        rows.emplace_back(PQgetvalue(r, i, 0), PQgetlength(r, i, 0));
      }
    }
    PQclear(r);
  }
  PQfinish(conn);
  return rows;
}

// The police-nl items `store_file` holds, in the order it stored them,
// with when (Unix microseconds).
std::vector<std::pair<std::string, int64_t>> StoredItems(
    const std::string& store_file) {
  std::vector<std::pair<std::string, int64_t>> items;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(store_file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
      SQLITE_OK) {
    sqlite3_busy_timeout(db, 10'000);
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db,
                           "SELECT item_id, received_at_us FROM events WHERE "
                           "origin='police-nl' AND type IN (1, 3) ORDER BY cursor",
                           -1, &stmt, nullptr) == SQLITE_OK) {
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        items.emplace_back(
            reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)),
            sqlite3_column_int64(stmt, 1));
      }
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close_v2(db);
  return items;
}

std::vector<std::string> StoredOrder(const std::string& store_file) {
  std::vector<std::string> ids;
  for (auto& [id, at] : StoredItems(store_file)) ids.push_back(std::move(id));
  return ids;
}

class ReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status available = PostgresServer::Available();
    if (!available.ok()) GTEST_SKIP() << available.message();
    auto server = PostgresServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    db_ = std::move(*server);
    ASSERT_TRUE(db_->CreateDatabase("police_nl").ok());
    dsn_ = db_->Dsn("police_nl");

    for (const char* id : {"police-nl", "customs-nl", "port-rtm"}) {
      ASSERT_TRUE(f_.AddOrg(id).ok());
    }
    auto policy = f_.WritePolicy("police-nl", kSenderPolicy);
    ASSERT_TRUE(policy.ok()) << policy.status();
    ASSERT_TRUE(f_.WritePolicy("customs-nl", ReceiverPolicy("customs-nl")).ok());
    ASSERT_TRUE(f_.WritePolicy("port-rtm", ReceiverPolicy("port-rtm")).ok());
    for (const char* id : {"customs-nl", "port-rtm"}) {
      absl::Status started = f_.Start(id, {"police-nl"});
      ASSERT_TRUE(started.ok()) << started;
    }
    // Each replica has its own copy of the policy file, as on two
    // machines: a change reaches the other through the database.
    for (int r = 0; r < 2; ++r) {
      const std::string copy = absl::StrCat(*policy, ".replica", r + 1);
      std::filesystem::copy_file(*policy, copy,
                                 std::filesystem::copy_options::overwrite_existing);
      policy_files_[r] = copy;
      GatewaySpec spec;
      spec.org = &f_.org("police-nl");
      spec.port = r == 0 ? f_.port("police-nl") : PickUnusedPort();
      spec.peers = {{&f_.org("customs-nl"), f_.port("customs-nl")},
                    {&f_.org("port-rtm"), f_.port("port-rtm")}};
      spec.policy_file = copy;
      spec.instance = absl::StrCat("r", r + 1);
      spec.store_dsn = dsn_;
      auto replica = GatewayProcess::Start(spec);
      ASSERT_TRUE(replica.ok()) << replica.status();
      replicas_[r] = std::move(*replica);
      auto client = ConnectClient(f_.org("police-nl"), replicas_[r]->port());
      ASSERT_TRUE(client.ok()) << client.status();
      clients_[r] = std::move(*client);
    }
  }

  // The replica (0 or 1) holding `partner`'s outbox lease, -1 if none.
  int LeaseHolder(const std::string& partner) {
    std::vector<std::string> holder = Query(
        dsn_, absl::StrCat("SELECT holder FROM outbox_leases WHERE partner = '",
                           partner, "'"));
    if (holder.empty()) return -1;
    for (int r = 0; r < 2; ++r) {
      if (replicas_[r]->running() &&
          absl::EndsWith(holder[0], absl::StrCat(":", replicas_[r]->pid()))) {
        return r;
      }
    }
    return -1;
  }

  // Pushes item `i` until a replica acknowledges it, starting with
  // replica `first` and trying the other when one does not answer.
  void PushAcknowledged(int i, int first) {
    for (int attempt = 0;; ++attempt) {
      const int r = (first + attempt) % 2;
      v1::Item item = ItemNumber(i);
      auto receipt = clients_[r]->Push(item);
      if (receipt.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        accepted_cursor_[item.item_id()] = receipt->cursor();
        return;
      }
      ASSERT_LT(attempt, 400) << "item " << i << " never acknowledged: "
                              << receipt.status();
      if (attempt % 2 == 1) absl::SleepFor(absl::Milliseconds(50));
    }
  }

  // Streams `count` items from `first`, in chunks alternating between the
  // replicas (one PushStream per chunk); items a chunk did not get
  // acknowledged are pushed again (one at a time, to whichever answers).
  void StreamItems(int first, int count) {
    constexpr int kChunk = 50;
    for (int start = first, chunk = 0; start < first + count;
         start += kChunk, ++chunk) {
      const int end = std::min(start + kChunk, first + count);
      const int r = chunk % 2;
      int next = start;
      std::set<int> acknowledged;
      (void)clients_[r]->PushStream(
          [&]() -> std::optional<v1::Item> {
            if (next == end) return std::nullopt;
            return ItemNumber(next++);
          },
          [&](const v1::PushResult& result) {
            if (result.code() != 0) return;
            std::lock_guard<std::mutex> lock(mu_);
            accepted_cursor_[result.item_id()] = result.receipt().cursor();
            acknowledged.insert(start + static_cast<int>(result.index()));
          });
      for (int i = start; i < end; ++i) {
        if (acknowledged.count(i) == 0) PushAcknowledged(i, 1 - r);
      }
    }
  }

  // Every acknowledged item reached `partner` exactly once, in the order
  // police-nl accepted it (its cursor), and nothing else did.
  void CheckDelivered(const std::string& partner, bool port) {
    SCOPED_TRACE(partner);
    std::vector<std::pair<uint64_t, std::string>> expected;
    for (const auto& [item_id, cursor] : accepted_cursor_) {
      int i = 0;
      ASSERT_TRUE(absl::SimpleAtoi(item_id.substr(3), &i));
      if (!port || ForPort(i)) expected.push_back({cursor, item_id});
    }
    std::sort(expected.begin(), expected.end());
    std::set<std::string> want;
    for (const auto& e : expected) want.insert(e.second);
    const std::string store = f_.gateway(partner).store_file();
    std::vector<std::string> stored;
    bool all = WaitFor([&] {
      stored = StoredOrder(store);
      return stored.size() >= want.size();
    }, absl::Seconds(60));
    ASSERT_TRUE(all) << partner << " stored " << stored.size() << " of "
                     << want.size() << "; logs:\n" << f_.Logs()
                     << replicas_[0]->ReadLog() << replicas_[1]->ReadLog();
    absl::SleepFor(absl::Milliseconds(500));  // anything extra would show now
    stored = StoredOrder(store);
    std::map<std::string, int> times;
    for (const std::string& id : stored) ++times[id];
    for (const auto& [id, n] : times) {
      EXPECT_EQ(n, 1) << id << " stored " << n << " times";
      EXPECT_EQ(want.count(id), 1u) << id << " should not be at " << partner;
    }
    EXPECT_EQ(times.size(), want.size());
    ASSERT_EQ(stored.size(), expected.size());
    int out_of_order = 0;
    for (size_t k = 0; k < stored.size(); ++k) {
      if (stored[k] != expected[k].second) ++out_of_order;
    }
    EXPECT_EQ(out_of_order, 0) << "items stored out of police-nl's order";
  }

  // The chain both replicas appended to verifies as one.
  void CheckAuditChain() {
    std::vector<v1::AuditRecord> records;
    for (const std::string& bytes :
         Query(dsn_, "SELECT record FROM audit ORDER BY sequence")) {
      ASSERT_TRUE(records.emplace_back().ParseFromString(bytes));
    }
    ASSERT_GT(records.size(), accepted_cursor_.size());
    evidence::AuditChainReport report = evidence::VerifyAuditChain(records);
    EXPECT_TRUE(report.ok()) << report.problems.front().ToString();
    std::set<std::string> writers;
    for (const v1::AuditRecord& r : records) {
      if (r.type() == v1::GATEWAY_STARTED) writers.insert(r.detail());
    }
    EXPECT_GE(writers.size(), 2u) << "both replicas appended to the chain";
    // What an auditor runs: havenctl audit verify on the database, with
    // the gateway certificate checking the checkpoint signatures.
    CommandResult verify =
        RunCommand({HavenctlBinary(), "audit", "verify", "--store", dsn_,
                    "--cert", f_.org("police-nl").gateway_cert});
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    EXPECT_NE(verify.out.find("OK: the audit log is intact"), std::string::npos)
        << verify.out;
  }

  std::unique_ptr<PostgresServer> db_;
  std::string dsn_;
  Federation f_;
  std::string policy_files_[2];
  std::unique_ptr<GatewayProcess> replicas_[2];
  std::unique_ptr<client::Client> clients_[2];
  std::mutex mu_;
  std::map<std::string, uint64_t> accepted_cursor_;  // guarded by mu_
};

TEST_F(ReplicasTest, KillingTheLeaseHolderLosesNothingAndTheOtherReplicaTakesOver) {
  const int items = EnvInt("HAVENGATE_REPLICA_ITEMS", 10'000);
  const int kills = EnvInt("HAVENGATE_REPLICA_KILLS", 3);
  const int seed = EnvInt("HAVENGATE_REPLICA_SEED", std::random_device{}() & 0xffff);
  std::cout << "items=" << items << " kills=" << kills << " seed=" << seed
            << std::endl;
  ASSERT_TRUE(WaitFor([&] { return LeaseHolder("customs-nl") >= 0; },
                      absl::Seconds(10)));
  // While the client streams, the replica delivering to customs-nl is
  // killed at a random moment in each of `kills` equal slices of the
  // stream (not its first or last quarter, so that every kill lands
  // mid-stream) and restarted.
  std::vector<int> kill_after;
  std::mt19937 random(static_cast<unsigned>(seed));
  const int slice = items / kills;
  for (int k = 0; k < kills; ++k) {
    kill_after.push_back(k * slice + std::uniform_int_distribution<int>(
                                         slice / 4, 3 * slice / 4)(random));
  }
  struct Kill {
    absl::Time at;
    uint64_t last_cursor_before = 0;  // highest acknowledged at the kill
    absl::Duration lease_failover;
  };
  std::vector<Kill> done;
  std::thread killer([&] {
    for (int k = 1; k <= kills; ++k) {
      WaitFor([&] {
        std::lock_guard<std::mutex> lock(mu_);
        return static_cast<int>(accepted_cursor_.size()) >= kill_after[k - 1];
      }, absl::Seconds(120));
      const int holder = LeaseHolder("customs-nl");
      ASSERT_GE(holder, 0);
      Kill kill;
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (const auto& [id, cursor] : accepted_cursor_) {
          kill.last_cursor_before = std::max(kill.last_cursor_before, cursor);
        }
      }
      kill.at = absl::Now();
      replicas_[holder]->Kill9();
      ASSERT_TRUE(WaitFor([&] { return LeaseHolder("customs-nl") == 1 - holder; },
                          absl::Seconds(10)))
          << "the other replica did not take the lease over";
      kill.lease_failover = absl::Now() - kill.at;
      done.push_back(kill);
      ASSERT_TRUE(replicas_[holder]->Restart().ok()) << replicas_[holder]->ReadLog();
    }
  });
  StreamItems(0, items);
  killer.join();
  ASSERT_EQ(static_cast<int>(done.size()), kills);

  CheckDelivered("customs-nl", /*port=*/false);
  CheckDelivered("port-rtm", /*port=*/true);
  CheckAuditChain();

  // Group commit: under a stream, several items share one transaction
  // (xmin: the transaction that wrote the row).
  const std::vector<std::string> rows =
      Query(dsn_, "SELECT count(*)::text FROM items WHERE origin = 'police-nl'");
  const std::vector<std::string> transactions = Query(
      dsn_, "SELECT count(DISTINCT xmin::text)::text FROM items WHERE "
            "origin = 'police-nl'");
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(transactions.size(), 1u);
  int row_count = 0;
  int transaction_count = 0;
  ASSERT_TRUE(absl::SimpleAtoi(rows[0], &row_count));
  ASSERT_TRUE(absl::SimpleAtoi(transactions[0], &transaction_count));
  std::cout << "items_per_transaction="
            << static_cast<double>(row_count) / std::max(transaction_count, 1)
            << std::endl;
  EXPECT_LT(transaction_count, row_count) << "one transaction per item";

  // Delivery failover: from the kill to customs-nl storing the first item
  // police-nl accepted after it.
  std::map<std::string, int64_t> stored_at;
  for (const auto& [id, at] : StoredItems(f_.gateway("customs-nl").store_file())) {
    stored_at[id] = at;
  }
  for (const Kill& kill : done) {
    int64_t first = INT64_MAX;
    for (const auto& [id, cursor] : accepted_cursor_) {
      if (cursor > kill.last_cursor_before && stored_at.count(id) > 0) {
        first = std::min(first, stored_at[id]);
      }
    }
    ASSERT_NE(first, INT64_MAX) << "nothing accepted after the kill";
    const absl::Duration delivery = absl::FromUnixMicros(first) - kill.at;
    std::cout << "lease_failover_ms=" << absl::ToInt64Milliseconds(kill.lease_failover)
              << " delivery_failover_ms=" << absl::ToInt64Milliseconds(delivery)
              << std::endl;
    EXPECT_LT(kill.lease_failover, absl::Seconds(5));
    EXPECT_LT(delivery, absl::Seconds(5));
  }
}

constexpr auto kServing = grpc::health::v1::HealthCheckResponse::SERVING;
constexpr auto kNotServing = grpc::health::v1::HealthCheckResponse::NOT_SERVING;

TEST_F(ReplicasTest, ThePostmasterKilledMidStreamLosesNothingAndTheGatewaysResume) {
  constexpr int kItems = 400;
  std::thread restarter([&] {
    // Mid-stream: once a quarter of the items were acknowledged.
    WaitFor([&] {
      std::lock_guard<std::mutex> lock(mu_);
      return accepted_cursor_.size() >= kItems / 4;
    }, absl::Seconds(60));
    ASSERT_TRUE(db_->KillPostmaster().ok());
    // With the database gone, both replicas say so in their health (what
    // a load balancer asks) and acknowledge nothing.
    for (auto& client : clients_) {
      EXPECT_TRUE(WaitFor([&] {
        return client->Health("").value_or(kServing) == kNotServing;
      }, absl::Seconds(5))) << "a replica still reports serving";
    }
    auto refused = clients_[0]->Push(
        MakeAlertAt("probe-db-down", "NLRTM", v1::Alert::PIN_CODE_FRAUD));
    EXPECT_FALSE(refused.ok()) << "acknowledged with the database down";
    ASSERT_TRUE(db_->Restart().ok());
    // And they come back by themselves, nobody restarting them.
    for (auto& client : clients_) {
      EXPECT_TRUE(WaitFor([&] {
        return client->Health("").value_or(kNotServing) == kServing;
      }, absl::Seconds(15))) << "a replica did not report serving again";
    }
  });
  StreamItems(0, kItems);
  restarter.join();
  // The refused probe is nowhere: not in the shared store, not at any
  // partner (CheckDelivered refuses anything not acknowledged).
  EXPECT_TRUE(Query(dsn_, "SELECT item_id FROM items WHERE item_id = "
                          "'probe-db-down'").empty());
  CheckDelivered("customs-nl", /*port=*/false);
  CheckDelivered("port-rtm", /*port=*/true);
  CheckAuditChain();
  // Both replicas serve again (health through a read).
  for (auto& client : clients_) {
    v1::ListRequest list;
    list.set_page_size(1);
    EXPECT_TRUE(client->List(list).ok());
  }
}

TEST_F(ReplicasTest, APolicyActivatedThroughOneReplicaDecidesTheNextItemOnTheOther) {
  // The port gets PIN-code fraud with three fields; version 2 adds the
  // description. Activated through replica 1 (its policy file edited, as
  // an operator would), then an item pushed to replica 2 at once.
  std::string v2 = absl::StrCat(kSenderPolicy);
  v2.replace(v2.find("replicas-1"), 10, "replicas-2");
  v2.replace(v2.find("share: [category, severity, title]"), 34,
             "share: [category, severity, title, description]");
  std::ofstream(policy_files_[0] + ".tmp") << v2;
  std::filesystem::rename(policy_files_[0] + ".tmp", policy_files_[0]);
  // Replica 1 picks its file up within its maintenance tick and records
  // the activation in the shared history.
  ASSERT_TRUE(WaitFor([&] {
    return !Query(dsn_,
                  "SELECT version FROM policies WHERE state = 3 AND "
                  "version = 'replicas-2'")
                .empty();
  }, absl::Seconds(10))) << replicas_[0]->ReadLog();
  const absl::Time activated = absl::Now();
  absl::SleepFor(absl::Seconds(1));  // "in force on all within a second"
  v1::Item item = MakeAlertAt("after-v2", "NLRTM", v1::Alert::PIN_CODE_FRAUD);
  item.mutable_alert()->set_description("seen at gate 4");
  auto receipt = clients_[1]->Push(item);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  auto held = f_.AwaitItem("port-rtm", "after-v2");
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(held->item().alert().description(), "seen at gate 4")
      << "replica 2 decided under the old policy";
  EXPECT_LT(absl::Now() - activated, absl::Seconds(10));
  EXPECT_EQ(CountOccurrences(replicas_[1]->ReadLog(), "policy_adopted"), 1)
      << "replica 2 did not take the policy from the shared history";
  // And the decision is on record under the version that made it.
  std::vector<std::string> records =
      Query(dsn_, "SELECT record FROM audit ORDER BY sequence DESC LIMIT 20");
  bool found = false;
  for (const std::string& bytes : records) {
    v1::AuditRecord stored;
    if (!stored.ParseFromString(bytes)) continue;
    havengate::ForEachAuditEvent(stored, [&](const v1::AuditRecord& r) {
      if (r.type() == v1::SHARE_DECIDED && r.item().item_id() == "after-v2" &&
          r.partner() == "port-rtm") {
        EXPECT_EQ(r.policy_version(), "replicas-2");
        found = true;
      }
      return true;
    });
  }
  EXPECT_TRUE(found) << "no release record of after-v2 for port-rtm";
}

}  // namespace
}  // namespace havengate::testing
