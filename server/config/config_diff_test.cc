// DiffConfigs: peers added, removed, changed and unchanged; live limits;
// every setting only a restart applies.
#include "server/config/config_diff.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace havengate::config {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

PeerConfig Peer(const std::string& id) {
  PeerConfig p;
  p.id = id;
  p.domain = id + ".example";
  p.address = id + ".example:7443";
  p.ca = "/etc/havengate/peers/" + id + "/ca.crt";
  return p;
}

GatewayConfig Running() {
  GatewayConfig c;
  c.organisation_id = "police-nl";
  c.organisation_domain = "police.nl.example";
  c.listen_address = "0.0.0.0:7443";
  c.store.path = "/var/lib/havengate/gateway.db";
  c.peers = {Peer("customs-nl"), Peer("port-rotterdam"), Peer("police-be")};
  return c;
}

std::vector<std::string> Ids(const std::vector<PeerConfig>& peers) {
  std::vector<std::string> ids;
  for (const PeerConfig& p : peers) ids.push_back(p.id);
  return ids;
}

TEST(ConfigDiffTest, TheSameFileChangesNothing) {
  ConfigDiff diff = DiffConfigs(Running(), Running());
  EXPECT_TRUE(diff.empty());
  EXPECT_EQ(DescribeDiff(diff), "no change");
}

TEST(ConfigDiffTest, PeersAddedRemovedChangedAndUnchanged) {
  GatewayConfig next = Running();
  next.peers.erase(next.peers.begin() + 1);  // port-rotterdam removed
  next.peers.push_back(Peer("customs-be"));  // added
  next.peers[0].address = "customs-gw2.example:7443";  // customs-nl changed
  // police-be: the same entry, at another position: unchanged.
  std::swap(next.peers[1], next.peers[2]);
  ConfigDiff diff = DiffConfigs(Running(), next);
  EXPECT_THAT(Ids(diff.added), ElementsAre("customs-be"));
  EXPECT_THAT(diff.removed, ElementsAre("port-rotterdam"));
  EXPECT_THAT(Ids(diff.changed), ElementsAre("customs-nl"));
  EXPECT_EQ(diff.changed[0].address, "customs-gw2.example:7443") << "as the new file has it";
  EXPECT_FALSE(diff.limits_changed);
  EXPECT_THAT(diff.restart_required, IsEmpty());
  EXPECT_EQ(DescribeDiff(diff),
            "peers added: customs-be; peers removed: port-rotterdam; peers changed: customs-nl");
}

TEST(ConfigDiffTest, EachPeerSettingCountsAsAChange) {
  const std::vector<std::pair<const char*, void (*)(PeerConfig&)>> edits = {
      {"domain", [](PeerConfig& p) { p.domain = "other.example"; }},
      {"address", [](PeerConfig& p) { p.address = "other:1"; }},
      {"ca", [](PeerConfig& p) { p.ca = "/other/ca.crt"; }},
      {"crl", [](PeerConfig& p) { p.crl = "/other/peer.crl"; }},
      {"crl_refresh", [](PeerConfig& p) { p.crl_refresh = absl::Seconds(7); }},
  };
  for (const auto& [name, edit] : edits) {
    GatewayConfig next = Running();
    edit(next.peers[2]);
    ConfigDiff diff = DiffConfigs(Running(), next);
    EXPECT_THAT(Ids(diff.changed), ElementsAre("police-be")) << name;
    EXPECT_THAT(diff.added, IsEmpty()) << name;
    EXPECT_THAT(diff.removed, IsEmpty()) << name;
  }
}

TEST(ConfigDiffTest, ItemAndCallLimitsChangeLive) {
  GatewayConfig next = Running();
  next.limits.max_item_bytes = 4096;
  EXPECT_TRUE(DiffConfigs(Running(), next).limits_changed);
  next = Running();
  next.limits.per_caller.items_per_second = 3;
  EXPECT_TRUE(DiffConfigs(Running(), next).limits_changed);
  next = Running();
  next.limits.hit_question_burst = 3;
  EXPECT_TRUE(DiffConfigs(Running(), next).limits_changed);
  next = Running();
  next.limits.stream_window = 8;
  ConfigDiff diff = DiffConfigs(Running(), next);
  EXPECT_TRUE(diff.limits_changed);
  EXPECT_THAT(diff.restart_required, IsEmpty());
  EXPECT_EQ(DescribeDiff(diff), "limits changed");
}

TEST(ConfigDiffTest, SettingsOnlyARestartAppliesAreNamedByTheirKeys) {
  const std::vector<std::pair<std::string, void (*)(GatewayConfig&)>> edits = {
      {"organisation.id", [](GatewayConfig& c) { c.organisation_id = "police-be"; }},
      {"organisation.domain", [](GatewayConfig& c) { c.organisation_domain = "x.example"; }},
      {"listen", [](GatewayConfig& c) { c.listen_address = "0.0.0.0:8443"; }},
      {"store.path", [](GatewayConfig& c) { c.store.path = "/srv/gateway.db"; }},
      {"tls.certificate", [](GatewayConfig& c) { c.tls.certificate = "/other.crt"; }},
      {"tls.state_dir", [](GatewayConfig& c) { c.tls.state_dir = "/elsewhere"; }},
      {"policy", [](GatewayConfig& c) { c.policy_path = "/other/policy.yaml"; }},
      {"metrics.listen", [](GatewayConfig& c) { c.metrics_listen_address = "0.0.0.0:9443"; }},
      {"audit.checkpoint_file", [](GatewayConfig& c) { c.audit.checkpoint_file = "/x"; }},
      {"log.format", [](GatewayConfig& c) { c.log_format = "json"; }},
      {"limits.max_message_bytes",
       [](GatewayConfig& c) { c.limits.max_message_bytes = 8192; }},
      {"limits.max_connection_age_seconds",
       [](GatewayConfig& c) { c.limits.max_connection_age = absl::Minutes(5); }},
  };
  for (const auto& [key, edit] : edits) {
    GatewayConfig next = Running();
    edit(next);
    ConfigDiff diff = DiffConfigs(Running(), next);
    EXPECT_THAT(diff.restart_required, ElementsAre(key));
    EXPECT_FALSE(diff.empty()) << key;
  }
  GatewayConfig next = Running();
  next.listen_address = "0.0.0.0:8443";
  next.store.path = "/srv/gateway.db";
  next.peers.pop_back();
  EXPECT_EQ(DescribeDiff(DiffConfigs(Running(), next)),
            "peers removed: police-be; needing a restart: listen, store.path");
}

}  // namespace
}  // namespace havengate::config
