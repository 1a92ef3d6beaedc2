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

}  // namespace havengate::audit
