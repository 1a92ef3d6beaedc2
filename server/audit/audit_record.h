// MakeAuditRecord: how the daemon starts an audit record — its type, the
// actor that caused it and, if it is about an item, which one. The rest of
// the record (partner, reason, policy version, ...) is the caller's; its
// place in the chain (sequence, hashes) is the store's.
//
// A pure function: call it from any thread.
#ifndef HAVENGATE_SERVER_AUDIT_AUDIT_RECORD_H_
#define HAVENGATE_SERVER_AUDIT_AUDIT_RECORD_H_

#include <string>

#include "havengate/v1/audit.pb.h"
#include "havengate/v1/item.pb.h"

namespace havengate::audit {

// An audit record of `type` about `item` (origin, id, version; none if
// null) caused by `actor` (a SPIFFE id; empty for the gateway itself).
v1::AuditRecord MakeAuditRecord(v1::AuditEventType type,
                                const std::string& actor,
                                const v1::Item* item = nullptr);

}  // namespace havengate::audit

#endif  // HAVENGATE_SERVER_AUDIT_AUDIT_RECORD_H_
