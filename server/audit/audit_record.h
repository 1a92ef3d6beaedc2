// MakeAuditRecord: how the daemon starts an audit record — its type, the
// actor that caused it and, if it is about an item, which one. The rest of
// the record (partner, reason, policy version, ...) is the caller's; its
// place in the chain (sequence, hashes) is the store's.
//
// A pure function: call it from any thread.
#ifndef HAVENGATE_SERVER_AUDIT_AUDIT_RECORD_H_
#define HAVENGATE_SERVER_AUDIT_AUDIT_RECORD_H_

#include <string>
#include <vector>

#include "havengate/v1/audit.pb.h"
#include "havengate/v1/item.pb.h"

namespace havengate::audit {

// An audit record of `type` about `item` (origin, id, version; none if
// null) caused by `actor` (a SPIFFE id; empty for the gateway itself).
v1::AuditRecord MakeAuditRecord(v1::AuditEventType type,
                                const std::string& actor,
                                const v1::Item* item = nullptr);

// Appends `record`, one outcome of a delivery to a partner, to `records`,
// the outcomes settled together by one acknowledgement: an ITEM_DELIVERED
// that follows another delivery to the same partner joins it in one
// ITEMS_DELIVERED record (its entries in order), so a batch acknowledged
// at once costs one audit record. Anything else is appended as it is, so
// the order of outcomes is kept.
void AddSettledRecord(v1::AuditRecord record, std::vector<v1::AuditRecord>& records);

}  // namespace havengate::audit

#endif  // HAVENGATE_SERVER_AUDIT_AUDIT_RECORD_H_
