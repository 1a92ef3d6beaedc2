#include "server/audit/audit_record.h"

namespace havengate::audit {

v1::AuditRecord MakeAuditRecord(v1::AuditEventType type,
                                const std::string& actor,
                                const v1::Item* item) {
  v1::AuditRecord record;
  record.set_type(type);
  record.set_actor(actor);
  if (item != nullptr) {
    record.mutable_item()->set_origin(item->origin());
    record.mutable_item()->set_item_id(item->item_id());
    record.mutable_item()->set_version(item->version());
  }
  return record;
}

namespace {

v1::AcknowledgedDelivery DeliveryOf(v1::AuditRecord& delivered) {
  v1::AcknowledgedDelivery entry;
  entry.mutable_item()->Swap(delivered.mutable_item());
  entry.mutable_detail()->swap(*delivered.mutable_detail());
  return entry;
}

bool Joins(const v1::AuditRecord& record, const v1::AuditRecord& last) {
  return (last.type() == v1::ITEM_DELIVERED || last.type() == v1::ITEMS_DELIVERED) &&
         last.partner() == record.partner() && last.actor() == record.actor() &&
         last.policy_version() == record.policy_version() &&
         !record.has_recorded_at() && !last.has_recorded_at();
}

}  // namespace

void AddSettledRecord(v1::AuditRecord record, std::vector<v1::AuditRecord>& records) {
  if (record.type() != v1::ITEM_DELIVERED || records.empty() ||
      !Joins(record, records.back())) {
    records.push_back(std::move(record));
    return;
  }
  v1::AuditRecord& last = records.back();
  if (last.type() == v1::ITEM_DELIVERED) {
    v1::AuditRecord combined = MakeAuditRecord(v1::ITEMS_DELIVERED, last.actor());
    combined.set_partner(last.partner());
    combined.set_policy_version(last.policy_version());
    *combined.add_deliveries() = DeliveryOf(last);
    last = std::move(combined);
  }
  *last.add_deliveries() = DeliveryOf(record);
}

}  // namespace havengate::audit
