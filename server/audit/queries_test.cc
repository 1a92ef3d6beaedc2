// The oversight queries of evidence/queries.h over a log the gateway's own
// store wrote. They are tested here rather than in evidence/ because they
// need the real store to write that log, and evidence/ does not depend on
// server/.
#include "evidence/queries.h"

#include <filesystem>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/json.h"
#include "server/store/sqlite_store.h"

namespace havengate::evidence {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kCanary[] = "Canary Vanderbilt-Okonkwo";

// A store with two items (one mentions container CSQU3054383), decisions
// and deliveries for two partners, and lifecycle records of version v2.
class QueriesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("queries_test_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()
                            ->current_test_info()
                            ->name());
    std::filesystem::remove_all(dir_);
    path_ = (dir_ / "gateway.db").string();
    store::SqliteOptions sqlite;
    sqlite.path = path_;
    store::StoreOptions options;
    options.now = [this] { return now_; };
    auto store = store::OpenSqliteStore(sqlite, options);
    ASSERT_TRUE(store.ok()) << store.status();

    Lifecycle(**store, v1::POLICY_PROPOSED, "officer/anna", "v2");
    Lifecycle(**store, v1::POLICY_APPROVED, "officer/bert", "v2");
    Lifecycle(**store, v1::POLICY_ACTIVATED, "officer/bert", "v2");
    WriteItem(**store, "a1", "CSQU3054383");
    WriteItem(**store, "a2", "MSKU1234565");
    Tick();
    Decide(**store, "a1", "customs-nl", "v2", {"containers.number", "title"},
           {"persons.name: pseudonymise"}, {"pin-fraud-to-customs"});
    Decide(**store, "a2", "customs-nl", "v2", {"title"}, {}, {"titles-only"});
    Decide(**store, "a1", "port-rtm", "v2", {"containers"}, {}, {"port-all"});
    Tick();
    Deliver(**store, "a1", "customs-nl");
    Deliver(**store, "a2", "customs-nl");
    Tick();
    Deliver(**store, "a1", "port-rtm");
    (*store)->Close();
    auto reader = AuditStore::Open(path_);
    ASSERT_TRUE(reader.ok()) << reader.status();
    reader_ = std::move(*reader);
  }
  void TearDown() override {
    reader_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Tick() { now_ += absl::Hours(1); }

  void Lifecycle(store::Store& s, v1::AuditEventType type,
                 const std::string& officer, const std::string& version) {
    v1::AuditRecord r;
    r.set_type(type);
    r.set_actor(absl::StrCat("spiffe://police.nl.example/", officer));
    r.set_policy_version(version);
    ASSERT_TRUE(s.AppendAudit({r}).ok());
  }
  void WriteItem(store::Store& s, const std::string& id,
                 const std::string& container) {
    store::ItemWrite w(v1::Item(), "police-nl");
    w.item.set_item_id(id);
    w.item.set_version(1);
    w.item.set_origin("police-nl");
    w.item.mutable_classification()->set_tlp(v1::Classification::AMBER);
    w.item.mutable_alert()->set_category(v1::Alert::PIN_CODE_FRAUD);
    w.item.mutable_alert()->set_severity(v1::Alert::HIGH);
    w.item.mutable_alert()->set_title(kCanary);
    w.item.mutable_alert()->add_containers()->set_number(container);
    v1::AuditRecord r;
    r.set_type(v1::ITEM_INGESTED);
    r.mutable_item()->set_origin("police-nl");
    r.mutable_item()->set_item_id(id);
    r.mutable_item()->set_version(1);
    w.audit.push_back(r);
    ASSERT_TRUE(s.WriteItem(std::move(w)).ok());
  }
  void Decide(store::Store& s, const std::string& id,
              const std::string& partner, const std::string& version,
              std::vector<std::string> released,
              std::vector<std::string> transformed,
              std::vector<std::string> rules) {
    v1::AuditRecord r;
    r.set_type(v1::SHARE_DECIDED);
    r.mutable_item()->set_origin("police-nl");
    r.mutable_item()->set_item_id(id);
    r.mutable_item()->set_version(1);
    r.set_partner(partner);
    r.set_policy_version(version);
    r.set_released(true);
    for (auto& f : released) r.add_released_fields(f);
    for (auto& f : transformed) r.add_transformed_fields(f);
    for (auto& f : rules) r.add_matched_rules(f);
    ASSERT_TRUE(s.AppendAudit({r}).ok());
  }
  void Deliver(store::Store& s, const std::string& id,
               const std::string& partner) {
    v1::AuditRecord r;
    r.set_type(v1::ITEM_DELIVERED);
    r.mutable_item()->set_origin("police-nl");
    r.mutable_item()->set_item_id(id);
    r.mutable_item()->set_version(1);
    r.set_partner(partner);
    ASSERT_TRUE(s.AppendAudit({r}).ok());
  }

  static std::vector<std::string> Summaries(
      const std::vector<v1::AuditRecord>& records) {
    std::vector<std::string> out;
    for (const auto& r : records) {
      out.push_back(absl::StrCat(v1::AuditEventType_Name(r.type()), " ",
                                 r.item().item_id()));
    }
    return out;
  }

  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
  std::filesystem::path dir_;
  std::string path_;
  std::unique_ptr<AuditStore> reader_;
};

TEST_F(QueriesTest, SharedWithPartnerAboutAContainer) {
  SharedQuery query;
  query.partner = "customs-nl";
  auto all = FindShared(*reader_, query);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(Summaries(*all),
              ElementsAre("SHARE_DECIDED a1", "SHARE_DECIDED a2",
                          "ITEM_DELIVERED a1", "ITEM_DELIVERED a2"));
  query.container = "csqu 3054383";  // case and spaces do not matter
  auto about = FindShared(*reader_, query);
  ASSERT_TRUE(about.ok()) << about.status();
  EXPECT_THAT(Summaries(*about),
              ElementsAre("SHARE_DECIDED a1", "ITEM_DELIVERED a1"));
  query.container = "TGHU0000000";
  EXPECT_TRUE(FindShared(*reader_, query)->empty());
}

TEST_F(QueriesTest, ReceivedByPartnerInAPeriod) {
  TimeRange range;
  auto all = FindReceived(*reader_, "customs-nl", range);
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(Summaries(*all), ElementsAre("ITEM_DELIVERED a1", "ITEM_DELIVERED a2"));
  // The port's delivery was an hour later.
  range.since = absl::FromUnixSeconds(1'800'000'000) + absl::Hours(3);
  EXPECT_TRUE(FindReceived(*reader_, "customs-nl", range)->empty());
  EXPECT_THAT(Summaries(*FindReceived(*reader_, "port-rtm", range)),
              ElementsAre("ITEM_DELIVERED a1"));
}

TEST_F(QueriesTest, WhichVersionAndRulesReleasedAFieldAndWhoApproved) {
  FieldQuery query;
  query.field = "containers.number";
  auto releases = FindFieldReleases(*reader_, query);
  ASSERT_TRUE(releases.ok()) << releases.status();
  ASSERT_EQ(releases->size(), 1u);
  const FieldRelease& r = (*releases)[0];
  EXPECT_EQ(r.policy_version, "v2");
  EXPECT_EQ(r.decisions, 2u);  // customs (the field), port (all containers)
  EXPECT_THAT(r.rules, ElementsAre("pin-fraud-to-customs", "port-all"));
  EXPECT_THAT(r.partners, ElementsAre("customs-nl", "port-rtm"));
  EXPECT_EQ(r.outcomes.at("released"), 2u);
  ASSERT_EQ(r.lifecycle.size(), 3u);
  EXPECT_EQ(r.lifecycle[0].type(), v1::POLICY_PROPOSED);
  EXPECT_EQ(r.lifecycle[0].actor(), "spiffe://police.nl.example/officer/anna");
  EXPECT_EQ(r.lifecycle[1].type(), v1::POLICY_APPROVED);
  EXPECT_EQ(r.lifecycle[1].actor(), "spiffe://police.nl.example/officer/bert");

  query.field = "persons.name";
  releases = FindFieldReleases(*reader_, query);
  ASSERT_EQ(releases->size(), 1u);
  EXPECT_EQ((*releases)[0].outcomes.at("transformed (pseudonymise)"), 1u);
  query.field = "containers";
  releases = FindFieldReleases(*reader_, query);
  ASSERT_EQ(releases->size(), 1u);
  EXPECT_EQ((*releases)[0].outcomes.at("released in part (containers.number)"),
            1u);
  query.partner = "nobody";
  EXPECT_TRUE(FindFieldReleases(*reader_, query)->empty());
}

TEST_F(QueriesTest, ExportIsOneRecordPerLineWithoutItemContents) {
  std::ostringstream out;
  ExportQuery query;
  auto written = ExportJsonLines(*reader_, query, out);
  ASSERT_TRUE(written.ok()) << written.status();
  std::vector<std::string> lines =
      absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), *written);
  EXPECT_EQ(lines.size(), 11u);
  for (const std::string& line : lines) {
    v1::AuditRecord r;
    EXPECT_TRUE(ParseJson(line, &r).ok()) << line;
  }
  EXPECT_THAT(out.str(), Not(HasSubstr(kCanary)));
  EXPECT_THAT(out.str(), Not(HasSubstr("CSQU3054383")));

  std::ostringstream later;
  query.after_sequence = 9;
  EXPECT_EQ(*ExportJsonLines(*reader_, query, later), 2u);
}

}  // namespace
}  // namespace havengate::evidence
