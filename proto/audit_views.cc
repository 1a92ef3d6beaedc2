#include "proto/audit_views.h"

namespace havengate {
namespace {

// The parts every event of a combined record shares with it.
v1::AuditRecord CommonPart(const v1::AuditRecord& record, v1::AuditEventType type) {
  v1::AuditRecord view;
  view.set_sequence(record.sequence());
  if (record.has_recorded_at()) *view.mutable_recorded_at() = record.recorded_at();
  view.set_type(type);
  view.set_actor(record.actor());
  if (record.has_item()) *view.mutable_item() = record.item();
  view.set_partner(record.partner());
  view.set_policy_version(record.policy_version());
  return view;
}

}  // namespace

bool IsCombinedAuditRecord(const v1::AuditRecord& record) {
  return record.type() == v1::SHARES_DECIDED || record.type() == v1::ITEMS_DELIVERED;
}

bool ForEachAuditEvent(const v1::AuditRecord& record,
                       const std::function<bool(const v1::AuditRecord&)>& visit) {
  switch (record.type()) {
    case v1::SHARES_DECIDED: {
      for (const v1::PartnerShareDecision& d : record.decisions()) {
        v1::AuditRecord view = CommonPart(record, v1::SHARE_DECIDED);
        view.set_partner(d.partner());
        view.set_released(d.released());
        *view.mutable_released_fields() = d.released_fields();
        *view.mutable_withheld_fields() = d.withheld_fields();
        *view.mutable_transformed_fields() = d.transformed_fields();
        *view.mutable_matched_rules() = d.matched_rules();
        *view.mutable_protecting_rules() = d.protecting_rules();
        // A partner that got no copy has no digest of its own: its record
        // carried the stored item's, which the combined record holds.
        view.set_digest(d.digest().empty() ? record.digest() : d.digest());
        view.set_reason(d.reason());
        if (!visit(view)) return false;
      }
      return true;
    }
    case v1::ITEMS_DELIVERED: {
      for (const v1::AcknowledgedDelivery& d : record.deliveries()) {
        v1::AuditRecord view = CommonPart(record, v1::ITEM_DELIVERED);
        *view.mutable_item() = d.item();
        view.set_detail(d.detail());
        if (!visit(view)) return false;
      }
      return true;
    }
    default:
      return visit(record);
  }
}

}  // namespace havengate
