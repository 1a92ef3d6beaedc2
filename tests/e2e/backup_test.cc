// Backup and restore of a running gateway's state (`havenctl store backup`
// and `restore`), with real gateway processes: police-nl streams items
// that it keeps and shares with customs-nl; police-nl is backed up
// mid-stream, stopped, its state location emptied and the backup restored
// into it; started again from the restored state, its audit log verifies,
// every item acknowledged before the backup began is there, and customs-nl
// ends with every item exactly once (the outbox resumes where the backup
// left it; what customs already had is not stored twice). Restore refuses
// a running gateway's location and existing state without --force.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/federation_fixture.h"
#include "tests/testing/harness.h"

namespace havengate::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kPolicePolicy[] = R"yaml(
organisation: police-nl
version: "backup-1"
partners:
  - {id: customs-nl, name: Dutch Customs, kind: CUSTOMS, country: NL}
rules:
  - name: alerts-to-customs
    to: [customs-nl]
    kinds: [ALERT]
    share: ["*"]
inbound:
  accept:
    - from: [customs-nl]
)yaml";

constexpr char kCustomsPolicy[] = R"yaml(
organisation: customs-nl
version: "backup-1"
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
)yaml";

CommandResult Havenctl(std::vector<std::string> args) {
  args.insert(args.begin(), HavenctlBinary());
  return RunCommand(args);
}

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* id : {"police-nl", "customs-nl"}) ASSERT_TRUE(f_.AddOrg(id).ok());
    ASSERT_TRUE(f_.WritePolicy("police-nl", kPolicePolicy).ok());
    ASSERT_TRUE(f_.WritePolicy("customs-nl", kCustomsPolicy).ok());
    // A checkpoint every 20 records: the backup races the checkpoint file.
    absl::Status started = f_.Start("police-nl", {"customs-nl"},
                                    "limits:\n  per_caller:\n    items_per_second: 0\n"
                                    "audit: {checkpoint_every_records: 20}\n");
    ASSERT_TRUE(started.ok()) << started;
    started = f_.Start("customs-nl", {"police-nl"});
    ASSERT_TRUE(started.ok()) << started;
  }

  // Streams "bk-<i>" into police-nl until `stop_`; records what was acked.
  void Stream() {
    int next = 0;
    absl::Status status = f_.ClientOf("police-nl").PushStream(
        [&]() -> std::optional<v1::Item> {
          if (stop_) return std::nullopt;
          return MakeAlertAt(absl::StrCat("bk-", next++), "NLRTM");
        },
        [&](const v1::PushResult& r) {
          EXPECT_EQ(r.code(), 0) << r.item_id() << ": " << r.message();
          std::lock_guard<std::mutex> lock(mu_);
          if (r.code() == 0) acked_.insert(r.item_id());
        });
    EXPECT_TRUE(status.ok()) << status;
  }
  std::set<std::string> Acked() {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_;
  }

  // police-nl's items "bk-*" as its store holds them.
  std::set<std::string> StoredAtPolice() {
    std::set<std::string> ids;
    auto stored = f_.StoredVersions("police-nl");
    EXPECT_TRUE(stored.ok()) << stored.status();
    if (!stored.ok()) return ids;
    for (const auto& [key, count] : *stored) {
      const std::string& item_id = std::get<1>(key);
      if (absl::StartsWith(item_id, "bk-")) ids.insert(item_id);
      EXPECT_EQ(count, 1) << item_id;
    }
    return ids;
  }

  Federation f_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::set<std::string> acked_;
};

TEST_F(BackupTest, RestoredGatewayVerifiesKeepsAckedItemsAndPeersGetEverythingOnce) {
  GatewayProcess& police = f_.gateway("police-nl");
  const std::string backup_dir = f_.root() + "/backup";
  std::thread streamer([this] { Stream(); });
  ASSERT_TRUE(WaitFor([&] { return Acked().size() >= 300; }, absl::Seconds(60)));

  // Mid-stream.
  const std::set<std::string> acked_before = Acked();
  CommandResult backup = Havenctl(
      {"store", "backup", "--config", police.config_file(), "--out", backup_dir});
  ASSERT_EQ(backup.exit_code, 0) << backup.err;
  EXPECT_THAT(backup.out, HasSubstr("audit head: sequence"));
  const size_t acked_at_backup_end = Acked().size();
  ASSERT_TRUE(WaitFor([&] { return Acked().size() >= acked_at_backup_end + 200; },
                      absl::Seconds(60)));
  stop_ = true;
  streamer.join();
  for (const auto& entry : std::filesystem::recursive_directory_iterator(backup_dir)) {
    auto perms = entry.status().permissions();
    EXPECT_EQ(perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
              std::filesystem::perms::none)
        << entry.path() << " is not owner-only";
  }

  // The backup alone is evidence: its chain and its checkpoints verify.
  ASSERT_GT(std::filesystem::file_size(backup_dir + "/checkpoints"), 0u);
  CommandResult verify_copy = Havenctl(
      {"audit", "verify", "--store", backup_dir + "/store.db", "--checkpoints",
       backup_dir + "/checkpoints", "--cert", f_.org("police-nl").gateway_cert});
  EXPECT_EQ(verify_copy.exit_code, 0) << verify_copy.out << verify_copy.err;

  // Not while the gateway runs, and not over existing state unless forced.
  CommandResult refused = Havenctl(
      {"store", "restore", "--config", police.config_file(), "--from", backup_dir});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("a gateway is running"));
  auto exit_status = police.Terminate();
  ASSERT_TRUE(exit_status.ok()) << exit_status.status();
  refused = Havenctl(
      {"store", "restore", "--config", police.config_file(), "--from", backup_dir});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("--force"));

  // A fresh location: everything the gateway kept there is gone.
  const std::string store = police.store_file();
  for (const std::string& path :
       {store, store + "-wal", store + "-shm", store + ".policies",
        store + ".policies-wal", store + ".policies-shm", store + ".checkpoints",
        store + ".tls"}) {
    std::filesystem::remove_all(path);
  }
  CommandResult restored = Havenctl(
      {"store", "restore", "--config", police.config_file(), "--from", backup_dir});
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  ASSERT_TRUE(police.Restart().ok()) << police.ReadLog();

  CommandResult verify = Havenctl({"audit", "verify", "--store", store, "--cert",
                                   f_.org("police-nl").gateway_cert});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

  const std::set<std::string> kept = StoredAtPolice();
  for (const std::string& item_id : acked_before) {
    EXPECT_EQ(kept.count(item_id), 1u) << item_id << " acknowledged before the backup, lost";
  }
  EXPECT_LT(kept.size(), Acked().size()) << "the backup holds items pushed after it";

  // Delivery resumes: the restored outbox and a new item reach customs.
  ASSERT_TRUE(f_.Push("police-nl", MakeAlertAt("after-restore", "NLRTM")).ok());
  ASSERT_TRUE(f_.AwaitItem("customs-nl", "after-restore", 1, absl::Seconds(60)).ok());
  std::map<ItemKey, int> at_customs;
  ASSERT_TRUE(WaitFor([&] {
    auto stored = f_.StoredVersions("customs-nl");
    if (!stored.ok()) return false;
    at_customs = *stored;
    for (const std::string& item_id : kept) {
      if (at_customs.count({"police-nl", item_id, 1}) == 0) return false;
    }
    return true;
  }, absl::Seconds(60))) << f_.Logs();
  for (const auto& [key, count] : at_customs) {
    EXPECT_EQ(count, 1) << std::get<1>(key) << " stored " << count << " times at customs";
  }

  // And the restored gateway's audit still verifies after it ran on.
  verify = Havenctl({"audit", "verify", "--store", store, "--cert",
                     f_.org("police-nl").gateway_cert});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

TEST_F(BackupTest, ADamagedBackupIsRefusedBeforeAnythingIsWritten) {
  GatewayProcess& police = f_.gateway("police-nl");
  ASSERT_TRUE(f_.Push("police-nl", MakeAlertAt("one", "NLRTM")).ok());
  const std::string backup_dir = f_.root() + "/backup";
  CommandResult backup = Havenctl(
      {"store", "backup", "--config", police.config_file(), "--out", backup_dir});
  ASSERT_EQ(backup.exit_code, 0) << backup.err;
  {
    std::ofstream append(backup_dir + "/checkpoints", std::ios::app);
    append << "{}\n";
  }
  const std::string fresh = f_.root() + "/fresh/gateway.db";
  CommandResult restored =
      Havenctl({"store", "restore", "--store", fresh, "--from", backup_dir});
  EXPECT_EQ(restored.exit_code, 1);
  EXPECT_THAT(restored.err, HasSubstr("the manifest says"));
  EXPECT_FALSE(std::filesystem::exists(fresh));
}

}  // namespace
}  // namespace havengate::testing
