// The store's conformance suite: the behaviour every storage backend must
// show through the Store interface (and the policy history through
// PolicyHistory), run once per backend in kBackends. A new backend adds
// one entry there and passes these tests unchanged; what only one backend
// does (its file format, its migrations) is tested beside it.
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "evidence/audit_chain.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "gtest/gtest.h"
#include "openssl/sha.h"
#include "proto/audit_views.h"
#include "server/store/policy_history.h"
#include "server/store/sqlite_store.h"
#ifdef HG_STORE_TEST_POSTGRES
#include "server/store/postgres_store.h"
#include "tests/postgres/postgres_server.h"
#endif
#include "server/store/store.h"
#include "server/store/store_options.h"

namespace havengate::store {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// How the suite opens one backend.
struct BackendUnderTest {
  std::string name;
  // Opens (or reopens) the store kept in `dir`. `max_bytes` > 0: the
  // backend holds at most about that much, so that a full disk can be
  // seen; 0: no limit.
  std::function<absl::StatusOr<std::unique_ptr<Store>>(
      const std::filesystem::path& dir, StoreOptions options,
      int64_t max_bytes)>
      open_store;
  // Opens (or reopens) the policy history kept in `dir`.
  std::function<absl::StatusOr<std::unique_ptr<PolicyHistory>>(
      const std::filesystem::path& dir)>
      open_policy_history;
};

const BackendUnderTest kSqlite = {
    "sqlite",
    [](const std::filesystem::path& dir, StoreOptions options,
       int64_t max_bytes) {
      SqliteOptions sqlite;
      sqlite.path = (dir / "db" / "gateway.db").string();
      sqlite.max_page_count_for_testing = max_bytes / 8192;
      return OpenSqliteStore(sqlite, std::move(options));
    },
    [](const std::filesystem::path& dir) {
      std::filesystem::create_directories(dir / "db");
      return OpenSqlitePolicyHistory(
          SqlitePolicyHistoryPath((dir / "db" / "gateway.db").string()));
    },
};

#ifdef HG_STORE_TEST_POSTGRES
// One schema per test directory, on a server the test binary starts
// (tests/postgres/postgres_server.h).
std::string PostgresDsn(const std::filesystem::path& dir) {
  absl::StatusOr<havengate::testing::PostgresServer*> server =
      havengate::testing::PostgresServer::Shared();
  if (!server.ok()) return absl::StrCat("no server: ", server.status().message());
  const std::string schema =
      absl::StrCat("t", std::hash<std::string>()(dir.string()));
  absl::Status created = (*server)->CreateSchema("postgres", schema);
  if (!created.ok()) return absl::StrCat("no schema: ", created.message());
  return (*server)->Dsn("postgres", schema);
}

const BackendUnderTest kPostgres = {
    "postgresql",
    [](const std::filesystem::path& dir, StoreOptions options,
       int64_t max_bytes) {
      PostgresOptions postgres;
      postgres.dsn = PostgresDsn(dir);
      postgres.max_bytes_for_testing = max_bytes;
      return OpenPostgresStore(postgres, std::move(options));
    },
    [](const std::filesystem::path& dir) {
      return OpenPostgresPolicyHistory(PostgresDsn(dir));
    },
};

const BackendUnderTest kBackends[] = {kPostgres};
#else
const BackendUnderTest kBackends[] = {kSqlite};
#endif

std::string BackendName(const ::testing::TestParamInfo<BackendUnderTest>& info) {
  return info.param.name;
}

std::filesystem::path TestDir(const std::string& prefix) {
  std::string name =
      ::testing::UnitTest::GetInstance()->current_test_info()->name();
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  return std::filesystem::path(::testing::TempDir()) /
         absl::StrCat(prefix, getpid(), "_", name);
}

class StoreTest : public ::testing::TestWithParam<BackendUnderTest> {
 protected:
  void SetUp() override {
    dir_ = TestDir("store_test_");
    std::filesystem::remove_all(dir_);
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen(int64_t max_bytes = 0, StoreOptions options = {}) {
    store_.reset();
    auto store = GetParam().open_store(dir_, std::move(options), max_bytes);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  static v1::Item MakeItem(const std::string& id, uint32_t version,
                           const std::string& title = "Stolen PIN used") {
    v1::Item item;
    item.set_item_id(id);
    item.set_version(version);
    item.set_origin("police-nl");
    item.mutable_classification()->set_tlp(v1::Classification::AMBER);
    item.mutable_alert()->set_category(v1::Alert::PIN_CODE_FRAUD);
    item.mutable_alert()->set_severity(v1::Alert::HIGH);
    item.mutable_alert()->set_title(title);
    return item;
  }
  static ItemWrite Write(const v1::Item& item) {
    return ItemWrite(item, "police-nl");
  }
  // A projected copy for `partner`, told apart in the outbox by `label`.
  static PartnerCopy Copy(const std::string& partner, const std::string& label) {
    PartnerCopy copy;
    copy.partner = partner;
    copy.item = MakeItem("copy", 1, label);
    return copy;
  }
  static v1::Retraction Withdrawal(const std::string& label) {
    v1::Retraction r;
    r.set_origin("police-nl");
    r.set_item_id("a1");
    r.set_kind(v1::Retraction::NO_LONGER_SHARED);
    r.set_reason(label);
    return r;
  }
  std::vector<std::string> ListIds(v1::ItemFilter filter = {}) {
    auto page = store_->ListItems(filter, 100, "");
    EXPECT_TRUE(page.ok()) << page.status();
    std::vector<std::string> ids;
    for (const auto& e : page->entries) {
      ids.push_back(absl::StrCat(e.item().item_id(), "@", e.item().version()));
    }
    return ids;
  }
  // A partner's outbox, each entry by its label: a copy's title, a
  // retraction's reason.
  std::vector<std::string> Outbox(const std::string& partner) {
    auto records = store_->ReadOutbox(partner, 0, 100);
    EXPECT_TRUE(records.ok()) << records.status();
    std::vector<std::string> labels;
    for (const auto& r : *records) {
      if (r.item.has_value()) {
        labels.push_back(r.item->alert().title());
      } else if (r.retraction.has_value()) {
        labels.push_back(r.retraction->reason());
      } else if (r.request_outcome.has_value()) {
        labels.push_back(r.request_outcome->reason());
      } else {
        labels.push_back("<unreadable>");
      }
    }
    return labels;
  }

  // A request from customs-nl for item a1's withheld fields, as police-nl
  // (the origin) receives it.
  static FieldRequestWrite ReceivedRequest(const std::string& id) {
    FieldRequestWrite w;
    w.request.set_request_id(id);
    w.request.set_role(v1::FieldRequest::RECEIVED);
    w.request.set_state(v1::FieldRequest::PENDING);
    w.request.set_origin("police-nl");
    w.request.set_requester("customs-nl");
    w.request.set_item_id("a1");
    w.request.add_fields("persons.name");
    w.require_shared_with = "customs-nl";
    v1::AuditRecord received;
    received.set_type(v1::FIELD_REQUEST_RECEIVED);
    w.audit.push_back(received);
    return w;
  }
  size_t AuditCount() {
    auto records = store_->ReadAudit(0, 1000);
    EXPECT_TRUE(records.ok()) << records.status();
    return records.ok() ? records->size() : 0;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, AWrittenItemReadsBackWithItsReceipt) {
  auto result = store_->WriteItem(Write(MakeItem("a1", 1)));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->receipt.origin(), "police-nl");
  EXPECT_EQ(result->receipt.item_id(), "a1");
  EXPECT_EQ(result->receipt.version(), 1u);
  EXPECT_GT(result->receipt.cursor(), 0u);
  EXPECT_FALSE(result->receipt.duplicate());
  EXPECT_EQ(result->receipt.digest(), ItemDigest(MakeItem("a1", 1)));
  auto entry = store_->GetItem("police-nl", "a1");
  ASSERT_TRUE(entry.ok());
  EXPECT_EQ(entry->item().alert().title(), "Stolen PIN used");
  EXPECT_EQ(entry->received_from(), "police-nl");
  EXPECT_EQ(entry->cursor(), result->receipt.cursor());
  // The receipt says exactly when the inbox says it was received.
  EXPECT_EQ(entry->received_at().seconds(), result->receipt.accepted_at().seconds());
  EXPECT_EQ(entry->received_at().nanos(), result->receipt.accepted_at().nanos());
}

TEST_P(StoreTest, VersionZeroIsStoredAsOne) {
  auto result = store_->WriteItem(Write(MakeItem("a1", 0)));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->receipt.version(), 1u);
}

TEST_P(StoreTest, RetriedWriteReturnsOriginalReceiptAndStoresOneCopy) {
  auto first = store_->WriteItem(Write(MakeItem("a1", 1)));
  ASSERT_TRUE(first.ok());
  ItemWrite again = Write(MakeItem("a1", 1));
  again.copies.push_back(Copy("customs-nl", "payload"));
  auto second = store_->WriteItem(std::move(again));
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->receipt.duplicate());
  EXPECT_EQ(second->receipt.cursor(), first->receipt.cursor());
  EXPECT_EQ(second->receipt.accepted_at().seconds(),
            first->receipt.accepted_at().seconds());
  EXPECT_EQ(second->receipt.digest(), first->receipt.digest());
  EXPECT_THAT(ListIds(), ElementsAre("a1@1"));
  EXPECT_TRUE(Outbox("customs-nl").empty())
      << "a duplicate must not queue anything";
}

TEST_P(StoreTest, SameVersionWithDifferentContentFromTheSameSenderIsRefused) {
  ASSERT_TRUE(store_->WriteItem(Write(MakeItem("a1", 1))).ok());
  auto conflict = store_->WriteItem(Write(MakeItem("a1", 1, "Other title")));
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->GetItem("police-nl", "a1")->item().alert().title(),
            "Stolen PIN used");
}

TEST_P(StoreTest, SameVersionFromAnotherGatewayIsADuplicateAndTheFirstCopyStays) {
  // police-be's item, first as police-be sent it, then as police-nl
  // forwarded its own projection of the same version.
  v1::Item direct = MakeItem("b1", 1, "As Antwerp sent it");
  direct.set_origin("police-be");
  ItemWrite first = Write(direct);
  first.received_from = "police-be";
  auto stored = store_->WriteItem(std::move(first));
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(stored->stored_copy_from.empty());

  v1::Item forwarded = direct;
  forwarded.mutable_alert()->set_title("As Rotterdam forwarded it");
  ItemWrite second = Write(forwarded);
  second.received_from = "police-nl";
  second.copies.push_back(Copy("port-rtm", "payload"));
  auto other = store_->WriteItem(std::move(second));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_TRUE(other->receipt.duplicate());
  EXPECT_EQ(other->stored_copy_from, "police-be");
  EXPECT_EQ(other->receipt.digest(), stored->receipt.digest());
  EXPECT_EQ(store_->GetItem("police-be", "b1")->item().alert().title(),
            "As Antwerp sent it");
  EXPECT_EQ(store_->GetItem("police-be", "b1")->received_from(), "police-be");
  EXPECT_TRUE(Outbox("port-rtm").empty());
  // Remembered: police-nl may pass on the origin's retraction of it.
  EXPECT_TRUE(*store_->SentOtherCopy("police-be", "b1", "police-nl"));
  EXPECT_FALSE(*store_->SentOtherCopy("police-be", "b1", "customs-nl"));
  EXPECT_FALSE(*store_->SentOtherCopy("police-be", "b1", "police-be"))
      << "the kept copy's sender is not an other copy";

  // The same copy again is an ordinary duplicate; another copy from the
  // same gateway is still a conflict.
  ItemWrite resent = Write(direct);
  resent.received_from = "police-be";
  auto again = store_->WriteItem(std::move(resent));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->receipt.duplicate());
  EXPECT_TRUE(again->stored_copy_from.empty());
  v1::Item changed = direct;
  changed.mutable_alert()->set_title("Changed without a new version");
  ItemWrite conflict = Write(changed);
  conflict.received_from = "police-be";
  EXPECT_EQ(store_->WriteItem(std::move(conflict)).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_P(StoreTest, HigherVersionSupersedesAndLateLowerVersionDoesNot) {
  ASSERT_TRUE(store_->WriteItem(Write(MakeItem("a1", 1, "v1"))).ok());
  ASSERT_TRUE(store_->WriteItem(Write(MakeItem("a1", 3, "v3"))).ok());
  ItemWrite late = Write(MakeItem("a1", 2, "v2"));
  late.copies.push_back(Copy("customs-nl", "v2 payload"));
  ASSERT_TRUE(store_->WriteItem(std::move(late)).ok());
  EXPECT_THAT(ListIds(), ElementsAre("a1@3"));
  EXPECT_EQ(store_->GetItem("police-nl", "a1")->item().alert().title(), "v3");
  EXPECT_TRUE(Outbox("customs-nl").empty());
  // Subscribers see v1 and v3, not the late v2.
  auto events = store_->ReadEvents(0, {}, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[1].entry().item().version(), 3u);
}

TEST_P(StoreTest, OutboxIsOrderedPerPartnerAndAckRemovesEntries) {
  for (int i = 1; i <= 3; ++i) {
    ItemWrite w = Write(MakeItem(absl::StrCat("a", i), 1));
    w.copies.push_back(Copy("customs-nl", absl::StrCat("to customs ", i)));
    if (i != 2) {
      w.copies.push_back(Copy("port-rtm", absl::StrCat("to port ", i)));
    }
    ASSERT_TRUE(store_->WriteItem(std::move(w)).ok());
  }
  EXPECT_THAT(Outbox("customs-nl"),
              ElementsAre("to customs 1", "to customs 2", "to customs 3"));
  EXPECT_THAT(Outbox("port-rtm"), ElementsAre("to port 1", "to port 3"));
  auto customs = store_->ReadOutbox("customs-nl", 0, 10);
  ASSERT_TRUE(customs.ok());
  EXPECT_EQ((*customs)[0].sequence + 1, (*customs)[1].sequence);
  ASSERT_TRUE(store_->AckOutbox("customs-nl", (*customs)[1].sequence, {}).ok());
  EXPECT_THAT(Outbox("customs-nl"), ElementsAre("to customs 3"));
  auto stats = store_->GetOutboxStats();
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->size(), 2u);
  EXPECT_EQ((*stats)[0].partner, "customs-nl");
  EXPECT_EQ((*stats)[0].depth, 1u);
  EXPECT_EQ((*stats)[1].depth, 2u);
}

TEST_P(StoreTest, NewVersionWithdrawsFromPartnersNoLongerSharedWith) {
  ItemWrite v1w = Write(MakeItem("a1", 1));
  v1w.copies.push_back(Copy("customs-nl", "v1 to customs"));
  v1w.copies.push_back(Copy("port-rtm", "v1 to port"));
  ASSERT_TRUE(store_->WriteItem(std::move(v1w)).ok());
  ItemWrite v2w = Write(MakeItem("a1", 2));
  v2w.copies.push_back(Copy("customs-nl", "v2 to customs"));
  v2w.withdrawal = Withdrawal("withdraw");
  ASSERT_TRUE(store_->WriteItem(std::move(v2w)).ok());
  EXPECT_THAT(Outbox("customs-nl"),
              ElementsAre("v1 to customs", "v2 to customs"));
  EXPECT_THAT(Outbox("port-rtm"), ElementsAre("v1 to port", "withdraw"));
}

TEST_P(StoreTest, RetractionHidesItemQueuesToPartnersAndBlocksNewVersions) {
  ItemWrite w = Write(MakeItem("a1", 1));
  w.copies.push_back(Copy("customs-nl", "item"));
  ASSERT_TRUE(store_->WriteItem(std::move(w)).ok());
  ASSERT_TRUE(store_->WriteItem(Write(MakeItem("a2", 1))).ok());
  RetractionWrite r;
  r.retraction.set_origin("police-nl");
  r.retraction.set_item_id("a1");
  r.retraction.set_reason("information proved false");
  r.received_from = "police-nl";
  r.onward = r.retraction;
  ASSERT_TRUE(store_->WriteRetraction(r).ok());
  EXPECT_THAT(ListIds(), ElementsAre("a2@1"));
  v1::ItemFilter with_retracted;
  with_retracted.set_include_retracted(true);
  EXPECT_THAT(ListIds(with_retracted), ElementsAre("a2@1", "a1@1"));
  EXPECT_EQ(store_->GetItem("police-nl", "a1")->retraction().reason(),
            "information proved false");
  EXPECT_THAT(Outbox("customs-nl"), ElementsAre("item", "information proved false"));
  // Retracting again changes nothing; new versions are refused.
  ASSERT_TRUE(store_->WriteRetraction(r).ok());
  EXPECT_THAT(Outbox("customs-nl"), ElementsAre("item", "information proved false"));
  EXPECT_EQ(store_->WriteItem(Write(MakeItem("a1", 2))).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto events = store_->ReadEvents(0, {}, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[2].retraction().item_id(), "a1");
}

TEST_P(StoreTest, WithdrawalIsLiftedByANewerVersionButNotAnOlderOne) {
  ASSERT_TRUE(store_->WriteItem(Write(MakeItem("a1", 1))).ok());
  RetractionWrite w;
  w.retraction.set_origin("police-nl");
  w.retraction.set_item_id("a1");
  w.retraction.set_kind(v1::Retraction::NO_LONGER_SHARED);
  w.retraction.set_reason("no longer shared under policy v2");
  ASSERT_TRUE(store_->WriteRetraction(w).ok());
  EXPECT_TRUE(ListIds().empty());
  ASSERT_TRUE(store_->WriteItem(Write(MakeItem("a1", 2))).ok());
  EXPECT_THAT(ListIds(), ElementsAre("a1@2"));
  EXPECT_FALSE(store_->GetItem("police-nl", "a1")->has_retraction());
  // A retraction by the origin is for good, and replaces a withdrawal.
  ASSERT_TRUE(store_->WriteRetraction(w).ok());
  RetractionWrite r = w;
  r.retraction.set_kind(v1::Retraction::RETRACTED_BY_ORIGIN);
  ASSERT_TRUE(store_->WriteRetraction(r).ok());
  EXPECT_EQ(store_->WriteItem(Write(MakeItem("a1", 3))).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // A subscriber replaying from the start sees both versions and the
  // origin's retraction; the withdrawals, whose records are gone, are not
  // replayed as empty retractions.
  auto events = store_->ReadEvents(0, {}, 100);
  ASSERT_TRUE(events.ok()) << events.status();
  std::vector<std::string> replay;
  for (const v1::InboxEvent& e : *events) {
    replay.push_back(e.has_entry()
                         ? absl::StrCat("a1@", e.entry().item().version())
                         : absl::StrCat("retracted ", e.retraction().item_id(), " ",
                                        v1::Retraction::Kind_Name(e.retraction().kind())));
  }
  EXPECT_THAT(replay, ElementsAre("a1@1", "a1@2", "retracted a1 RETRACTED_BY_ORIGIN"));
}

TEST_P(StoreTest, RetractingAnUnknownItemIsNotFound) {
  RetractionWrite r;
  r.retraction.set_origin("police-nl");
  r.retraction.set_item_id("nope");
  EXPECT_EQ(store_->WriteRetraction(r).code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreTest, ListingFiltersAndPagesNewestFirst) {
  for (int i = 0; i < 7; ++i) {
    v1::Item item = MakeItem(absl::StrCat("a", i), 1);
    if (i % 2 == 1) item.mutable_alert()->set_category(v1::Alert::SEIZURE);
    ItemWrite w = Write(item);
    if (i >= 5) {
      w.item.set_origin("customs-nl");
      w.received_from = "customs-nl";
    }
    ASSERT_TRUE(store_->WriteItem(std::move(w)).ok());
  }
  v1::ItemFilter seizures;
  seizures.add_categories(v1::Alert::SEIZURE);
  EXPECT_THAT(ListIds(seizures), ElementsAre("a5@1", "a3@1", "a1@1"));
  v1::ItemFilter from_customs;
  from_customs.add_origins("customs-nl");
  EXPECT_THAT(ListIds(from_customs), ElementsAre("a6@1", "a5@1"));
  // Pages of 3: 3 + 3 + 1, no overlap, newest first.
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    auto page = store_->ListItems({}, 3, token);
    ASSERT_TRUE(page.ok());
    for (const auto& e : page->entries) seen.push_back(e.item().item_id());
    token = page->next_page_token;
    ++pages;
  } while (!token.empty());
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(seen, ElementsAre("a6", "a5", "a4", "a3", "a2", "a1", "a0"));
  EXPECT_EQ(store_->ListItems({}, 3, "garbage").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreTest, EventsResumeAfterACursor) {
  std::vector<uint64_t> cursors;
  for (int i = 0; i < 5; ++i) {
    auto r = store_->WriteItem(Write(MakeItem(absl::StrCat("a", i), 1)));
    ASSERT_TRUE(r.ok());
    cursors.push_back(r->receipt.cursor());
  }
  auto events = store_->ReadEvents(cursors[1], {}, 2);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].cursor(), cursors[2]);
  EXPECT_EQ((*events)[1].entry().item().item_id(), "a3");
  EXPECT_EQ(store_->LastCursor(), cursors[4]);
}

TEST_P(StoreTest, WaitingForEventsWakesOnCommit) {
  uint64_t last = store_->LastCursor();
  std::thread writer([&] {
    absl::SleepFor(absl::Milliseconds(50));
    ASSERT_TRUE(store_->WriteItem(Write(MakeItem("late", 1))).ok());
  });
  EXPECT_TRUE(store_->WaitForEvents(last, absl::Now() + absl::Seconds(10)));
  writer.join();
  EXPECT_FALSE(store_->WaitForEvents(store_->LastCursor(),
                                     absl::Now() + absl::Milliseconds(20)));
}

// Recomputes the chain the way an auditor would.
void ExpectValidChain(const std::vector<v1::AuditRecord>& records) {
  std::string previous(32, '\0');
  for (size_t i = 0; i < records.size(); ++i) {
    v1::AuditRecord copy = records[i];
    EXPECT_EQ(copy.sequence(), i + 1);
    EXPECT_EQ(copy.previous_hash(), previous);
    copy.clear_hash();
    std::string bytes;
    {
      google::protobuf::io::StringOutputStream stream(&bytes);
      google::protobuf::io::CodedOutputStream coded(&stream);
      coded.SetSerializationDeterministic(true);
      copy.SerializeToCodedStream(&coded);
    }
    std::string input = previous + bytes;
    unsigned char hash[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), hash);
    EXPECT_EQ(records[i].hash(), std::string(reinterpret_cast<char*>(hash), 32));
    previous = records[i].hash();
  }
  // The contract's verifier agrees with the recomputation above.
  evidence::AuditChainReport report = evidence::VerifyAuditChain(records);
  EXPECT_TRUE(report.ok()) << (report.problems.empty()
                                   ? std::string()
                                   : report.problems[0].ToString());
}

TEST_P(StoreTest, FieldRequestsAreKeptByRoleAndChangedOnlyFromTheRevisionRead) {
  ItemWrite item = Write(MakeItem("a1", 1));
  item.copies.push_back(Copy("customs-nl", "to customs"));
  ASSERT_TRUE(store_->WriteItem(std::move(item)).ok());
  ASSERT_TRUE(store_->WriteFieldRequest(ReceivedRequest("rq-1")).ok());
  ASSERT_TRUE(store_->WriteFieldRequest(ReceivedRequest("rq-2")).ok());
  // The same id again is not a new request.
  EXPECT_EQ(store_->WriteFieldRequest(ReceivedRequest("rq-1")).code(),
            absl::StatusCode::kAlreadyExists);

  // A change made from a stale revision is refused and changes nothing.
  FieldRequestWrite approve = ReceivedRequest("rq-1");
  approve.require_shared_with.clear();
  approve.read_revision = 1;
  approve.request.set_state(v1::FieldRequest::APPROVED);
  approve.outcome.emplace();
  approve.outcome->set_request_id("rq-1");
  approve.outcome->set_reason("approved rq-1");
  approve.outcome_partner = "customs-nl";
  FieldRequestWrite stale = approve;
  stale.read_revision = 7;
  EXPECT_EQ(store_->WriteFieldRequest(stale).code(), absl::StatusCode::kAborted);
  ASSERT_TRUE(store_->WriteFieldRequest(approve).ok());
  // The outcome is queued for the requester with the change, after the item.
  EXPECT_THAT(Outbox("customs-nl"), ElementsAre("to customs", "approved rq-1"));

  Reopen();
  auto one = store_->GetFieldRequest(v1::FieldRequest::RECEIVED, "rq-1");
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_TRUE(one->has_value());
  EXPECT_EQ((*one)->state(), v1::FieldRequest::APPROVED);
  EXPECT_EQ((*one)->revision(), 2u);
  auto missing = store_->GetFieldRequest(v1::FieldRequest::SENT, "rq-1");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  auto received = store_->ListFieldRequests(v1::FieldRequest::RECEIVED);
  ASSERT_TRUE(received.ok()) << received.status();
  ASSERT_EQ(received->size(), 2u);
  EXPECT_EQ((*received)[0].request_id(), "rq-1");
  EXPECT_EQ((*received)[1].request_id(), "rq-2");
  auto sent = store_->ListFieldRequests(v1::FieldRequest::SENT);
  ASSERT_TRUE(sent.ok());
  EXPECT_TRUE(sent->empty());
}

TEST_P(StoreTest, FieldRequestAboutAnItemNeverReleasedToTheRequesterIsNotStored) {
  ItemWrite item = Write(MakeItem("a1", 1));
  item.copies.push_back(Copy("port-rtm", "to port"));
  ASSERT_TRUE(store_->WriteItem(std::move(item)).ok());
  const size_t audit_before = AuditCount();
  absl::Status refused = store_->WriteFieldRequest(ReceivedRequest("rq-1"));
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_THAT(std::string(refused.message()),
              HasSubstr("police-nl never released item a1 to customs-nl"));
  auto stored = store_->GetFieldRequest(v1::FieldRequest::RECEIVED, "rq-1");
  ASSERT_TRUE(stored.ok());
  EXPECT_FALSE(stored->has_value());
  EXPECT_EQ(AuditCount(), audit_before);
  EXPECT_TRUE(Outbox("customs-nl").empty());
}

TEST_P(StoreTest, AuditRecordsFormAChainThatSurvivesReopen) {
  ItemWrite w = Write(MakeItem("a1", 1));
  v1::AuditRecord ingested;
  ingested.set_type(v1::ITEM_INGESTED);
  w.audit.push_back(ingested);
  ASSERT_TRUE(store_->WriteItem(std::move(w)).ok());
  v1::AuditRecord started;
  started.set_type(v1::GATEWAY_STARTED);
  ASSERT_TRUE(store_->AppendAudit({started, started}).ok());
  Reopen();
  ASSERT_TRUE(store_->AppendAudit({started}).ok());
  auto records = store_->ReadAudit(0, 100);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 4u);
  EXPECT_EQ((*records)[0].type(), v1::ITEM_INGESTED);
  EXPECT_EQ((*records)[0].digest(), ItemDigest(MakeItem("a1", 1)))
      << "the ingest record carries the stored item's digest";
  ExpectValidChain(*records);
}

// Issue 16: the sender's combined records (one for all partners' decisions
// on an item, one for a batch's deliveries) are stored and read back whole
// beside old-form records, in one verifiable chain, and read per partner
// as the old ones did.
TEST_P(StoreTest, CombinedAuditRecordsReadBackBesideOldOnesInOneChain) {
  ItemWrite w = Write(MakeItem("a1", 1));
  w.copies.push_back(Copy("customs-nl", "for customs"));
  w.copies.push_back(Copy("port-rtm", "for the port"));
  v1::AuditRecord decided;
  decided.set_type(v1::SHARES_DECIDED);
  decided.mutable_item()->set_origin("police-nl");
  decided.mutable_item()->set_item_id("a1");
  decided.mutable_item()->set_version(1);
  decided.set_policy_version("v3");
  v1::PartnerShareDecision* customs = decided.add_decisions();
  customs->set_partner("customs-nl");
  customs->set_released(true);
  customs->add_released_fields("title");
  customs->add_withheld_fields("persons");
  v1::PartnerShareDecision* port = decided.add_decisions();
  port->set_partner("port-rtm");
  port->set_released(true);
  port->add_transformed_fields("persons.name: pseudonymise");
  w.audit.push_back(decided);
  ASSERT_TRUE(store_->WriteItem(std::move(w)).ok());
  v1::AuditRecord old_form;  // as a store written before issue 16 holds it
  old_form.set_type(v1::SHARE_DECIDED);
  old_form.set_partner("customs-nl");
  old_form.add_released_fields("title");
  v1::AuditRecord delivered;
  delivered.set_type(v1::ITEMS_DELIVERED);
  delivered.set_partner("customs-nl");
  delivered.add_deliveries()->mutable_item()->set_item_id("a1");
  delivered.add_deliveries()->mutable_item()->set_item_id("a0");
  ASSERT_TRUE(store_->AppendAudit({old_form, delivered}).ok());
  Reopen();
  auto records = store_->ReadAudit(0, 100);
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 3u);
  ExpectValidChain(*records);
  EXPECT_EQ((*records)[0].type(), v1::SHARES_DECIDED);
  ASSERT_EQ((*records)[0].decisions_size(), 2);
  EXPECT_THAT((*records)[0].decisions(0).withheld_fields(), ElementsAre("persons"));
  std::vector<std::string> events;
  for (const v1::AuditRecord& stored : *records) {
    ForEachAuditEvent(stored, [&](const v1::AuditRecord& r) {
      events.push_back(absl::StrCat(v1::AuditEventType_Name(r.type()), " ", r.partner(), " ",
                                    r.item().item_id(), " ", absl::StrJoin(r.released_fields(), ","),
                                    absl::StrJoin(r.transformed_fields(), ","), " #",
                                    r.sequence()));
      return true;
    });
  }
  EXPECT_THAT(events, ElementsAre("SHARE_DECIDED customs-nl a1 title #1",
                                  "SHARE_DECIDED port-rtm a1 persons.name: pseudonymise #1",
                                  "SHARE_DECIDED customs-nl  title #2",
                                  "ITEM_DELIVERED customs-nl a1  #3",
                                  "ITEM_DELIVERED customs-nl a0  #3"));
}

TEST_P(StoreTest, CheckpointsAreSignedAtTheirPlaceAndCommitsAreReported) {
  std::mutex mu;
  std::vector<std::pair<uint64_t, std::string>> signed_places;
  std::vector<v1::AuditRecord> committed;
  StoreOptions options;
  options.sign_checkpoint = [&](uint64_t sequence,
                                const std::string& previous_hash)
      -> absl::StatusOr<StoreOptions::CheckpointSignature> {
    std::lock_guard<std::mutex> lock(mu);
    signed_places.emplace_back(sequence, previous_hash);
    return StoreOptions::CheckpointSignature{
        absl::StrCat("sig-", sequence), "key-1"};
  };
  options.on_audit_committed = [&](const v1::AuditRecord& record) {
    std::lock_guard<std::mutex> lock(mu);
    committed.push_back(record);
  };
  Reopen(0, options);

  ItemWrite w = Write(MakeItem("a1", 1));
  w.audit.emplace_back().set_type(v1::ITEM_INGESTED);
  ASSERT_TRUE(store_->WriteItem(std::move(w)).ok());
  // A refused write reports nothing.
  ItemWrite conflict = Write(MakeItem("a1", 1, "different"));
  conflict.audit.emplace_back().set_type(v1::ITEM_INGESTED);
  EXPECT_FALSE(store_->WriteItem(std::move(conflict)).ok());
  v1::AuditRecord checkpoint;
  checkpoint.set_type(v1::CHECKPOINT);
  ASSERT_TRUE(store_->AppendAudit({checkpoint}).ok());

  auto records = store_->ReadAudit(0, 10);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 2u);
  ExpectValidChain(*records);
  const v1::AuditRecord& stored = (*records)[1];
  EXPECT_EQ(stored.checkpoint_signature(), "sig-2");
  EXPECT_EQ(stored.checkpoint_key_id(), "key-1");
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(signed_places.size(), 1u);
  EXPECT_EQ(signed_places[0].first, 2u);
  EXPECT_EQ(signed_places[0].second, (*records)[0].hash());
  ASSERT_EQ(committed.size(), 2u);
  EXPECT_EQ(committed[0].SerializeAsString(), (*records)[0].SerializeAsString());
  EXPECT_EQ(committed[1].SerializeAsString(), stored.SerializeAsString());
}

TEST_P(StoreTest, CheckpointThatCannotBeSignedIsNotStored) {
  StoreOptions options;
  options.sign_checkpoint = [](uint64_t, const std::string&)
      -> absl::StatusOr<StoreOptions::CheckpointSignature> {
    return absl::UnavailableError("key file unreadable");
  };
  Reopen(0, options);
  v1::AuditRecord checkpoint;
  checkpoint.set_type(v1::CHECKPOINT);
  absl::Status status = store_->AppendAudit({checkpoint});
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(status.message(), HasSubstr("key file unreadable"));
  EXPECT_TRUE(store_->ReadAudit(0, 10)->empty());
  EXPECT_TRUE(store_->Healthy());
}

// The audit benchmark's store: everything but the audit is written.
TEST_P(StoreTest, DiscardAuditForBenchmarkKeepsItemsAndOutboxButNoAudit) {
  int committed = 0;
  StoreOptions options;
  options.discard_audit_for_benchmark = true;
  options.on_audit_committed = [&](const v1::AuditRecord&) { ++committed; };
  Reopen(0, options);
  ItemWrite w = Write(MakeItem("a1", 1));
  w.copies.push_back(Copy("customs-nl", "payload"));
  w.audit.emplace_back().set_type(v1::ITEM_INGESTED);
  ASSERT_TRUE(store_->WriteItem(std::move(w)).ok());
  v1::AuditRecord started;
  started.set_type(v1::GATEWAY_STARTED);
  ASSERT_TRUE(store_->AppendAudit({started}).ok());
  EXPECT_THAT(ListIds(), ElementsAre("a1@1"));
  EXPECT_THAT(Outbox("customs-nl"), ElementsAre("payload"));
  EXPECT_TRUE(store_->ReadAudit(0, 10)->empty());
  EXPECT_EQ(committed, 0);
  // Without the option (the default) the same store keeps the audit again.
  Reopen();
  ASSERT_TRUE(store_->AppendAudit({started}).ok());
  EXPECT_EQ(store_->ReadAudit(0, 10)->size(), 1u);
}

TEST_P(StoreTest, RefusedWriteInABatchLeavesNoAuditOrOutbox) {
  ASSERT_TRUE(store_->WriteItem(Write(MakeItem("a1", 1))).ok());
  ItemWrite conflict = Write(MakeItem("a1", 1, "different"));
  conflict.copies.push_back(Copy("customs-nl", "leak?"));
  conflict.audit.emplace_back().set_type(v1::ITEM_INGESTED);
  EXPECT_FALSE(store_->WriteItem(std::move(conflict)).ok());
  EXPECT_TRUE(Outbox("customs-nl").empty());
  EXPECT_TRUE(store_->ReadAudit(0, 10)->empty());
}

// Refusals in the middle of one batch (one transaction): the refused
// writes leave nothing, the others are all stored with their outbox and
// audit entries, and the audit chain stays gapless.
TEST_P(StoreTest, RefusalsInsideABatchDoNotDisturbTheRestOfIt) {
  ASSERT_TRUE(store_->WriteItem(Write(MakeItem("a1", 1))).ok());
  auto with_effects = [&](const v1::Item& item) {
    ItemWrite w = Write(item);
    w.copies.push_back(Copy("customs-nl", item.item_id()));
    v1::AuditRecord& audit = w.audit.emplace_back();
    audit.set_type(v1::ITEM_INGESTED);
    audit.mutable_item()->set_item_id(item.item_id());
    return w;
  };
  // The writer thread runs callbacks: holding it in the first one queues
  // everything after it for one batch.
  std::promise<void> queued;
  std::shared_future<void> all_queued = queued.get_future().share();
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> outcomes(6);
  int done = 0;
  auto record = [&](int i) {
    return [&, i](absl::StatusOr<ItemWriteResult> r) {
      if (i == 0) all_queued.wait();
      std::lock_guard<std::mutex> lock(mu);
      outcomes[i] = absl::StatusCodeToString(r.status().code());
      ++done;
      cv.notify_all();
    };
  };
  store_->WriteItemAsync(with_effects(MakeItem("gate", 1)), record(0));
  store_->WriteItemAsync(with_effects(MakeItem("b1", 1)), record(1));
  store_->WriteItemAsync(with_effects(MakeItem("a1", 1, "different")),
                         record(2));
  store_->WriteItemAsync(with_effects(MakeItem("c1", 1)), record(3));
  RetractionWrite unknown;
  unknown.retraction.set_origin("police-nl");
  unknown.retraction.set_item_id("nobody-has-this");
  unknown.retraction.set_kind(v1::Retraction::RETRACTED_BY_ORIGIN);
  unknown.audit.emplace_back().set_type(v1::ITEM_RETRACTED);
  store_->WriteRetractionAsync(unknown, [&](absl::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    outcomes[4] = absl::StatusCodeToString(s.code());
    ++done;
    cv.notify_all();
  });
  store_->WriteItemAsync(with_effects(MakeItem("d1", 1)), record(5));
  queued.set_value();
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30),
                            [&] { return done == 6; }));
  }

  EXPECT_THAT(outcomes, ElementsAre("OK", "OK", "ALREADY_EXISTS", "OK",
                                    "NOT_FOUND", "OK"));
  EXPECT_THAT(ListIds(), ElementsAre("d1@1", "c1@1", "b1@1", "gate@1", "a1@1"));
  EXPECT_THAT(Outbox("customs-nl"),
              ElementsAre("gate", "b1", "c1", "d1"));
  auto audit = store_->ReadAudit(0, 100);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 4u);
  for (size_t i = 0; i < audit->size(); ++i) {
    EXPECT_EQ((*audit)[i].sequence(), i + 1);
    EXPECT_EQ((*audit)[i].item().item_id(),
              std::vector<std::string>({"gate", "b1", "c1", "d1"})[i]);
  }
}

// Writes handed over together commit in one transaction even past
// max_batch (the clock, read once per transaction, stamps them all alike),
// in order, and a refused one sinks none of the others.
TEST_P(StoreTest, WritesHandedOverTogetherCommitInOneTransactionEachWithItsOutcome) {
  std::atomic<int64_t> tick{0};
  StoreOptions options;
  options.max_batch = 2;
  options.now = [&] { return absl::FromUnixSeconds(1'800'000'000 + tick++); };
  Reopen(0, options);
  ASSERT_TRUE(store_->WriteItem(Write(MakeItem("a1", 1))).ok());

  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> outcomes(5);
  std::vector<int64_t> received_at(5, -1);
  int done = 0;
  auto item_done = [&](int i) {
    return [&, i](absl::StatusOr<ItemWriteResult> r) {
      std::lock_guard<std::mutex> lock(mu);
      outcomes[i] = absl::StatusCodeToString(r.status().code());
      if (r.ok()) received_at[i] = r->receipt.accepted_at().seconds();
      ++done;
      cv.notify_all();
    };
  };
  RetractionWrite retraction;
  retraction.retraction.set_origin("police-nl");
  retraction.retraction.set_item_id("b1");
  retraction.retraction.set_kind(v1::Retraction::RETRACTED_BY_ORIGIN);
  std::vector<Store::GroupedWrite> writes;
  writes.push_back(Store::ItemEntry{Write(MakeItem("b1", 1)), item_done(0)});
  writes.push_back(
      Store::ItemEntry{Write(MakeItem("a1", 1, "different")), item_done(1)});
  writes.push_back(Store::ItemEntry{Write(MakeItem("c1", 1)), item_done(2)});
  // Retracts b1, written earlier in the same transaction.
  writes.push_back(Store::RetractionEntry{retraction, [&](absl::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    outcomes[3] = absl::StatusCodeToString(s.code());
    ++done;
    cv.notify_all();
  }});
  writes.push_back(Store::ItemEntry{Write(MakeItem("d1", 1)), item_done(4)});
  store_->WriteTogetherAsync(std::move(writes));
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30),
                            [&] { return done == 5; }));
  }
  EXPECT_THAT(outcomes, ElementsAre("OK", "ALREADY_EXISTS", "OK", "OK", "OK"));
  EXPECT_EQ(received_at[0], received_at[2]);
  EXPECT_EQ(received_at[0], received_at[4]);
  EXPECT_THAT(ListIds(), ElementsAre("d1@1", "c1@1", "a1@1"));

  // Written one by one instead, the same max_batch splits them.
  std::vector<int64_t> apart;
  for (const char* id : {"e1", "f1", "g1"}) {
    auto r = store_->WriteItem(Write(MakeItem(id, 1)));
    ASSERT_TRUE(r.ok()) << r.status();
    apart.push_back(r->receipt.accepted_at().seconds());
  }
  EXPECT_LT(apart[0], apart[2]);
}

TEST_P(StoreTest, ConcurrentWritersAllGetDistinctDurableReceipts) {
  constexpr int kThreads = 8, kPerThread = 250;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<uint64_t> cursors;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = store_->WriteItem(Write(MakeItem(absl::StrCat("t", t, "-", i), 1)));
        if (!r.ok()) {
          ++failures;
          continue;
        }
        std::lock_guard<std::mutex> lock(mu);
        cursors.insert(r->receipt.cursor());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(cursors.size(), static_cast<size_t>(kThreads * kPerThread));
  Reopen();
  auto events = store_->ReadEvents(0, {}, kThreads * kPerThread + 10);
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST_P(StoreTest, FullDiskRefusesWithResourceExhaustedAndKeepsEarlierData) {
  Reopen(/*max_bytes=*/64 * 8192);
  int accepted = 0;
  absl::Status last;
  for (int i = 0; i < 2000; ++i) {
    v1::Item item = MakeItem(absl::StrCat("big", i), 1);
    item.mutable_alert()->set_description(std::string(2000, 'x'));
    auto r = store_->WriteItem(Write(item));
    if (!r.ok()) {
      last = r.status();
      break;
    }
    ++accepted;
  }
  ASSERT_GT(accepted, 0);
  EXPECT_EQ(last.code(), absl::StatusCode::kResourceExhausted) << last;
  EXPECT_THAT(last.message(), HasSubstr("full"));
  // Space returns: everything acknowledged before is still there and new
  // writes succeed.
  Reopen(/*max_bytes=*/0);
  auto page = store_->ListItems({}, 1000, "");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(static_cast<int>(page->entries.size()), accepted);
  EXPECT_TRUE(store_->WriteItem(Write(MakeItem("after", 1))).ok());
}

TEST_P(StoreTest, AClosedStoreRefusesWrites) {
  store_->Close();
  EXPECT_EQ(store_->WriteItem(Write(MakeItem("a1", 1))).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_FALSE(store_->Healthy());
}

TEST_P(StoreTest, AWriteWhoseVersionWasSetToZeroAfterItsItemWriteIsRefused) {
  ItemWrite w = Write(MakeItem("a1", 1));
  w.item.set_version(0);
  EXPECT_EQ(store_->WriteItem(std::move(w)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ListIds().empty());
}

TEST_P(StoreTest, OutboxEntriesReadBackAsWhatThePartnerIsSent) {
  const absl::Time expiry = absl::FromUnixSeconds(2'000'000'000);
  ItemWrite first = Write(MakeItem("a1", 1));
  PartnerCopy copy = Copy("customs-nl", "projected");
  copy.item.add_provenance()->set_released_to("customs-nl");
  copy.expires_at = expiry;
  first.copies.push_back(copy);
  first.copies.push_back(Copy("port-rtm", "to port"));
  ASSERT_TRUE(store_->WriteItem(std::move(first)).ok());
  ItemWrite second = Write(MakeItem("a1", 2));
  second.copies.push_back(Copy("customs-nl", "v2"));
  second.withdrawal = Withdrawal("not shared under v2");
  ASSERT_TRUE(store_->WriteItem(std::move(second)).ok());

  auto customs = store_->ReadOutbox("customs-nl", 0, 10);
  ASSERT_TRUE(customs.ok()) << customs.status();
  ASSERT_EQ(customs->size(), 2u);
  const OutboxRecord& sent = (*customs)[0];
  EXPECT_EQ(sent.partner, "customs-nl");
  ASSERT_TRUE(sent.item.has_value());
  EXPECT_FALSE(sent.retraction.has_value());
  EXPECT_EQ(sent.item->SerializeAsString(), copy.item.SerializeAsString())
      << "the copy comes back as it was decided";
  EXPECT_EQ(sent.expires_at, expiry);
  EXPECT_NE(sent.enqueued_at, absl::InfinitePast());
  EXPECT_EQ((*customs)[1].expires_at, absl::InfinitePast());

  auto port = store_->ReadOutbox("port-rtm", 0, 10);
  ASSERT_TRUE(port.ok());
  ASSERT_EQ(port->size(), 2u);
  ASSERT_TRUE((*port)[1].retraction.has_value());
  EXPECT_FALSE((*port)[1].item.has_value());
  EXPECT_EQ((*port)[1].retraction->kind(), v1::Retraction::NO_LONGER_SHARED);
  EXPECT_EQ((*port)[1].retraction->reason(), "not shared under v2");
  EXPECT_TRUE((*port)[1].readable());
  // Sequences continue after acknowledged entries.
  ASSERT_TRUE(store_->AckOutbox("port-rtm", (*port)[1].sequence, {}).ok());
  ItemWrite third = Write(MakeItem("a1", 3));
  third.copies.push_back(Copy("port-rtm", "v3"));
  ASSERT_TRUE(store_->WriteItem(std::move(third)).ok());
  auto after = store_->ReadOutbox("port-rtm", 0, 10);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 1u);
  EXPECT_GT((*after)[0].sequence, (*port)[1].sequence);
}

TEST_P(StoreTest, ARetractionWithNoOnwardMessageQueuesNothing) {
  ItemWrite w = Write(MakeItem("a1", 1));
  w.copies.push_back(Copy("customs-nl", "item"));
  ASSERT_TRUE(store_->WriteItem(std::move(w)).ok());
  RetractionWrite r;
  r.retraction.set_origin("police-nl");
  r.retraction.set_item_id("a1");
  r.received_from = "police-nl";
  ASSERT_TRUE(store_->WriteRetraction(r).ok());
  EXPECT_THAT(Outbox("customs-nl"), ElementsAre("item"));
  EXPECT_TRUE(store_->GetItem("police-nl", "a1")->has_retraction());
}

TEST_P(StoreTest, AWithdrawalReachesOnlyPartnersThatHeldAnEarlierVersion) {
  ItemWrite v1w = Write(MakeItem("a1", 1));
  v1w.copies.push_back(Copy("customs-nl", "v1"));
  ASSERT_TRUE(store_->WriteItem(std::move(v1w)).ok());
  ItemWrite v2w = Write(MakeItem("a1", 2));
  v2w.copies.push_back(Copy("port-rtm", "v2"));
  v2w.withdrawal = Withdrawal("withdraw");
  ASSERT_TRUE(store_->WriteItem(std::move(v2w)).ok());
  EXPECT_THAT(Outbox("customs-nl"), ElementsAre("v1", "withdraw"));
  EXPECT_THAT(Outbox("port-rtm"), ElementsAre("v2"))
      << "a partner first shared with now gets no withdrawal";
  // A retraction by the origin then reaches everyone who held any version.
  RetractionWrite r;
  r.retraction.set_origin("police-nl");
  r.retraction.set_item_id("a1");
  r.retraction.set_reason("false");
  r.received_from = "police-nl";
  r.onward = r.retraction;
  ASSERT_TRUE(store_->WriteRetraction(r).ok());
  EXPECT_THAT(Outbox("customs-nl"), ElementsAre("v1", "withdraw", "false"));
  EXPECT_THAT(Outbox("port-rtm"), ElementsAre("v2", "false"));
}

// --- Match keys and hits ---------------------------------------------------

v1::MatchKey Key(v1::MatchKeyType type, const std::string& key) {
  v1::MatchKey k;
  k.set_type(type);
  k.set_key(key);
  return k;
}

TEST_P(StoreTest, AnItemSharingAKeyWithAHeldItemRecordsOneHitWithEventAndAudit) {
  ItemWrite first = Write(MakeItem("a1", 1));
  first.match_keys = {Key(v1::CONTAINER_NUMBER, "MSCU4812360"),
                      Key(v1::VESSEL_IMO, "IMO9319466")};
  ASSERT_TRUE(store_->WriteItem(std::move(first)).ok());
  ItemWrite second(MakeItem("r7", 1), "customs-nl");
  second.item.set_origin("customs-nl");
  second.match_keys = {Key(v1::CONTAINER_NUMBER, "MSCU4812360"),
                       Key(v1::VESSEL_IMO, "IMO9999999")};
  auto receipt = store_->WriteItem(std::move(second));
  ASSERT_TRUE(receipt.ok()) << receipt.status();

  auto hits = store_->ReadHits(0, 10);
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_EQ(hits->size(), 1u);
  const v1::Hit& hit = (*hits)[0];
  EXPECT_EQ(hit.key_type(), v1::CONTAINER_NUMBER);
  EXPECT_EQ(hit.key(), "MSCU4812360");
  EXPECT_EQ(hit.item().origin(), "customs-nl");
  EXPECT_EQ(hit.item().item_id(), "r7");
  EXPECT_EQ(hit.item().received_from(), "customs-nl");
  EXPECT_EQ(hit.other().origin(), "police-nl");
  EXPECT_EQ(hit.other().item_id(), "a1");
  EXPECT_EQ(hit.other().version(), 1u);
  // Hits take a cursor after the item's, and wake waiters.
  EXPECT_GT(hit.cursor(), receipt->receipt.cursor());
  EXPECT_EQ(store_->LastCursor(), hit.cursor());
  // ReadEvents (what Subscribe streams by default) does not return them.
  auto events = store_->ReadEvents(0, {}, 10);
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->size(), 2u);

  auto audit = store_->ReadAudit(0, 100);
  ASSERT_TRUE(audit.ok());
  int recorded = 0;
  for (const v1::AuditRecord& r : *audit) {
    if (r.type() != v1::HIT_RECORDED) continue;
    ++recorded;
    EXPECT_EQ(r.item().item_id(), "r7");
    EXPECT_EQ(r.other_item().item_id(), "a1");
    EXPECT_EQ(r.match_key_type(), "CONTAINER_NUMBER");
    EXPECT_EQ(r.match_key(), "MSCU4812360");
  }
  EXPECT_EQ(recorded, 1);

  // Both items are found under the key; a new version with the same key
  // records no second hit.
  auto holders = store_->FindMatchKey(Key(v1::CONTAINER_NUMBER, "MSCU4812360"), 10);
  ASSERT_TRUE(holders.ok());
  EXPECT_EQ(holders->size(), 2u);
  ItemWrite again = Write(MakeItem("a1", 2));
  again.match_keys = {Key(v1::CONTAINER_NUMBER, "MSCU4812360")};
  ASSERT_TRUE(store_->WriteItem(std::move(again)).ok());
  EXPECT_EQ(store_->ReadHits(0, 10)->size(), 1u);
  // The key the new version dropped is no longer indexed.
  EXPECT_TRUE(store_->FindMatchKey(Key(v1::VESSEL_IMO, "IMO9319466"), 10)->empty());
}

TEST_P(StoreTest, KeysOfOtherTypesOrValuesAndOfRetractedItemsNeverHit) {
  ItemWrite first = Write(MakeItem("a1", 1));
  first.match_keys = {Key(v1::BADGE_ID, "ps:00112233445566778899aabbccddeeff")};
  ASSERT_TRUE(store_->WriteItem(std::move(first)).ok());
  ItemWrite other_type = Write(MakeItem("a2", 1));
  other_type.match_keys = {Key(v1::PERSON_NAME, "ps:00112233445566778899aabbccddeeff")};
  ASSERT_TRUE(store_->WriteItem(std::move(other_type)).ok());
  ItemWrite other_value = Write(MakeItem("a3", 1));
  other_value.match_keys = {Key(v1::BADGE_ID, "ps:ffffffffffffffffffffffffffffffff")};
  ASSERT_TRUE(store_->WriteItem(std::move(other_value)).ok());
  EXPECT_TRUE(store_->ReadHits(0, 10)->empty());

  RetractionWrite r;
  r.retraction.set_origin("police-nl");
  r.retraction.set_item_id("a1");
  r.received_from = "police-nl";
  ASSERT_TRUE(store_->WriteRetraction(r).ok());
  ItemWrite late = Write(MakeItem("a4", 1));
  late.match_keys = {Key(v1::BADGE_ID, "ps:00112233445566778899aabbccddeeff")};
  ASSERT_TRUE(store_->WriteItem(std::move(late)).ok());
  EXPECT_TRUE(store_->ReadHits(0, 10)->empty());
  auto holders = store_->FindMatchKey(
      Key(v1::BADGE_ID, "ps:00112233445566778899aabbccddeeff"), 10);
  ASSERT_TRUE(holders.ok());
  ASSERT_EQ(holders->size(), 1u);
  EXPECT_EQ((*holders)[0].item_id(), "a4");
}

TEST_P(StoreTest, HitsSurviveReopenAndPageByCursor) {
  for (int i = 0; i < 3; ++i) {
    ItemWrite w = Write(MakeItem(absl::StrCat("c", i), 1));
    w.match_keys = {Key(v1::CONTAINER_NUMBER, "CSQU3054383")};
    ASSERT_TRUE(store_->WriteItem(std::move(w)).ok());
  }
  // c1 hits c0; c2 hits c0 and c1.
  Reopen();
  auto hits = store_->ReadHits(0, 10);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 3u);
  auto rest = store_->ReadHits((*hits)[0].cursor(), 10);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ((*rest)[0].item().item_id(), "c2");
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::ValuesIn(kBackends),
                         BackendName);

// --- The policy history (its lifecycle rules: proposal_store_test.cc) ---

class PolicyHistoryTest : public ::testing::TestWithParam<BackendUnderTest> {
 protected:
  void SetUp() override {
    dir_ = TestDir("policy_history_test_");
    std::filesystem::remove_all(dir_);
    Reopen();
  }
  void TearDown() override {
    history_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    history_.reset();
    auto history = GetParam().open_policy_history(dir_);
    ASSERT_TRUE(history.ok()) << history.status();
    history_ = std::move(*history);
  }
  static v1::PolicyProposal Entry(const std::string& version,
                                  v1::PolicyProposal::State state) {
    v1::PolicyProposal p;
    p.set_version(version);
    p.set_state(state);
    p.set_digest(absl::StrCat("digest of ", version));
    p.set_policy_text(absl::StrCat("text of ", version));
    p.set_proposed_by("spiffe://police.nl.example/officer/anna");
    p.mutable_proposed_at()->set_seconds(1'795'000'000);
    p.set_comment("why");
    return p;
  }
  std::vector<std::string> Versions(const PolicyHistoryQuery& query) {
    auto found = history_->Find(query);
    EXPECT_TRUE(found.ok()) << found.status();
    std::vector<std::string> out;
    for (const auto& p : *found) {
      out.push_back(absl::StrCat(p.version(), "=",
                                 v1::PolicyProposal::State_Name(p.state())));
    }
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<PolicyHistory> history_;
};

TEST_P(PolicyHistoryTest, AddedEntriesGetIncreasingIdsAndComeBackNewestFirst) {
  auto a = history_->Add(Entry("v1", v1::PolicyProposal::ACTIVE));
  auto b = history_->Add(Entry("v2", v1::PolicyProposal::PROPOSED));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_THAT(Versions({}), ElementsAre("v2=PROPOSED", "v1=ACTIVE"));
  PolicyHistoryQuery by_id;
  by_id.id = *a;
  by_id.include_text = true;
  auto found = history_->Find(by_id);
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 1u);
  v1::PolicyProposal expected = Entry("v1", v1::PolicyProposal::ACTIVE);
  expected.set_id(*a);
  EXPECT_EQ((*found)[0].SerializeAsString(), expected.SerializeAsString());
  // Without include_text the text stays behind.
  by_id.include_text = false;
  EXPECT_TRUE(history_->Find(by_id)->at(0).policy_text().empty());
  // An id that was never assigned matches nothing.
  by_id.id = "999999";
  EXPECT_TRUE(history_->Find(by_id)->empty());
}

TEST_P(PolicyHistoryTest, FindMatchesEveryFieldItIsGiven) {
  ASSERT_TRUE(history_->Add(Entry("v1", v1::PolicyProposal::SUPERSEDED)).ok());
  ASSERT_TRUE(history_->Add(Entry("v2", v1::PolicyProposal::ACTIVE)).ok());
  ASSERT_TRUE(history_->Add(Entry("v3", v1::PolicyProposal::PROPOSED)).ok());
  v1::PolicyProposal other = Entry("v1", v1::PolicyProposal::PROPOSED);
  other.set_digest("another text");
  ASSERT_TRUE(history_->Add(other).ok());

  PolicyHistoryQuery q;
  q.version = "v1";
  EXPECT_THAT(Versions(q), ElementsAre("v1=PROPOSED", "v1=SUPERSEDED"));
  q.digest = "digest of v1";
  EXPECT_THAT(Versions(q), ElementsAre("v1=SUPERSEDED"));
  PolicyHistoryQuery states;
  states.states = {v1::PolicyProposal::ACTIVE, v1::PolicyProposal::SUPERSEDED};
  EXPECT_THAT(Versions(states), ElementsAre("v2=ACTIVE", "v1=SUPERSEDED"));
  PolicyHistoryQuery limited;
  limited.limit = 2;
  EXPECT_THAT(Versions(limited), ElementsAre("v1=PROPOSED", "v3=PROPOSED"));
  PolicyHistoryQuery empty_version;
  empty_version.version = "";
  EXPECT_TRUE(Versions(empty_version).empty()) << "an empty label is a label";
}

TEST_P(PolicyHistoryTest, UpdateWritesStateApprovalAndActivationOfEveryEntryAndSurvivesReopen) {
  auto a = history_->Add(Entry("v1", v1::PolicyProposal::ACTIVE));
  auto b = history_->Add(Entry("v2", v1::PolicyProposal::PROPOSED));
  ASSERT_TRUE(a.ok() && b.ok());
  PolicyHistoryQuery all;
  all.include_text = true;
  auto entries = history_->Find(all);
  ASSERT_TRUE(entries.ok());
  v1::PolicyProposal v2 = (*entries)[0], v1 = (*entries)[1];
  v2.set_state(v1::PolicyProposal::ACTIVE);
  v2.set_approved_by("spiffe://police.nl.example/officer/bert");
  v2.mutable_approved_at()->set_seconds(1'795'000'100);
  v2.set_approval_comment("checked");
  v2.set_activated_by("spiffe://police.nl.example/officer/bert");
  v2.mutable_activated_at()->set_seconds(1'795'000'200);
  v1.set_state(v1::PolicyProposal::SUPERSEDED);
  ASSERT_TRUE(history_->Update({v1, v2}).ok());
  Reopen();
  auto after = history_->Find(all);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 2u);
  EXPECT_EQ((*after)[0].SerializeAsString(), v2.SerializeAsString());
  EXPECT_EQ((*after)[1].SerializeAsString(), v1.SerializeAsString());
}

INSTANTIATE_TEST_SUITE_P(Backends, PolicyHistoryTest,
                         ::testing::ValuesIn(kBackends), BackendName);

}  // namespace
}  // namespace havengate::store
