// Unit tests of the audit views: a combined record reads as the records it
// replaced, field by field, and any other record as it is.
#include "proto/audit_views.h"

#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace havengate {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<v1::AuditRecord> Events(const v1::AuditRecord& record) {
  std::vector<v1::AuditRecord> out;
  ForEachAuditEvent(record, [&](const v1::AuditRecord& r) {
    out.push_back(r);
    return true;
  });
  return out;
}

v1::AuditRecord Common(v1::AuditEventType type) {
  v1::AuditRecord r;
  r.set_sequence(41);
  r.mutable_recorded_at()->set_seconds(1'800'000'000);
  r.set_type(type);
  r.set_actor("spiffe://police.nl.example/gateway");
  r.set_previous_hash(std::string(32, 'p'));
  r.set_hash(std::string(32, 'h'));
  return r;
}

// Customs gets most of the item, the port a projection with a transform,
// police-be nothing at all.
v1::AuditRecord ThreeDecisions() {
  v1::AuditRecord r = Common(v1::SHARES_DECIDED);
  r.mutable_item()->set_origin("police-nl");
  r.mutable_item()->set_item_id("pin-1");
  r.mutable_item()->set_version(2);
  r.set_policy_version("v7");
  r.set_digest("cc33");  // the stored item's (the store sets it)
  v1::PartnerShareDecision* customs = r.add_decisions();
  customs->set_partner("customs-nl");
  customs->set_released(true);
  customs->add_released_fields("containers");
  customs->add_released_fields("vessel");
  customs->add_withheld_fields("persons");
  customs->add_matched_rules("pin-to-customs");
  customs->set_digest("aa11");
  customs->set_reason("released");
  v1::PartnerShareDecision* port = r.add_decisions();
  port->set_partner("port-rtm");
  port->set_released(true);
  port->add_released_fields("containers.number");
  port->add_transformed_fields("persons.name: pseudonymise");
  port->add_matched_rules("pin-to-port");
  port->add_protecting_rules("no-red-to-port");
  port->set_digest("bb22");
  port->set_reason("released");
  v1::PartnerShareDecision* belgium = r.add_decisions();
  belgium->set_partner("police-be");
  belgium->set_released(false);
  belgium->add_withheld_fields("title");
  belgium->add_withheld_fields("containers");
  belgium->set_reason("no rule releases it to this partner");
  return r;
}

TEST(AuditViewsTest, SharesDecidedReadsAsOneShareDecidedPerPartner) {
  const v1::AuditRecord combined = ThreeDecisions();
  ASSERT_TRUE(IsCombinedAuditRecord(combined));
  std::vector<v1::AuditRecord> events = Events(combined);
  ASSERT_EQ(events.size(), 3u);

  // Exactly the record the gateway wrote per partner before, with the
  // combined record's place in the chain and no hashes of its own.
  v1::AuditRecord customs;
  customs.set_sequence(41);
  customs.mutable_recorded_at()->set_seconds(1'800'000'000);
  customs.set_type(v1::SHARE_DECIDED);
  customs.set_actor("spiffe://police.nl.example/gateway");
  customs.mutable_item()->set_origin("police-nl");
  customs.mutable_item()->set_item_id("pin-1");
  customs.mutable_item()->set_version(2);
  customs.set_partner("customs-nl");
  customs.set_policy_version("v7");
  customs.set_released(true);
  customs.add_released_fields("containers");
  customs.add_released_fields("vessel");
  customs.add_withheld_fields("persons");
  customs.add_matched_rules("pin-to-customs");
  customs.set_digest("aa11");
  customs.set_reason("released");
  EXPECT_TRUE(MessageDifferencer::Equals(events[0], customs))
      << events[0].DebugString();

  // The port's view holds the port's fields only.
  const v1::AuditRecord& port = events[1];
  EXPECT_EQ(port.partner(), "port-rtm");
  EXPECT_THAT(port.released_fields(), ElementsAre("containers.number"));
  EXPECT_THAT(port.transformed_fields(), ElementsAre("persons.name: pseudonymise"));
  EXPECT_THAT(port.withheld_fields(), IsEmpty());
  EXPECT_THAT(port.matched_rules(), ElementsAre("pin-to-port"));
  EXPECT_THAT(port.protecting_rules(), ElementsAre("no-red-to-port"));
  EXPECT_EQ(port.digest(), "bb22");

  // The refusal stays a refusal, with what was withheld and why.
  const v1::AuditRecord& belgium = events[2];
  EXPECT_EQ(belgium.partner(), "police-be");
  EXPECT_FALSE(belgium.released());
  EXPECT_THAT(belgium.released_fields(), IsEmpty());
  EXPECT_THAT(belgium.withheld_fields(), ElementsAre("title", "containers"));
  EXPECT_EQ(belgium.reason(), "no rule releases it to this partner");
  EXPECT_EQ(belgium.digest(), "cc33");  // the stored item's, as before
  for (const v1::AuditRecord& e : events) {
    EXPECT_TRUE(e.hash().empty());
    EXPECT_TRUE(e.previous_hash().empty());
    EXPECT_EQ(e.decisions_size(), 0);
  }
}

TEST(AuditViewsTest, ItemsDeliveredReadsAsOneItemDeliveredPerEntry) {
  v1::AuditRecord combined = Common(v1::ITEMS_DELIVERED);
  combined.set_partner("customs-nl");
  v1::AcknowledgedDelivery* first = combined.add_deliveries();
  first->mutable_item()->set_origin("police-nl");
  first->mutable_item()->set_item_id("pin-1");
  first->mutable_item()->set_version(2);
  v1::AcknowledgedDelivery* retraction = combined.add_deliveries();
  retraction->mutable_item()->set_origin("police-nl");
  retraction->mutable_item()->set_item_id("pin-0");
  retraction->set_detail("retraction");
  std::vector<v1::AuditRecord> events = Events(combined);
  ASSERT_EQ(events.size(), 2u);
  for (const v1::AuditRecord& e : events) {
    EXPECT_EQ(e.type(), v1::ITEM_DELIVERED);
    EXPECT_EQ(e.partner(), "customs-nl");
    EXPECT_EQ(e.sequence(), 41u);
    EXPECT_EQ(e.recorded_at().seconds(), 1'800'000'000);
    EXPECT_EQ(e.actor(), "spiffe://police.nl.example/gateway");
    EXPECT_EQ(e.deliveries_size(), 0);
  }
  EXPECT_EQ(events[0].item().item_id(), "pin-1");
  EXPECT_EQ(events[0].item().version(), 2u);
  EXPECT_TRUE(events[0].detail().empty());
  EXPECT_EQ(events[1].item().item_id(), "pin-0");
  EXPECT_EQ(events[1].detail(), "retraction");
}

TEST(AuditViewsTest, OtherRecordsReadAsStored) {
  v1::AuditRecord old_form = Common(v1::SHARE_DECIDED);
  old_form.set_partner("customs-nl");
  old_form.add_released_fields("title");
  EXPECT_FALSE(IsCombinedAuditRecord(old_form));
  std::vector<v1::AuditRecord> events = Events(old_form);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(MessageDifferencer::Equals(events[0], old_form));
}

TEST(AuditViewsTest, StopsWhenTheVisitorDoes) {
  int seen = 0;
  EXPECT_FALSE(ForEachAuditEvent(ThreeDecisions(), [&](const v1::AuditRecord&) {
    ++seen;
    return false;
  }));
  EXPECT_EQ(seen, 1);
}

}  // namespace
}  // namespace havengate
