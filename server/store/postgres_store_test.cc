// What only the PostgreSQL backend does (the behaviour every backend shares
// is store_conformance_test.cc): several stores (replicas) on one database
// keep one audit chain and one event order and wake each other's
// subscribers; a database that goes away and comes back; outbox leases
// held by one replica at a time; DSNs with passwords never shown. A real server, started by the test.
#include <atomic>
#include <functional>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "evidence/audit_chain.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/outbox_lease.h"
#include "server/store/pg_connection.h"
#include "server/store/postgres_store.h"
#include "tests/postgres/postgres_server.h"

namespace havengate::store {
namespace {

using ::havengate::testing::PostgresServer;
using ::testing::HasSubstr;
using ::testing::Not;

// Skips every test of the binary, saying why, where no server can run.
class PostgresEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    absl::Status available = PostgresServer::Available();
    if (!available.ok()) GTEST_SKIP() << available.message();
  }
};
const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

v1::Item MakeItem(const std::string& id) {
  v1::Item item;
  item.set_item_id(id);
  item.set_version(1);
  item.set_origin("police-nl");
  item.mutable_alert()->set_title(absl::StrCat("alert ", id));
  return item;
}

ItemWrite WriteWithAudit(const std::string& id) {
  ItemWrite write(MakeItem(id), "police-nl");
  v1::AuditRecord record;
  record.set_type(v1::ITEM_INGESTED);
  write.audit.push_back(record);
  PartnerCopy copy;
  copy.partner = "customs-nl";
  copy.item = MakeItem(id);
  write.copies.push_back(copy);
  return write;
}

// A database of its own on the binary's shared server; a test that stops
// the server starts one of its own (OwnServer).
class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = PostgresServer::Shared();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *server;
    const std::string database = absl::StrCat(
        "db_", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(server_->CreateDatabase(database).ok());
    options_.dsn = server_->Dsn(database);
  }
  void OwnServer() {
    auto server = PostgresServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    own_server_ = std::move(*server);
    server_ = own_server_.get();
    ASSERT_TRUE(server_->CreateDatabase("gateway").ok());
    options_.dsn = server_->Dsn("gateway");
  }
  std::unique_ptr<Store> Open() {
    auto store = OpenPostgresStore(options_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  std::unique_ptr<PostgresServer> own_server_;
  PostgresServer* server_ = nullptr;
  PostgresOptions options_;
};

TEST_F(PostgresStoreTest, ReplicasWritingTogetherKeepOneChainOneEventOrderAndOneOutbox) {
  std::unique_ptr<Store> a = Open();
  std::unique_ptr<Store> b = Open();
  ASSERT_TRUE(a && b);
  constexpr int kPerReplica = 100;
  std::atomic<int> failures{0};
  auto writer = [&](Store* store, const std::string& prefix) {
    for (int i = 0; i < kPerReplica; ++i) {
      if (!store->WriteItem(WriteWithAudit(absl::StrCat(prefix, i))).ok()) {
        ++failures;
      }
    }
  };
  std::thread ta(writer, a.get(), "a");
  std::thread tb(writer, b.get(), "b");
  ta.join();
  tb.join();
  EXPECT_EQ(failures.load(), 0);

  // One chain, whichever replica appended each record.
  auto audit = b->ReadAudit(0, 10 * kPerReplica);
  ASSERT_TRUE(audit.ok()) << audit.status();
  ASSERT_EQ(audit->size(), 2u * kPerReplica);
  evidence::AuditChainReport report = evidence::VerifyAuditChain(*audit);
  EXPECT_TRUE(report.ok()) << (report.problems.empty()
                                   ? ""
                                   : report.problems[0].ToString());
  // Both replicas see every event, in one order.
  auto events_a = a->ReadEvents(0, {}, 10 * kPerReplica);
  auto events_b = b->ReadEvents(0, {}, 10 * kPerReplica);
  ASSERT_TRUE(events_a.ok() && events_b.ok());
  ASSERT_EQ(events_a->size(), 2u * kPerReplica);
  for (size_t i = 0; i < events_a->size(); ++i) {
    EXPECT_EQ((*events_a)[i].cursor(), (*events_b)[i].cursor());
  }
  // The partner's outbox has one gapless sequence across replicas.
  auto outbox = a->ReadOutbox("customs-nl", 0, 10 * kPerReplica);
  ASSERT_TRUE(outbox.ok());
  ASSERT_EQ(outbox->size(), 2u * kPerReplica);
  for (size_t i = 0; i < outbox->size(); ++i) {
    EXPECT_EQ((*outbox)[i].sequence, i + 1);
  }
  // Another replica's audit head is picked up: a restart of one replica
  // still extends the same chain.
  a.reset();
  a = Open();
  ASSERT_TRUE(a->WriteItem(WriteWithAudit("after-restart")).ok());
  audit = b->ReadAudit(0, 10 * kPerReplica);
  ASSERT_TRUE(audit.ok());
  EXPECT_TRUE(evidence::VerifyAuditChain(*audit).ok());
}

TEST_F(PostgresStoreTest, ASubscriberOnOneReplicaWakesWhenAnotherCommits) {
  std::unique_ptr<Store> a = Open();
  std::unique_ptr<Store> b = Open();
  ASSERT_TRUE(a && b);
  const uint64_t before = b->LastCursor();
  absl::Time woke = absl::InfinitePast();
  std::thread subscriber([&] {
    if (b->WaitForEvents(before, absl::Now() + absl::Seconds(10))) {
      woke = absl::Now();
    }
  });
  absl::SleepFor(absl::Milliseconds(50));  // let it wait
  auto receipt = a->WriteItem(WriteWithAudit("x"));
  const absl::Time committed = absl::Now();
  subscriber.join();
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  ASSERT_NE(woke, absl::InfinitePast()) << "replica b never saw a's commit";
  EXPECT_LT(woke - committed, absl::Milliseconds(500));
  EXPECT_EQ(b->LastCursor(), receipt->receipt.cursor());
  auto events = b->ReadEvents(before, {}, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ(events->front().entry().item().item_id(), "x");
}

TEST_F(PostgresStoreTest, ALostDatabaseRefusesWritesThenResumesAndKeepsWhatWasAcknowledged) {
  OwnServer();
  std::unique_ptr<Store> store = Open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->WriteItem(WriteWithAudit("before")).ok());
  EXPECT_TRUE(store->Healthy());

  ASSERT_TRUE(server_->KillPostmaster().ok());
  auto refused = store->WriteItem(WriteWithAudit("during"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable)
      << refused.status();
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (store->Healthy() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_FALSE(store->Healthy());

  const absl::Time killed = absl::Now();
  ASSERT_TRUE(server_->Restart().ok());
  std::cout << "restart took " << absl::Now() - killed << "\n";
  deadline = absl::Now() + absl::Seconds(15);
  while (!store->Healthy() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(store->Healthy());
  // Writes resume on their own (the first may still meet the old
  // connection; the writer reconnects with backoff).
  absl::StatusOr<ItemWriteResult> resumed;
  deadline = absl::Now() + absl::Seconds(15);
  do {
    resumed = store->WriteItem(WriteWithAudit("after"));
  } while (!resumed.ok() && absl::Now() < deadline &&
           (absl::SleepFor(absl::Milliseconds(50)), true));
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  std::cout << "writes resumed " << absl::Now() - killed << " after the kill\n";
  EXPECT_TRUE(store->GetItem("police-nl", "before").ok());
  auto audit = store->ReadAudit(0, 100);
  ASSERT_TRUE(audit.ok());
  EXPECT_TRUE(evidence::VerifyAuditChain(*audit).ok());
}

TEST_F(PostgresStoreTest, AnUnreachableDatabaseIsNamedWithoutItsPassword) {
  PostgresOptions options;
  options.dsn = absl::StrCat("host=", server_->directory(),
                             "/nowhere port=5432 user=postgres "
                             "password=s3cret-value dbname=gateway");
  auto store = OpenPostgresStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(store.status().message(), HasSubstr("cannot connect to PostgreSQL"));
  EXPECT_THAT(store.status().message(), Not(HasSubstr("s3cret-value")));
  EXPECT_THAT(CheckPostgres(options.dsn).message(), Not(HasSubstr("s3cret-value")));
}

// Whether `condition` holds within `limit`, asked every 20 ms.
bool Eventually(const std::function<bool()>& condition, absl::Duration limit) {
  const absl::Time deadline = absl::Now() + limit;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

TEST_F(PostgresStoreTest, AnOutboxLeaseHasOneHolderMovesWhenItDiesAndFollowsReloads) {
  config::StoreConfig config;
  config.backend = config::StoreBackend::kPostgresql;
  config.dsn = options_.dsn;
  auto first = OpenOutboxLeases(config, {"customs-nl"}, "host:1");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE((*first)->MayDeliver("customs-nl"));  // opening takes free ones
  auto second = OpenOutboxLeases(config, {"customs-nl", "port-rtm"}, "host:2");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE((*second)->MayDeliver("customs-nl")) << "two holders";
  EXPECT_TRUE((*second)->MayDeliver("port-rtm"));
  EXPECT_FALSE((*first)->MayDeliver("port-rtm")) << "not one of its partners";

  // A reload of the first drops customs-nl and adds port-rtm: customs-nl
  // is given back and taken by the second; port-rtm stays the second's.
  (*first)->SetPartners({"port-rtm"});
  EXPECT_FALSE((*first)->MayDeliver("customs-nl"));
  EXPECT_TRUE(Eventually([&] { return (*second)->MayDeliver("customs-nl"); },
                         absl::Seconds(5)));
  EXPECT_FALSE((*first)->MayDeliver("port-rtm"));
  EXPECT_FALSE((*first)->MayDeliver("customs-nl"));

  // The holder goes (its connection ends, as when its process is killed):
  // the other takes what it configured over, within the 5 s.
  second->reset();
  EXPECT_TRUE(Eventually([&] { return (*first)->MayDeliver("port-rtm"); },
                         absl::Seconds(5)));
  EXPECT_FALSE((*first)->MayDeliver("customs-nl")) << "no longer its partner";
  auto conn = pg::Connection::Open(options_.dsn);
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto holder = (*conn)->Exec(
      "SELECT holder FROM outbox_leases WHERE partner = 'port-rtm'");
  ASSERT_TRUE(holder.ok()) << holder.status();
  ASSERT_EQ(holder->rows(), 1);
  EXPECT_EQ(holder->Bytes(0, 0), "host:1");
}

TEST(RedactDsnTest, PasswordsAreHiddenInEveryForm) {
  EXPECT_EQ(pg::RedactDsn("host=db password=abc dbname=x"),
            "host=db password=*** dbname=x");
  EXPECT_EQ(pg::RedactDsn("host=db password = 'a b\\'c' dbname=x"),
            "host=db password = *** dbname=x");
  EXPECT_EQ(pg::RedactDsn("postgresql://gw:abc@db:5432/x"),
            "postgresql://gw:***@db:5432/x");
  EXPECT_EQ(pg::RedactDsn("postgresql://db/x?user=gw&password=abc"),
            "postgresql://db/x?user=gw&password=***");
  EXPECT_EQ(pg::RedactDsn("host=db dbname=x"), "host=db dbname=x");
}

}  // namespace
}  // namespace havengate::store
