// Audit views: the audit log as per-partner, per-item events, whatever form
// the records were stored in.
//
// Since issue 16 the sender writes one SHARES_DECIDED record for all
// partners' decisions on an item and one ITEMS_DELIVERED record for the
// deliveries a partner acknowledged together; older stores hold one
// SHARE_DECIDED per partner and one ITEM_DELIVERED per item. Everything that
// answers a per-partner question (havenctl audit shared/received/rule, the
// Evidence service, the metrics) reads the log through these views, so both
// forms answer alike. The hash chain, the checkpoints and the extract work
// on the records as stored, never on views.
//
// Pure functions: call them from any thread.
#ifndef HAVENGATE_PROTO_AUDIT_VIEWS_H_
#define HAVENGATE_PROTO_AUDIT_VIEWS_H_

#include <functional>

#include "havengate/v1/audit.pb.h"

namespace havengate {

// Whether `record` is a combined record (SHARES_DECIDED, ITEMS_DELIVERED)
// that stands for several events.
bool IsCombinedAuditRecord(const v1::AuditRecord& record);

// Calls `visit` with each event `record` stands for, in order: a combined
// record as one SHARE_DECIDED per partner (or one ITEM_DELIVERED per
// entry), with the stored record's sequence, time, actor, item and policy
// version and no hashes (a view is not in the chain; a partner given no
// copy has the record's digest, the stored item's, as its old record had);
// any other record as it is. Stops early and returns false when `visit` does.
bool ForEachAuditEvent(const v1::AuditRecord& record,
                       const std::function<bool(const v1::AuditRecord&)>& visit);

}  // namespace havengate

#endif  // HAVENGATE_PROTO_AUDIT_VIEWS_H_
