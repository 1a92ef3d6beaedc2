#include "server/policy_admin/proposal_store.h"

#include <sqlite3.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/policy_testing.h"
#include "proto/digest.h"
#include "server/store/sqlite_store.h"

namespace havengate::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using policy::testing::TempDir;
using v1::PolicyProposal;

constexpr char kAlice[] = "spiffe://police.nl.example/officer/alice";
constexpr char kBob[] = "spiffe://police.nl.example/officer/bob";

class ProposalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    store_.reset();
    auto history = store::OpenSqlitePolicyHistory(dir_.path() + "/gateway.db.policies");
    ASSERT_TRUE(history.ok()) << history.status();
    store_ = std::make_unique<ProposalStore>(std::move(*history));
  }
  std::vector<std::string> States() {
    std::vector<std::string> out;
    absl::StatusOr<std::vector<PolicyProposal>> list = store_->List(false);
    if (!list.ok()) return {list.status().ToString()};
    for (const PolicyProposal& p : *list) {
      out.push_back(p.version() + "=" + PolicyProposal::State_Name(p.state()));
    }
    return out;
  }
  absl::Time now_ = absl::FromUnixSeconds(1'795'000'000);
  TempDir dir_;
  std::unique_ptr<ProposalStore> store_;
};

TEST_F(ProposalStoreTest, ProposerCannotApproveTheirOwnProposal) {
  auto p = store_->Propose("v2", "text v2", kAlice, "tighten customs", now_);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->state(), PolicyProposal::PROPOSED);
  EXPECT_EQ(p->digest(), Sha256Hex("text v2"));
  auto own = store_->Approve(p->id(), kAlice, "", now_);
  EXPECT_EQ(own.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(own.status().message(), HasSubstr("four eyes"));
  EXPECT_EQ(store_->Get(p->id(), false)->state(), PolicyProposal::PROPOSED);

  auto approved = store_->Approve(p->id(), kBob, "checked the diff", now_);
  ASSERT_TRUE(approved.ok()) << approved.status();
  EXPECT_EQ(approved->state(), PolicyProposal::APPROVED);
  EXPECT_EQ(approved->approved_by(), kBob);
  EXPECT_EQ(approved->approval_comment(), "checked the diff");
  // Approved once is enough; a second approval is refused.
  EXPECT_EQ(store_->Approve(p->id(), kBob, "", now_).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(ProposalStoreTest, VersionLabelsAreNeverReused) {
  ASSERT_TRUE(store_->RecordPolicyFile("v1", "text v1", now_).ok());
  auto again = store_->Propose("v1", "other text", kAlice, "c", now_);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.status().message(), HasSubstr("new version label"));
  ASSERT_TRUE(store_->Propose("v2", "text v2", kAlice, "c", now_).ok());
  EXPECT_EQ(store_->Propose("v2", "text v2", kBob, "c", now_).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(ProposalStoreTest, ActivationSupersedesThePreviousActiveVersion) {
  ASSERT_TRUE(store_->RecordPolicyFile("v1", "text v1", now_).ok());
  auto p = store_->Propose("v2", "text v2", kAlice, "c", now_);
  ASSERT_TRUE(store_->Approve(p->id(), kBob, "", now_).ok());
  auto active = store_->MarkActive(p->id(), kAlice, now_ + absl::Seconds(5));
  ASSERT_TRUE(active.ok()) << active.status();
  EXPECT_EQ(active->activated_by(), kAlice);
  EXPECT_EQ(active->activated_at().seconds(), absl::ToUnixSeconds(now_) + 5);
  EXPECT_THAT(States(), ElementsAre("v2=ACTIVE", "v1=SUPERSEDED"));
  // An approved proposal that is not active yet cannot be activated by a
  // rollback (it goes through Activate).
  auto v3 = store_->Propose("v3", "text v3", kBob, "c", now_);
  ASSERT_TRUE(store_->Approve(v3->id(), kAlice, "", now_).ok());
  EXPECT_EQ(store_->FindRollbackTarget("v3").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->MarkActive(v3->id(), kBob, now_).ok());
  EXPECT_THAT(States(), ElementsAre("v3=ACTIVE", "v2=SUPERSEDED", "v1=SUPERSEDED"));

  // Rollback targets: versions that were active before and were approved.
  auto target = store_->FindRollbackTarget("v2");
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->policy_text(), "text v2");
  EXPECT_EQ(store_->FindRollbackTarget("v3").status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto never = store_->FindRollbackTarget("v9");
  EXPECT_EQ(never.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(never.status().message(), HasSubstr("versions that were: v2, v1"));
  // v1 only ever came from the file on disk: no officer approved it.
  auto unapproved = store_->FindRollbackTarget("v1");
  EXPECT_EQ(unapproved.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(unapproved.status().message(), HasSubstr("never approved"));
  ASSERT_TRUE(store_->MarkActive(target->id(), kAlice, now_).ok());
  EXPECT_THAT(States(), ElementsAre("v3=SUPERSEDED", "v2=ACTIVE", "v1=SUPERSEDED"));
}

TEST_F(ProposalStoreTest, FindVersionGivesTheNewestEntryWithTheLabel) {
  ASSERT_TRUE(store_->RecordPolicyFile("v1", "text v1", now_).ok());
  ASSERT_TRUE(store_->RecordPolicyFile("v1", "edited v1", now_).ok());
  auto found = store_->FindVersion("v1", true);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->policy_text(), "edited v1");
  EXPECT_EQ(store_->FindVersion("v2", false).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ProposalStoreTest, HistorySurvivesReopening) {
  ASSERT_TRUE(store_->RecordPolicyFile("v1", "text v1", now_).ok());
  auto p = store_->Propose("v2", "text v2", kAlice, "why", now_);
  ASSERT_TRUE(p.ok());
  Reopen();
  auto list = store_->List(true);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].version(), "v2");
  EXPECT_EQ((*list)[0].proposed_by(), kAlice);
  EXPECT_EQ((*list)[0].comment(), "why");
  EXPECT_EQ((*list)[0].policy_text(), "text v2");
  EXPECT_EQ((*list)[1].proposed_by(), kPolicyFileAuthor);
  // The four-eyes rule holds across restarts too.
  EXPECT_EQ(store_->Approve(p->id(), kAlice, "", now_).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(ProposalStoreTest, PolicyFileIsRecordedOncePerText) {
  ASSERT_TRUE(store_->RecordPolicyFile("v1", "text v1", now_).ok());
  ASSERT_TRUE(store_->RecordPolicyFile("v1", "text v1", now_).ok());
  EXPECT_THAT(States(), ElementsAre("v1=ACTIVE"));
  // An activation that was written to the file but not recorded (a crash
  // in between) is found again by version and text, not added twice.
  auto p = store_->Propose("v2", "text v2", kAlice, "c", now_);
  ASSERT_TRUE(store_->Approve(p->id(), kBob, "", now_).ok());
  auto recorded = store_->RecordPolicyFile("v2", "text v2", now_);
  ASSERT_TRUE(recorded.ok());
  EXPECT_EQ(recorded->id(), p->id());
  EXPECT_EQ(recorded->approved_by(), kBob);
  EXPECT_THAT(States(), ElementsAre("v2=ACTIVE", "v1=SUPERSEDED"));
  // An operator's edit of the file is a new entry.
  ASSERT_TRUE(store_->RecordPolicyFile("v3", "text v3", now_).ok());
  EXPECT_THAT(States(),
              ElementsAre("v3=ACTIVE", "v2=SUPERSEDED", "v1=SUPERSEDED"));
}

TEST_F(ProposalStoreTest, DigestsWithTheOldSha256PrefixAreRewrittenOnOpen) {
  ASSERT_TRUE(store_->RecordPolicyFile("v1", "text v1", now_).ok());
  store_.reset();
  // A history written when policy digests were spelled "sha256:<hex>".
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_.path() + "/gateway.db.policies").c_str(), &db),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE policies SET digest = 'sha256:' || digest",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  Reopen();
  auto list = store_->List(false);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].digest(), Sha256Hex("text v1"));
  // The same file text is still recognised as the active entry.
  ASSERT_TRUE(store_->RecordPolicyFile("v1", "text v1", now_).ok());
  EXPECT_THAT(States(), ElementsAre("v1=ACTIVE"));
}

}  // namespace
}  // namespace havengate::server
