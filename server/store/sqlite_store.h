// The SQLite backend: the gateway's store in one SQLite database file (WAL
// mode, synchronous=FULL, one writer connection used by the store's writer
// thread, a pool of read-only connections for concurrent readers), and
// the policy history in a second file beside it (`<path>.policies`). Only
// storage lives here: the rules are DomainStore's (domain_store.h) and
// ProposalStore's (server/policy_admin/proposal_store.h).
//
// The file formats are stable: a store or policy history written by an
// earlier havengate opens (and is migrated in place if needed); one written
// by a newer schema is refused. `havenctl audit` reads the same store file
// offline (evidence/audit_store.h).
//
// Thread-safe as documented in store.h and policy_history.h; the returned
// objects own their connections.
#ifndef HAVENGATE_SERVER_STORE_SQLITE_STORE_H_
#define HAVENGATE_SERVER_STORE_SQLITE_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/store/backend.h"
#include "server/store/policy_history.h"
#include "server/store/store.h"
#include "server/store/store_options.h"

namespace havengate::store {

struct SqliteOptions {
  // Database file; created with its directory if missing.
  std::string path;
  // If > 0, caps the database at this many pages (of 8 KiB) so tests can
  // see how a full disk is handled.
  int64_t max_page_count_for_testing = 0;
};

// The SQLite backend alone (for OpenDomainStore and backend tests).
// UNAVAILABLE if the file cannot be opened or locked, FAILED_PRECONDITION
// if it was written by a newer schema.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Backend>> OpenSqliteBackend(
    const SqliteOptions& options);

// A store on the SQLite backend: OpenSqliteBackend under a DomainStore.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(
    const SqliteOptions& sqlite, StoreOptions options = {});

// The policy history file of the store at `store_path`.
std::string SqlitePolicyHistoryPath(const std::string& store_path);

// Opens or creates a policy history file (one transaction per write,
// synced). UNAVAILABLE naming the file if it cannot be opened.
[[nodiscard]] absl::StatusOr<std::unique_ptr<PolicyHistory>>
OpenSqlitePolicyHistory(const std::string& path);

}  // namespace havengate::store

#endif  // HAVENGATE_SERVER_STORE_SQLITE_STORE_H_
