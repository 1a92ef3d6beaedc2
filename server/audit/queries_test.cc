// The oversight queries of evidence/queries.h over a log the gateway's own
// store wrote. They are tested here rather than in evidence/ because they
// need the real store to write that log, and evidence/ does not depend on
// server/.
//
// Every test runs twice (unit): over a log in the old form (one
// SHARE_DECIDED per partner, one ITEM_DELIVERED per item) and over the same
// events in the combined form of issue 16 (one SHARES_DECIDED per item, one
// ITEMS_DELIVERED per acknowledged batch); the answers must be the same.
#include "evidence/queries.h"

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "evidence/verify.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/json.h"
#include "proto/timestamp.h"
#include "server/audit/audit_record.h"
#include "server/store/sqlite_store.h"

namespace havengate::evidence {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kCanary[] = "Canary Vanderbilt-Okonkwo";

// One partner's decision on an item.
struct Decision {
  std::string partner;
  bool released = true;
  std::vector<std::string> released_fields;
  std::vector<std::string> transformed;
  std::vector<std::string> rules;
  std::vector<std::string> withheld;
};

// Which form the log is written in.
enum class Form { kOld, kCombined };

// A store with two items (one mentions container CSQU3054383), decisions
// for three partners (police-be gets nothing) and deliveries for two, and
// lifecycle records of version v2.
class QueriesTest : public ::testing::TestWithParam<Form> {
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
    Decide(**store, "a1", "v2",
           {{"customs-nl", true, {"containers.number", "title"},
             {"persons.name: pseudonymise"}, {"pin-fraud-to-customs"}, {}},
            {"port-rtm", true, {"containers"}, {}, {"port-all"}, {}},
            {"police-be", false, {}, {}, {}, {"title", "containers"}}});
    Decide(**store, "a2", "v2", {{"customs-nl", true, {"title"}, {}, {"titles-only"}, {}}});
    Tick();
    Deliver(**store, "customs-nl", {"a1", "a2"});
    Tick();
    Deliver(**store, "port-rtm", {"a1"});
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
  // The decisions on `id` for each partner: one SHARE_DECIDED each (old
  // form) or one SHARES_DECIDED for all (combined form).
  void Decide(store::Store& s, const std::string& id, const std::string& version,
              const std::vector<Decision>& decisions) {
    v1::AuditRecord combined;
    combined.set_type(v1::SHARES_DECIDED);
    combined.mutable_item()->set_origin("police-nl");
    combined.mutable_item()->set_item_id(id);
    combined.mutable_item()->set_version(1);
    combined.set_policy_version(version);
    std::vector<v1::AuditRecord> old_form;
    for (const Decision& d : decisions) {
      v1::PartnerShareDecision* entry = combined.add_decisions();
      entry->set_partner(d.partner);
      entry->set_released(d.released);
      for (auto& f : d.released_fields) entry->add_released_fields(f);
      for (auto& f : d.transformed) entry->add_transformed_fields(f);
      for (auto& f : d.rules) entry->add_matched_rules(f);
      for (auto& f : d.withheld) entry->add_withheld_fields(f);
      v1::AuditRecord r;
      r.set_type(v1::SHARE_DECIDED);
      *r.mutable_item() = combined.item();
      r.set_partner(d.partner);
      r.set_policy_version(version);
      r.set_released(d.released);
      for (auto& f : d.released_fields) r.add_released_fields(f);
      for (auto& f : d.transformed) r.add_transformed_fields(f);
      for (auto& f : d.rules) r.add_matched_rules(f);
      for (auto& f : d.withheld) r.add_withheld_fields(f);
      old_form.push_back(std::move(r));
    }
    if (GetParam() == Form::kCombined) {
      ASSERT_TRUE(s.AppendAudit({combined}).ok());
    } else {
      for (const v1::AuditRecord& r : old_form) ASSERT_TRUE(s.AppendAudit({r}).ok());
    }
  }
  // `partner` acknowledged `ids` together: one ITEM_DELIVERED each (old
  // form), or as the sender's link records them (combined form).
  void Deliver(store::Store& s, const std::string& partner,
               const std::vector<std::string>& ids) {
    std::vector<v1::AuditRecord> records;
    for (const std::string& id : ids) {
      v1::AuditRecord r;
      r.set_type(v1::ITEM_DELIVERED);
      r.mutable_item()->set_origin("police-nl");
      r.mutable_item()->set_item_id(id);
      r.mutable_item()->set_version(1);
      r.set_partner(partner);
      if (GetParam() == Form::kCombined) {
        audit::AddSettledRecord(std::move(r), records);
      } else {
        ASSERT_TRUE(s.AppendAudit({r}).ok());
      }
    }
    if (!records.empty()) {
      ASSERT_TRUE(s.AppendAudit(records).ok());
    }
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

TEST_P(QueriesTest, SharedWithPartnerAboutAContainer) {
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

TEST_P(QueriesTest, ReceivedByPartnerInAPeriod) {
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

TEST_P(QueriesTest, WhichVersionAndRulesReleasedAFieldAndWhoApproved) {
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

TEST_P(QueriesTest, ExportIsOneRecordPerLineWithoutItemContents) {
  std::ostringstream out;
  ExportQuery query;
  auto written = ExportJsonLines(*reader_, query, out);
  ASSERT_TRUE(written.ok()) << written.status();
  std::vector<std::string> lines =
      absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), *written);
  // As stored: 3 lifecycle, 2 ingests, then 4 decisions and 3 deliveries
  // one record each (old form), or 2 and 2 (combined).
  const bool combined = GetParam() == Form::kCombined;
  EXPECT_EQ(lines.size(), combined ? 9u : 12u);
  for (const std::string& line : lines) {
    v1::AuditRecord r;
    EXPECT_TRUE(ParseJson(line, &r).ok()) << line;
  }
  EXPECT_THAT(out.str(), Not(HasSubstr(kCanary)));
  EXPECT_THAT(out.str(), Not(HasSubstr("CSQU3054383")));

  std::ostringstream later;
  query.after_sequence = combined ? 7 : 10;
  EXPECT_EQ(*ExportJsonLines(*reader_, query, later), 2u);
  if (combined) {
    EXPECT_THAT(out.str(), HasSubstr("\"type\":\"SHARES_DECIDED\""));
    EXPECT_THAT(out.str(), HasSubstr("\"type\":\"ITEMS_DELIVERED\""));
  }
}

// Each partner's answer holds that partner's decision only, field by field;
// the partner that got nothing sees the refusal and what was withheld.
TEST_P(QueriesTest, SharedAnswersEachPartnerWithItsOwnFieldsOnly) {
  SharedQuery query;
  query.item_id = "a1";
  query.partner = "customs-nl";
  auto customs = FindShared(*reader_, query);
  ASSERT_TRUE(customs.ok()) << customs.status();
  ASSERT_THAT(Summaries(*customs), ElementsAre("SHARE_DECIDED a1", "ITEM_DELIVERED a1"));
  const v1::AuditRecord& to_customs = (*customs)[0];
  EXPECT_TRUE(to_customs.released());
  EXPECT_EQ(to_customs.partner(), "customs-nl");
  EXPECT_EQ(to_customs.policy_version(), "v2");
  EXPECT_THAT(to_customs.released_fields(), ElementsAre("containers.number", "title"));
  EXPECT_THAT(to_customs.transformed_fields(), ElementsAre("persons.name: pseudonymise"));
  EXPECT_THAT(to_customs.matched_rules(), ElementsAre("pin-fraud-to-customs"));
  EXPECT_TRUE(to_customs.withheld_fields().empty());
  EXPECT_EQ(to_customs.item().version(), 1u);
  EXPECT_EQ(FromTimestamp((*customs)[1].recorded_at()),
            absl::FromUnixSeconds(1'800'000'000) + absl::Hours(2));

  query.partner = "port-rtm";
  auto port = FindShared(*reader_, query);
  ASSERT_TRUE(port.ok()) << port.status();
  ASSERT_THAT(Summaries(*port), ElementsAre("SHARE_DECIDED a1", "ITEM_DELIVERED a1"));
  EXPECT_THAT((*port)[0].released_fields(), ElementsAre("containers"));
  EXPECT_TRUE((*port)[0].transformed_fields().empty());
  EXPECT_THAT((*port)[0].matched_rules(), ElementsAre("port-all"));
  EXPECT_EQ(FromTimestamp((*port)[1].recorded_at()),
            absl::FromUnixSeconds(1'800'000'000) + absl::Hours(3));

  query.partner = "police-be";
  auto belgium = FindShared(*reader_, query);
  ASSERT_TRUE(belgium.ok()) << belgium.status();
  ASSERT_THAT(Summaries(*belgium), ElementsAre("SHARE_DECIDED a1"));
  EXPECT_FALSE((*belgium)[0].released());
  EXPECT_TRUE((*belgium)[0].released_fields().empty());
  EXPECT_THAT((*belgium)[0].withheld_fields(), ElementsAre("title", "containers"));

  auto activity = FindActivity(*reader_, TimeRange());
  ASSERT_TRUE(activity.ok()) << activity.status();
  EXPECT_EQ(activity->at("customs-nl").shared(), 2u);
  EXPECT_EQ(activity->at("customs-nl").delivered(), 2u);
  EXPECT_EQ(activity->at("customs-nl").fields_released(), 4u);  // 3 + 1
  EXPECT_EQ(activity->at("port-rtm").shared(), 1u);
  EXPECT_EQ(activity->at("port-rtm").delivered(), 1u);
  EXPECT_EQ(activity->at("police-be").shared(), 0u);
  EXPECT_EQ(activity->at("police-be").not_shared(), 1u);
  EXPECT_EQ(activity->at("police-be").fields_withheld(), 0u);  // counted if released
}

// The chain over combined records verifies like any other.
TEST_P(QueriesTest, TheChainVerifies) {
  VerifyOptions options;
  options.store_path = path_;
  auto verified = VerifyAuditStore(options);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->report.ok());
  EXPECT_EQ(verified->report.records, GetParam() == Form::kCombined ? 9u : 12u);
}

INSTANTIATE_TEST_SUITE_P(Forms, QueriesTest,
                         ::testing::Values(Form::kOld, Form::kCombined),
                         [](const ::testing::TestParamInfo<Form>& info) {
                           return info.param == Form::kOld ? "OldForm" : "Combined";
                         });

}  // namespace
}  // namespace havengate::evidence
