// OutboxLeases: which partners' outboxes this gateway process may deliver
// now. A partner's outbox is sent by one process at a time, in order. A
// store only one process opens (SQLite) leases every outbox to it for good;
// replicas sharing a PostgreSQL database each hold some partners' leases —
// a session advisory lock per partner on a dedicated connection, taken by
// whichever replica asks first and released by PostgreSQL the moment the
// holder's connection ends (its process died, or it lost the database), so
// another replica takes over within one acquisition round (kLeaseRound).
// A replica that loses its connection stops delivering at its next check.
// The holder of each lease is also written to the `outbox_leases` table
// (for operators and tests: who delivers to whom).
//
// Thread-safe. The federation link asks MayDeliver() before it connects and
// before each read of the outbox.
#ifndef HAVENGATE_SERVER_STORE_OUTBOX_LEASE_H_
#define HAVENGATE_SERVER_STORE_OUTBOX_LEASE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/config/config.h"

namespace havengate::store {

// How often a replica tries to take free leases and checks it still holds
// its own.
inline constexpr absl::Duration kLeaseRound = absl::Milliseconds(250);

class OutboxLeases {
 public:
  virtual ~OutboxLeases() = default;
  // Whether this process may deliver `partner`'s outbox now.
  virtual bool MayDeliver(const std::string& partner) = 0;
  // The partners to hold leases for from now on (a reload added or removed
  // peers): a new one is taken in the next round, a removed one released
  // (its link is stopped first, so its outbox never has two senders).
  virtual void SetPartners(const std::vector<std::string>& partners) = 0;
};

// The leases of the configured store for `partners`: every one held for
// good on a file store; on PostgreSQL, taken and kept as above by
// `holder` (a name for this process in outbox_leases, e.g. host:pid).
// UNAVAILABLE if the database cannot be reached at all.
[[nodiscard]] absl::StatusOr<std::unique_ptr<OutboxLeases>> OpenOutboxLeases(
    const config::StoreConfig& config, const std::vector<std::string>& partners,
    const std::string& holder);

}  // namespace havengate::store

#endif  // HAVENGATE_SERVER_STORE_OUTBOX_LEASE_H_
