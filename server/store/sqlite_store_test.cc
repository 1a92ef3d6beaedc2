#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "evidence/audit_chain.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "gtest/gtest.h"
#include "openssl/sha.h"
#include "server/store/store.h"

namespace havengate::store {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("store_test_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen(int64_t max_pages = 0, SqliteOptions options = {}) {
    store_.reset();
    options.path = (dir_ / "db" / "gateway.db").string();
    options.max_page_count_for_testing = max_pages;
    auto store = OpenSqliteStore(options);
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
  ItemWrite Write(const v1::Item& item) {
    ItemWrite w;
    w.item = item;
    w.received_from = "police-nl";
    return w;
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
  std::vector<std::string> OutboxPayloads(const std::string& partner) {
    auto records = store_->ReadOutbox(partner, 0, 100);
    EXPECT_TRUE(records.ok()) << records.status();
    std::vector<std::string> payloads;
    for (const auto& r : *records) payloads.push_back(r.payload);
    return payloads;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, WriteThenReadBack) {
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
}

TEST_F(StoreTest, VersionZeroIsStoredAsOne) {
  auto result = store_->WriteItem(Write(MakeItem("a1", 0)));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->receipt.version(), 1u);
}

TEST_F(StoreTest, RetriedWriteReturnsOriginalReceiptAndStoresOneCopy) {
  auto first = store_->WriteItem(Write(MakeItem("a1", 1)));
  ASSERT_TRUE(first.ok());
  ItemWrite again = Write(MakeItem("a1", 1));
  again.outbox.push_back({"customs-nl", "payload", absl::InfinitePast()});
  auto second = store_->WriteItem(std::move(again));
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->receipt.duplicate());
  EXPECT_EQ(second->receipt.cursor(), first->receipt.cursor());
  EXPECT_EQ(second->receipt.accepted_at().seconds(),
            first->receipt.accepted_at().seconds());
  EXPECT_EQ(second->receipt.digest(), first->receipt.digest());
  EXPECT_THAT(ListIds(), ElementsAre("a1@1"));
  EXPECT_TRUE(OutboxPayloads("customs-nl").empty())
      << "a duplicate must not queue anything";
}

TEST_F(StoreTest, SameVersionWithDifferentContentIsRefused) {
  ASSERT_TRUE(store_->WriteItem(Write(MakeItem("a1", 1))).ok());
  auto conflict = store_->WriteItem(Write(MakeItem("a1", 1, "Other title")));
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->GetItem("police-nl", "a1")->item().alert().title(),
            "Stolen PIN used");
}

TEST_F(StoreTest, SameVersionFromAnotherGatewayIsADuplicateAndTheFirstCopyStays) {
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
  second.outbox.push_back({"port-rtm", "payload", absl::InfinitePast()});
  auto other = store_->WriteItem(std::move(second));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_TRUE(other->receipt.duplicate());
  EXPECT_EQ(other->stored_copy_from, "police-be");
  EXPECT_EQ(other->receipt.digest(), stored->receipt.digest());
  EXPECT_EQ(store_->GetItem("police-be", "b1")->item().alert().title(),
            "As Antwerp sent it");
  EXPECT_EQ(store_->GetItem("police-be", "b1")->received_from(), "police-be");
  EXPECT_TRUE(OutboxPayloads("port-rtm").empty());
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

TEST_F(StoreTest, HigherVersionSupersedesAndLateLowerVersionDoesNot) {
  ASSERT_TRUE(store_->WriteItem(Write(MakeItem("a1", 1, "v1"))).ok());
  ASSERT_TRUE(store_->WriteItem(Write(MakeItem("a1", 3, "v3"))).ok());
  ItemWrite late = Write(MakeItem("a1", 2, "v2"));
  late.outbox.push_back({"customs-nl", "v2 payload", absl::InfinitePast()});
  ASSERT_TRUE(store_->WriteItem(std::move(late)).ok());
  EXPECT_THAT(ListIds(), ElementsAre("a1@3"));
  EXPECT_EQ(store_->GetItem("police-nl", "a1")->item().alert().title(), "v3");
  EXPECT_TRUE(OutboxPayloads("customs-nl").empty());
  // Subscribers see v1 and v3, not the late v2.
  auto events = store_->ReadEvents(0, {}, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[1].entry().item().version(), 3u);
}

TEST_F(StoreTest, OutboxIsOrderedPerPartnerAndAckRemovesEntries) {
  for (int i = 1; i <= 3; ++i) {
    ItemWrite w = Write(MakeItem(absl::StrCat("a", i), 1));
    w.outbox.push_back({"customs-nl", absl::StrCat("to customs ", i), absl::InfinitePast()});
    if (i != 2) {
      w.outbox.push_back({"port-rtm", absl::StrCat("to port ", i), absl::InfinitePast()});
    }
    ASSERT_TRUE(store_->WriteItem(std::move(w)).ok());
  }
  EXPECT_THAT(OutboxPayloads("customs-nl"),
              ElementsAre("to customs 1", "to customs 2", "to customs 3"));
  EXPECT_THAT(OutboxPayloads("port-rtm"), ElementsAre("to port 1", "to port 3"));
  auto customs = store_->ReadOutbox("customs-nl", 0, 10);
  ASSERT_TRUE(customs.ok());
  EXPECT_EQ((*customs)[0].sequence + 1, (*customs)[1].sequence);
  ASSERT_TRUE(store_->AckOutbox("customs-nl", (*customs)[1].sequence, {}).ok());
  EXPECT_THAT(OutboxPayloads("customs-nl"), ElementsAre("to customs 3"));
  auto stats = store_->GetOutboxStats();
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->size(), 2u);
  EXPECT_EQ((*stats)[0].partner, "customs-nl");
  EXPECT_EQ((*stats)[0].depth, 1u);
  EXPECT_EQ((*stats)[1].depth, 2u);
}

TEST_F(StoreTest, NewVersionWithdrawsFromPartnersNoLongerSharedWith) {
  ItemWrite v1w = Write(MakeItem("a1", 1));
  v1w.outbox.push_back({"customs-nl", "v1 to customs", absl::InfinitePast()});
  v1w.outbox.push_back({"port-rtm", "v1 to port", absl::InfinitePast()});
  ASSERT_TRUE(store_->WriteItem(std::move(v1w)).ok());
  ItemWrite v2w = Write(MakeItem("a1", 2));
  v2w.outbox.push_back({"customs-nl", "v2 to customs", absl::InfinitePast()});
  v2w.withdrawal_payload = "withdraw";
  ASSERT_TRUE(store_->WriteItem(std::move(v2w)).ok());
  EXPECT_THAT(OutboxPayloads("customs-nl"),
              ElementsAre("v1 to customs", "v2 to customs"));
  EXPECT_THAT(OutboxPayloads("port-rtm"), ElementsAre("v1 to port", "withdraw"));
}

TEST_F(StoreTest, RetractionHidesItemQueuesToPartnersAndBlocksNewVersions) {
  ItemWrite w = Write(MakeItem("a1", 1));
  w.outbox.push_back({"customs-nl", "item", absl::InfinitePast()});
  ASSERT_TRUE(store_->WriteItem(std::move(w)).ok());
  ASSERT_TRUE(store_->WriteItem(Write(MakeItem("a2", 1))).ok());
  RetractionWrite r;
  r.retraction.set_origin("police-nl");
  r.retraction.set_item_id("a1");
  r.retraction.set_reason("information proved false");
  r.received_from = "police-nl";
  r.partner_payload = "retract a1";
  ASSERT_TRUE(store_->WriteRetraction(r).ok());
  EXPECT_THAT(ListIds(), ElementsAre("a2@1"));
  v1::ItemFilter with_retracted;
  with_retracted.set_include_retracted(true);
  EXPECT_THAT(ListIds(with_retracted), ElementsAre("a2@1", "a1@1"));
  EXPECT_EQ(store_->GetItem("police-nl", "a1")->retraction().reason(),
            "information proved false");
  EXPECT_THAT(OutboxPayloads("customs-nl"), ElementsAre("item", "retract a1"));
  // Retracting again changes nothing; new versions are refused.
  ASSERT_TRUE(store_->WriteRetraction(r).ok());
  EXPECT_THAT(OutboxPayloads("customs-nl"), ElementsAre("item", "retract a1"));
  EXPECT_EQ(store_->WriteItem(Write(MakeItem("a1", 2))).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto events = store_->ReadEvents(0, {}, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[2].retraction().item_id(), "a1");
}

TEST_F(StoreTest, WithdrawalIsLiftedByANewerVersionButNotAnOlderOne) {
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

TEST_F(StoreTest, RetractionOfUnknownItemIsNotFound) {
  RetractionWrite r;
  r.retraction.set_origin("police-nl");
  r.retraction.set_item_id("nope");
  EXPECT_EQ(store_->WriteRetraction(r).code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, ListFiltersAndPages) {
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

TEST_F(StoreTest, ReadEventsResumesFromCursor) {
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

TEST_F(StoreTest, WaitForEventsWakesOnCommit) {
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

TEST_F(StoreTest, AuditRecordsFormAChainThatSurvivesReopen) {
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

TEST_F(StoreTest, CheckpointsAreSignedAtTheirPlaceAndCommitsAreReported) {
  std::mutex mu;
  std::vector<std::pair<uint64_t, std::string>> signed_places;
  std::vector<v1::AuditRecord> committed;
  SqliteOptions options;
  options.sign_checkpoint = [&](uint64_t sequence,
                                const std::string& previous_hash)
      -> absl::StatusOr<SqliteOptions::CheckpointSignature> {
    std::lock_guard<std::mutex> lock(mu);
    signed_places.emplace_back(sequence, previous_hash);
    return SqliteOptions::CheckpointSignature{
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

TEST_F(StoreTest, CheckpointThatCannotBeSignedIsNotStored) {
  SqliteOptions options;
  options.sign_checkpoint = [](uint64_t, const std::string&)
      -> absl::StatusOr<SqliteOptions::CheckpointSignature> {
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
TEST_F(StoreTest, DiscardAuditForBenchmarkKeepsItemsAndOutboxButNoAudit) {
  int committed = 0;
  SqliteOptions options;
  options.discard_audit_for_benchmark = true;
  options.on_audit_committed = [&](const v1::AuditRecord&) { ++committed; };
  Reopen(0, options);
  ItemWrite w = Write(MakeItem("a1", 1));
  w.outbox.push_back({"customs-nl", "payload", absl::InfinitePast()});
  w.audit.emplace_back().set_type(v1::ITEM_INGESTED);
  ASSERT_TRUE(store_->WriteItem(std::move(w)).ok());
  v1::AuditRecord started;
  started.set_type(v1::GATEWAY_STARTED);
  ASSERT_TRUE(store_->AppendAudit({started}).ok());
  EXPECT_THAT(ListIds(), ElementsAre("a1@1"));
  EXPECT_THAT(OutboxPayloads("customs-nl"), ElementsAre("payload"));
  EXPECT_TRUE(store_->ReadAudit(0, 10)->empty());
  EXPECT_EQ(committed, 0);
  // Without the option (the default) the same store keeps the audit again.
  Reopen();
  ASSERT_TRUE(store_->AppendAudit({started}).ok());
  EXPECT_EQ(store_->ReadAudit(0, 10)->size(), 1u);
}

TEST_F(StoreTest, RefusedWriteInABatchLeavesNoAuditOrOutbox) {
  ASSERT_TRUE(store_->WriteItem(Write(MakeItem("a1", 1))).ok());
  ItemWrite conflict = Write(MakeItem("a1", 1, "different"));
  conflict.outbox.push_back({"customs-nl", "leak?", absl::InfinitePast()});
  conflict.audit.emplace_back().set_type(v1::ITEM_INGESTED);
  EXPECT_FALSE(store_->WriteItem(std::move(conflict)).ok());
  EXPECT_TRUE(OutboxPayloads("customs-nl").empty());
  EXPECT_TRUE(store_->ReadAudit(0, 10)->empty());
}

// Refusals in the middle of one batch (one transaction): the refused
// writes leave nothing, the others are all stored with their outbox and
// audit entries, and the audit chain stays gapless.
TEST_F(StoreTest, RefusalsInsideABatchDoNotDisturbTheRestOfIt) {
  ASSERT_TRUE(store_->WriteItem(Write(MakeItem("a1", 1))).ok());
  auto with_effects = [&](const v1::Item& item) {
    ItemWrite w = Write(item);
    w.outbox.push_back({"customs-nl", item.item_id(), absl::InfinitePast()});
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
  EXPECT_THAT(OutboxPayloads("customs-nl"),
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

TEST_F(StoreTest, ConcurrentWritersAllGetDistinctDurableReceipts) {
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

TEST_F(StoreTest, FullDiskRefusesWithResourceExhaustedAndKeepsEarlierData) {
  Reopen(/*max_pages=*/64);
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
  Reopen(/*max_pages=*/0);
  auto page = store_->ListItems({}, 1000, "");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(static_cast<int>(page->entries.size()), accepted);
  EXPECT_TRUE(store_->WriteItem(Write(MakeItem("after", 1))).ok());
}

TEST_F(StoreTest, ClosedStoreRefusesWrites) {
  store_->Close();
  EXPECT_EQ(store_->WriteItem(Write(MakeItem("a1", 1))).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_FALSE(store_->Healthy());
}

}  // namespace
}  // namespace havengate::store
