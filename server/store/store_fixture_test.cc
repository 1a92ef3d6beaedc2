// Stores written by a release stay readable by later builds: the store
// and policy history in testdata/ were written by the release that wrote
// schema 1 (store_fixture_writer, see testdata/README.md); this build opens
// a copy, migrating it if its schema is older, and reads everything back.
// A store from a newer release is refused with a message saying so.
#include <sqlite3.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/sqlite_store.h"

namespace havengate::store {
namespace {

using ::testing::HasSubstr;

namespace fs = std::filesystem;

class StoreFixtureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat("store_fixture_test_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "gateway.db").string();
    // Opening migrates in place: work on a copy.
    const fs::path fixture = fs::path(HG_STORE_TESTDATA) / "schema1.db";
    fs::copy_file(fixture, path_);
    fs::copy_file(fixture.string() + ".policies", SqlitePolicyHistoryPath(path_));
  }
  void TearDown() override { fs::remove_all(dir_); }

  absl::StatusOr<std::unique_ptr<Store>> Open() {
    SqliteOptions options;
    options.path = path_;
    return OpenSqliteStore(options);
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(StoreFixtureTest, AStoreWrittenBySchema1OpensAndReadsBack) {
  auto store = Open();
  ASSERT_TRUE(store.ok()) << store.status();
  auto a1 = (*store)->GetItem("police-nl", "a1");
  ASSERT_TRUE(a1.ok()) << a1.status();
  EXPECT_EQ(a1->item().version(), 2u);
  EXPECT_EQ(a1->item().alert().title(), "Stolen release PIN used");
  EXPECT_EQ(a1->received_from(), "police-nl");

  auto events = (*store)->ReadEvents(0, {}, 100);
  ASSERT_TRUE(events.ok()) << events.status();
  bool c1_retracted = false;
  for (const v1::InboxEvent& event : *events) {
    if (event.has_retraction() && event.retraction().item_id() == "c1") {
      c1_retracted = true;
      EXPECT_EQ(event.retraction().reason(), "entered in error");
    }
  }
  EXPECT_TRUE(c1_retracted);

  auto outbox = (*store)->ReadOutbox("customs-nl", 0, 10);
  ASSERT_TRUE(outbox.ok()) << outbox.status();
  ASSERT_EQ(outbox->size(), 2u);
  ASSERT_TRUE((*outbox)[1].item.has_value());
  EXPECT_EQ((*outbox)[1].item->version(), 2u);

  auto audit = (*store)->ReadAudit(0, 100);
  ASSERT_TRUE(audit.ok()) << audit.status();
  ASSERT_GE(audit->size(), 2u);
  EXPECT_EQ((*audit)[0].sequence(), 1u);
  EXPECT_EQ((*audit)[0].type(), v1::ITEM_RECEIVED);

  // Still writable: the chain goes on from the fixture's head.
  v1::AuditRecord record;
  record.set_type(v1::ITEM_RECEIVED);
  ASSERT_TRUE((*store)->AppendAudit({record}).ok());
  auto after = (*store)->ReadAudit(audit->back().sequence(), 10);
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ(after->front().previous_hash(), audit->back().hash());
  (*store)->Close();

  auto history = OpenSqlitePolicyHistory(SqlitePolicyHistoryPath(path_));
  ASSERT_TRUE(history.ok()) << history.status();
  PolicyHistoryQuery query;
  query.include_text = true;
  auto entries = (*history)->Find(query);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ(entries->front().version(), "fixture-1");
  EXPECT_EQ(entries->front().policy_text(), "organisation: police-nl\n");
}

TEST_F(StoreFixtureTest, AStoreFromANewerReleaseIsRefusedClearly) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE meta SET value='2' WHERE key='schema_version'",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = Open();
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(),
              HasSubstr("was written by a newer havengate (schema 2); this build "
                        "reads schema 1"));
}

}  // namespace
}  // namespace havengate::store
