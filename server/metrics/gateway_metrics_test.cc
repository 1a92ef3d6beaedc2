#include "server/metrics/gateway_metrics.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/metrics/exposition_parser.h"

namespace havengate::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::AuditRecord Record(v1::AuditEventType type, const std::string& partner = "",
                       const std::string& reason = "") {
  v1::AuditRecord r;
  r.set_type(type);
  r.set_partner(partner);
  r.set_reason(reason);
  return r;
}

class GatewayMetricsTest : public ::testing::Test {
 protected:
  Exposition Scrape() {
    auto parsed = ParseExposition(registry_.Expose());
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    return parsed.ok() ? *parsed : Exposition{};
  }
  Registry registry_;
  GatewayMetrics metrics_{registry_, {"customs-nl", "port-rtm"}};
};

TEST_F(GatewayMetricsTest, ConfiguredPartnersStartAtZero) {
  Exposition e = Scrape();
  EXPECT_EQ(e.Find("havengate_items_ingested_total"), 0.0);
  EXPECT_EQ(e.Find("havengate_outbox_depth", {{"partner", "port-rtm"}}), 0.0);
  EXPECT_EQ(e.Find("havengate_peer_connected", {{"partner", "customs-nl"}}), 0.0);
  EXPECT_EQ(e.Find("havengate_delivery_latency_seconds_count",
                   {{"partner", "customs-nl"}}),
            0.0);
  EXPECT_EQ(e.types.at("havengate_delivery_latency_seconds"), "histogram");
}

TEST_F(GatewayMetricsTest, CountsWhatTheAuditLogRecords) {
  metrics_.OnAuditCommitted(Record(v1::ITEM_INGESTED));
  metrics_.OnAuditCommitted(Record(v1::ITEM_INGESTED));
  metrics_.OnAuditCommitted(Record(
      v1::CALL_REJECTED, "", "Push: INVALID_ARGUMENT: alert.title: is required"));
  metrics_.OnAuditCommitted(
      Record(v1::CALL_REJECTED, "", "Exchange: PERMISSION_DENIED: not a configured peer"));
  metrics_.OnAuditCommitted(Record(
      v1::CALL_REJECTED, "", "PolicyAdmin.History: PERMISSION_DENIED: officers only"));
  metrics_.OnAuditCommitted(
      Record(v1::RECEIPT_REFUSED, "customs-nl", "FAILED_PRECONDITION: origin"));
  metrics_.OnAuditCommitted(Record(v1::ITEM_RECEIVED, "customs-nl"));
  v1::AuditRecord decided = Record(v1::SHARE_DECIDED, "port-rtm");
  decided.set_released(true);
  metrics_.OnAuditCommitted(decided);
  metrics_.OnAuditCommitted(Record(v1::SHARE_DECIDED, "port-rtm"));
  metrics_.OnAuditCommitted(Record(v1::ITEM_DELIVERED, "port-rtm"));
  metrics_.OnAuditCommitted(Record(v1::DELIVERY_EXPIRED, "port-rtm"));
  v1::AuditRecord last = Record(v1::CHECKPOINT);
  last.set_sequence(57);
  metrics_.OnAuditCommitted(last);

  Exposition e = Scrape();
  EXPECT_EQ(e.Find("havengate_items_ingested_total"), 2.0);
  EXPECT_EQ(e.Find("havengate_calls_rejected_total",
                   {{"method", "Push"}, {"code", "INVALID_ARGUMENT"}}),
            1.0);
  EXPECT_EQ(e.Find("havengate_calls_rejected_total",
                   {{"method", "Exchange"}, {"code", "PERMISSION_DENIED"}}),
            1.0);
  EXPECT_EQ(e.Find("havengate_calls_rejected_total",
                   {{"method", "PolicyAdmin.History"}, {"code", "PERMISSION_DENIED"}}),
            1.0);
  EXPECT_EQ(e.Find("havengate_receipts_refused_total",
                   {{"partner", "customs-nl"}, {"code", "FAILED_PRECONDITION"}}),
            1.0);
  EXPECT_EQ(e.Find("havengate_items_received_total", {{"partner", "customs-nl"}}),
            1.0);
  EXPECT_EQ(e.Find("havengate_share_decisions_total",
                   {{"partner", "port-rtm"}, {"decision", "released"}}),
            1.0);
  EXPECT_EQ(e.Find("havengate_share_decisions_total",
                   {{"partner", "port-rtm"}, {"decision", "not_released"}}),
            1.0);
  EXPECT_EQ(e.Find("havengate_deliveries_total",
                   {{"partner", "port-rtm"}, {"outcome", "expired"}}),
            1.0);
  EXPECT_EQ(e.Find("havengate_audit_records_total", {{"type", "ITEM_INGESTED"}}),
            2.0);
  EXPECT_EQ(e.Find("havengate_audit_last_sequence"), 57.0);
  // Reasons are never labels.
  EXPECT_THAT(registry_.Expose(), Not(HasSubstr("alert.title")));
}

// Issue 16: a record for all partners' decisions counts one decision per
// partner, a batch's deliveries one delivery per item, as the old records.
TEST_F(GatewayMetricsTest, CombinedRecordsCountPerPartnerAndPerItem) {
  v1::AuditRecord decided = Record(v1::SHARES_DECIDED);
  v1::PartnerShareDecision* customs = decided.add_decisions();
  customs->set_partner("customs-nl");
  customs->set_released(true);
  decided.add_decisions()->set_partner("port-rtm");  // not released
  metrics_.OnAuditCommitted(decided);
  v1::AuditRecord delivered = Record(v1::ITEMS_DELIVERED, "customs-nl");
  delivered.add_deliveries()->mutable_item()->set_item_id("a1");
  delivered.add_deliveries()->mutable_item()->set_item_id("a2");
  delivered.add_deliveries()->mutable_item()->set_item_id("a3");
  metrics_.OnAuditCommitted(delivered);

  Exposition e = Scrape();
  EXPECT_EQ(e.Find("havengate_share_decisions_total",
                   {{"partner", "customs-nl"}, {"decision", "released"}}),
            1.0);
  EXPECT_EQ(e.Find("havengate_share_decisions_total",
                   {{"partner", "port-rtm"}, {"decision", "not_released"}}),
            1.0);
  EXPECT_EQ(e.Find("havengate_deliveries_total",
                   {{"partner", "customs-nl"}, {"outcome", "delivered"}}),
            3.0);
  EXPECT_EQ(e.Find("havengate_audit_records_total", {{"type", "SHARES_DECIDED"}}), 1.0);
  EXPECT_EQ(e.Find("havengate_audit_records_total", {{"type", "ITEMS_DELIVERED"}}), 1.0);
}

TEST_F(GatewayMetricsTest, HooksForLinksOutboxesPolicyAndHandshakes) {
  metrics_.PeerState("customs-nl", true);
  metrics_.Delivered("customs-nl", absl::Milliseconds(30));
  metrics_.Delivered("customs-nl", absl::Seconds(2));
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  store::OutboxStats customs;
  customs.partner = "customs-nl";
  customs.depth = 12;
  customs.oldest_enqueued_at = now - absl::Seconds(90);
  metrics_.UpdateOutboxes({customs}, now);
  metrics_.SetActivePolicyVersion("v1");
  metrics_.SetActivePolicyVersion("v2");
  metrics_.TlsHandshakeFailed("expired");
  metrics_.TlsHandshakeFailed("expired");
  metrics_.TlsHandshakeFailed("free text with spaces");
  metrics_.SetStoreHealthy(false);

  Exposition e = Scrape();
  EXPECT_EQ(e.Find("havengate_peer_connected", {{"partner", "customs-nl"}}), 1.0);
  EXPECT_EQ(e.Find("havengate_delivery_latency_seconds_count",
                   {{"partner", "customs-nl"}}),
            2.0);
  EXPECT_EQ(e.Find("havengate_delivery_latency_seconds_bucket",
                   {{"partner", "customs-nl"}, {"le", "0.05"}}),
            1.0);
  EXPECT_EQ(e.Find("havengate_outbox_depth", {{"partner", "customs-nl"}}), 12.0);
  EXPECT_EQ(e.Find("havengate_outbox_oldest_age_seconds",
                   {{"partner", "customs-nl"}}),
            90.0);
  EXPECT_EQ(e.Find("havengate_outbox_depth", {{"partner", "port-rtm"}}), 0.0);
  EXPECT_EQ(e.Find("havengate_active_policy_version", {{"version", "v2"}}), 1.0);
  EXPECT_EQ(e.Find("havengate_active_policy_version", {{"version", "v1"}}), 0.0);
  EXPECT_EQ(e.Find("havengate_tls_handshake_failures_total",
                   {{"reason", "expired"}}),
            2.0);
  EXPECT_EQ(e.Find("havengate_tls_handshake_failures_total",
                   {{"reason", "other"}}),
            1.0);
  EXPECT_EQ(e.Find("havengate_store_healthy"), 0.0);
}

TEST(FederationServingTest, DownOnlyWhenABacklogWaitsForALinkThatIsDown) {
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  store::OutboxStats waiting;
  waiting.partner = "customs-nl";
  waiting.depth = 3;
  waiting.oldest_enqueued_at = now - absl::Seconds(30);
  store::OutboxStats fresh = waiting;
  fresh.oldest_enqueued_at = now - absl::Seconds(2);
  store::OutboxStats empty;
  empty.partner = "customs-nl";
  const std::vector<LinkState> down = {{"customs-nl", false, "peer_unreachable"},
                                       {"port-rtm", true, ""}};
  const std::vector<LinkState> up = {{"customs-nl", true, ""}, {"port-rtm", true, ""}};
  EXPECT_TRUE(FederationServing(true, {}, {}, now)) << "no peers";
  EXPECT_TRUE(FederationServing(true, down, {empty}, now)) << "idle link";
  EXPECT_TRUE(FederationServing(true, down, {fresh}, now)) << "just queued";
  EXPECT_FALSE(FederationServing(true, down, {waiting}, now));
  EXPECT_TRUE(FederationServing(true, up, {waiting}, now)) << "draining";
  EXPECT_FALSE(FederationServing(false, up, {}, now)) << "store down";
  EXPECT_EQ(FederationHealthDetail(down), "customs-nl: peer_unreachable");
  EXPECT_EQ(FederationHealthDetail(up), "");
}

TEST(FederationHealthDetailTest, NamesAPartnerWhoseCrlIsStale) {
  std::vector<LinkState> links = {{"customs-nl", true, "", /*crl_stale=*/true},
                                  {"port-rdam", false, "peer_unreachable", false}};
  EXPECT_EQ(FederationHealthDetail(links),
            "customs-nl: crl_stale, port-rdam: peer_unreachable");
}

TEST(ParseRejectionTest, TakesMethodAndCodeAndNothingElse) {
  RejectionLabels a = ParseRejection("Push: INVALID_ARGUMENT: x: y");
  EXPECT_EQ(a.method, "Push");
  EXPECT_EQ(a.code, "INVALID_ARGUMENT");
  RejectionLabels b = ParseRejection("PERMISSION_DENIED: role client");
  EXPECT_EQ(b.method, "other");
  EXPECT_EQ(b.code, "PERMISSION_DENIED");
  RejectionLabels d = ParseRejection("PolicyAdmin.History: PERMISSION_DENIED: officers");
  EXPECT_EQ(d.method, "PolicyAdmin.History");
  EXPECT_EQ(d.code, "PERMISSION_DENIED");
  RejectionLabels c = ParseRejection("item CSQU3054383 was bad");
  EXPECT_EQ(c.method, "other");
  EXPECT_EQ(c.code, "UNKNOWN");
}

}  // namespace
}  // namespace havengate::metrics
