// What only the SQLite backend does, beside the conformance suite
// (store_conformance_test.cc): its file format stays readable by this
// build and by earlier ones, and it refuses a file a newer build wrote.
#include "server/store/sqlite_store.h"

#include <sqlite3.h>

#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "havengate/v1/federation.pb.h"

namespace havengate::store {
namespace {

using ::testing::HasSubstr;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("sqlite_store_test_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()
                            ->current_test_info()
                            ->name());
    std::filesystem::remove_all(dir_);
    path_ = (dir_ / "gateway.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  absl::StatusOr<std::unique_ptr<Store>> Open() {
    SqliteOptions options;
    options.path = path_;
    return OpenSqliteStore(options);
  }
  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << (error != nullptr ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }
  void InsertOutbox(int sequence, const std::string& bytes) {
    Sql(absl::StrCat("INSERT INTO outbox(partner, sequence, payload, "
                     "expires_at_us, enqueued_at_us) VALUES('customs-nl', ",
                     sequence, ", X'", absl::BytesToHexString(bytes),
                     "', 0, 1);"
                     "INSERT OR REPLACE INTO outbox_sequence VALUES('customs-nl', ",
                     sequence, ");"));
  }

  std::filesystem::path dir_;
  std::string path_;
};

// Earlier builds queued serialized v1::FederationMessages; they read back
// as the partner's copy or retraction.
TEST_F(SqliteStoreTest, OutboxEntriesWrittenByEarlierBuildsReadBack) {
  ASSERT_TRUE(Open().ok());  // creates the file
  v1::FederationMessage copy;
  copy.mutable_item()->set_item_id("a1");
  copy.mutable_item()->set_origin("police-nl");
  v1::FederationMessage retraction;
  retraction.mutable_retraction()->set_item_id("a1");
  retraction.mutable_retraction()->set_reason("withdrawn");
  InsertOutbox(1, copy.SerializeAsString());
  InsertOutbox(2, retraction.SerializeAsString());
  InsertOutbox(3, "\xff");
  auto store = Open();
  ASSERT_TRUE(store.ok()) << store.status();
  auto records = (*store)->ReadOutbox("customs-nl", 0, 10);
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 3u);
  ASSERT_TRUE((*records)[0].item.has_value());
  EXPECT_EQ((*records)[0].item->item_id(), "a1");
  ASSERT_TRUE((*records)[1].retraction.has_value());
  EXPECT_EQ((*records)[1].retraction->reason(), "withdrawn");
  EXPECT_FALSE((*records)[2].readable()) << "damaged: returned, never sent";
  EXPECT_EQ((*records)[2].sequence, 3u);
}

TEST_F(SqliteStoreTest, WhatThisBuildQueuesIsWhatEarlierBuildsQueued) {
  {
    auto store = Open();
    ASSERT_TRUE(store.ok());
    v1::Item item;
    item.set_item_id("a1");
    item.set_version(1);
    item.set_origin("police-nl");
    ItemWrite write(item, "police-nl");
    PartnerCopy& copy = write.copies.emplace_back();
    copy.partner = "customs-nl";
    copy.item = item;
    ASSERT_TRUE((*store)->WriteItem(std::move(write)).ok());
    (*store)->Close();
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT payload FROM outbox", -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  v1::FederationMessage message;
  EXPECT_TRUE(message.ParseFromArray(sqlite3_column_blob(stmt, 0),
                                     sqlite3_column_bytes(stmt, 0)));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  EXPECT_EQ(message.item().item_id(), "a1");
  EXPECT_EQ(message.sequence(), 0u) << "the link sets the sequence when it sends";
}

TEST_F(SqliteStoreTest, AStoreWrittenByANewerSchemaIsRefused) {
  ASSERT_TRUE(Open().ok());
  Sql("UPDATE meta SET value='99' WHERE key='schema_version'");
  auto store = Open();
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("newer havengate"));
}

TEST_F(SqliteStoreTest, ThePolicyHistoryLivesBesideTheStoreFile) {
  EXPECT_EQ(SqlitePolicyHistoryPath("/var/lib/havengate/gateway.db"),
            "/var/lib/havengate/gateway.db.policies");
}

}  // namespace
}  // namespace havengate::store
