#include "server/policy_holder/policy_holder.h"

#include <atomic>
#include <fstream>
#include <thread>

#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/policy_testing.h"

namespace havengate::server {
namespace {

using ::testing::HasSubstr;
using policy::testing::CopyDeployPolicy;
using policy::testing::ReadFileOrDie;
using policy::testing::TempDir;

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

PolicyHolderOptions PortOptions(const std::string& path) {
  return {path, "port-rtm", {"police-nl", "customs-nl"}};
}

TEST(PolicyHolderTest, LoadsTheFileAndDecidesWithIt) {
  TempDir dir;
  std::string path = CopyDeployPolicy("port-rtm", dir);
  auto holder = PolicyHolder::Load(PortOptions(path));
  ASSERT_TRUE(holder.ok()) << holder.status();
  ASSERT_NE((*holder)->current(), nullptr);
  EXPECT_EQ((*holder)->current()->version(), "2026-11-15.1");
  EXPECT_EQ((*holder)->current_text(), ReadFileOrDie(path));
}

TEST(PolicyHolderTest, NoFileMeansNoPolicy) {
  auto holder = PolicyHolder::Load({"", "port-rtm", {}});
  ASSERT_TRUE(holder.ok()) << holder.status();
  EXPECT_EQ((*holder)->current(), nullptr);
  EXPECT_FALSE((*holder)->Activate("organisation: port-rtm").ok());
}

TEST(PolicyHolderTest, RefusesAPolicyOfAnotherOrganisationOrForUnknownPeers) {
  TempDir dir;
  std::string path = CopyDeployPolicy("port-rtm", dir);
  auto wrong_org = PolicyHolder::Load({path, "customs-nl", {"police-nl", "customs-nl"}});
  ASSERT_FALSE(wrong_org.ok());
  EXPECT_THAT(wrong_org.status().message(),
              HasSubstr("written for port-rtm, but this gateway belongs to customs-nl"));

  auto missing_peer = PolicyHolder::Load({path, "port-rtm", {"police-nl"}});
  ASSERT_FALSE(missing_peer.ok());
  EXPECT_THAT(missing_peer.status().message(),
              HasSubstr("customs-nl is not a peer in the gateway configuration"));
}

TEST(PolicyHolderTest, ABrokenPolicyNamesThePlaceAndNeverLoads) {
  TempDir dir;
  std::string path = CopyDeployPolicy("port-rtm", dir);
  WriteText(path,
                absl::StrReplaceAll(ReadFileOrDie(path), {{"persons.role]", "persons.rank]"}}));
  auto holder = PolicyHolder::Load(PortOptions(path));
  ASSERT_FALSE(holder.ok());
  EXPECT_THAT(holder.status().message(), HasSubstr("policy.yaml:"));
  EXPECT_THAT(holder.status().message(), HasSubstr("persons.rank"));
}

TEST(PolicyHolderTest, ActivateWritesTheFileAndSwaps) {
  TempDir dir;
  std::string path = CopyDeployPolicy("port-rtm", dir);
  auto holder = PolicyHolder::Load(PortOptions(path));
  ASSERT_TRUE(holder.ok()) << holder.status();
  std::string old_text = ReadFileOrDie(path);
  std::string next = absl::StrReplaceAll(old_text, {{"2026-11-15.1", "2026-11-29.1"}});
  std::vector<std::string> activated;
  (*holder)->OnActivated([&](const auto& p) { activated.push_back(p->version()); });

  auto active = (*holder)->Activate(next);
  ASSERT_TRUE(active.ok()) << active.status();
  EXPECT_EQ((*holder)->current()->version(), "2026-11-29.1");
  EXPECT_EQ(ReadFileOrDie(path), next);
  EXPECT_EQ(activated, std::vector<std::string>{"2026-11-29.1"});
}

TEST(PolicyHolderTest, ABadCandidateChangesNothingOnDiskOrInMemory) {
  TempDir dir;
  std::string path = CopyDeployPolicy("port-rtm", dir);
  auto holder = PolicyHolder::Load(PortOptions(path));
  ASSERT_TRUE(holder.ok()) << holder.status();
  std::string old_text = ReadFileOrDie(path);
  auto before = (*holder)->current();

  std::string bad = absl::StrReplaceAll(old_text, {{"to: [police-nl]", "to: [police-xx]"}});
  auto active = (*holder)->Activate(bad);
  ASSERT_FALSE(active.ok());
  EXPECT_THAT(active.status().message(), HasSubstr("police-xx"));
  EXPECT_EQ((*holder)->current(), before);
  EXPECT_EQ(ReadFileOrDie(path), old_text);
}

TEST(PolicyHolderTest, AnEditedFileIsReloadedAndABadEditIsReportedOnceAndIgnored) {
  TempDir dir;
  std::string path = CopyDeployPolicy("port-rtm", dir);
  auto holder = PolicyHolder::Load(PortOptions(path));
  ASSERT_TRUE(holder.ok()) << holder.status();
  std::string old_text = ReadFileOrDie(path);
  auto unchanged = (*holder)->ReloadIfChanged();
  ASSERT_TRUE(unchanged.ok());
  EXPECT_FALSE(*unchanged);

  WriteText(path, old_text + "\nrules_typo: []\n");
  auto bad = (*holder)->ReloadIfChanged();
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("rules_typo"));
  EXPECT_EQ((*holder)->current()->version(), "2026-11-15.1");
  auto again = (*holder)->ReloadIfChanged();  // same bad content: reported once
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);

  WriteText(path,
                absl::StrReplaceAll(old_text, {{"2026-11-15.1", "2026-11-30.1"}}));
  auto good = (*holder)->ReloadIfChanged();
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_TRUE(*good);
  EXPECT_EQ((*holder)->current()->version(), "2026-11-30.1");
}

// Readers always see a whole policy while another thread swaps versions.
TEST(PolicyHolderTest, ReadersSeeWholePoliciesDuringSwaps) {
  TempDir dir;
  std::string path = CopyDeployPolicy("port-rtm", dir);
  auto holder = PolicyHolder::Load(PortOptions(path));
  ASSERT_TRUE(holder.ok()) << holder.status();
  std::string text = ReadFileOrDie(path);
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!stop) {
      auto p = (*holder)->current();
      ASSERT_NE(p, nullptr);
      ASSERT_EQ(p->partners().size(), 2u);
      ++reads;
    }
  });
  for (int i = 0; i < 20; ++i) {
    auto next = absl::StrReplaceAll(text, {{"2026-11-15.1", absl::StrCat("v", i)}});
    ASSERT_TRUE((*holder)->Activate(next).ok());
  }
  stop = true;
  reader.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ((*holder)->current()->version(), "v19");
}

}  // namespace
}  // namespace havengate::server

namespace havengate::server {
namespace {

// A configuration reload adds a peer: a file refused for naming it is
// checked again and taken into use; removing the peer refuses such a file.
TEST(PolicyHolderReloadTest, NewPeersApplyToTheNextCheckOfTheFile) {
  TempDir dir;
  std::string path = CopyDeployPolicy("port-rtm", dir);
  auto holder = PolicyHolder::Load(PortOptions(path));
  ASSERT_TRUE(holder.ok()) << holder.status();
  // The same policy with a new partner, police-be.
  std::string text = ReadFileOrDie(path);
  std::string with_belgium = absl::StrReplaceAll(
      text, {{"2026-11-15.1", "2026-12-07.1"}, {"partners:", "partners:\n  - {id: police-be}"}});
  ASSERT_NE(with_belgium, text);
  WriteText(path, with_belgium);
  absl::StatusOr<bool> refused = (*holder)->ReloadIfChanged();
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("police-be is not a peer"));
  EXPECT_EQ((*holder)->current()->version(), "2026-11-15.1");
  (*holder)->SetPeers({"police-nl", "customs-nl", "police-be"});
  absl::StatusOr<bool> taken = (*holder)->ReloadIfChanged();
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_TRUE(*taken);
  EXPECT_EQ((*holder)->current()->version(), "2026-12-07.1");
  (*holder)->SetPeers({"police-nl", "customs-nl"});
  EXPECT_FALSE((*holder)->Activate(with_belgium).ok());
}

}  // namespace
}  // namespace havengate::server
