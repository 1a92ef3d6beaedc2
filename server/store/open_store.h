// OpenStore: the gateway's storage as its configuration chooses it
// (`store: {backend: sqlite, path: ...}` or
// `store: {backend: postgresql, dsn: ...}`) — the Store (items, outboxes,
// audit chain) and the policy history, both from the same backend. The
// daemon opens its storage only through here; tests may open a backend
// directly (sqlite_store.h).
//
// Call from any thread; the caller owns what it returns. Close the Store
// before destroying whatever StoreOptions' hooks capture.
#ifndef HAVENGATE_SERVER_STORE_OPEN_STORE_H_
#define HAVENGATE_SERVER_STORE_OPEN_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/config/config.h"
#include "server/store/policy_history.h"
#include "server/store/store.h"
#include "server/store/store_options.h"

namespace havengate::store {

struct OpenedStore {
  std::unique_ptr<Store> store;
  std::unique_ptr<PolicyHistory> policy_history;
};

// Opens (creating or migrating) the configured backend. Errors name what
// could not be opened: UNAVAILABLE if it cannot be opened or locked,
// FAILED_PRECONDITION if it was written by a newer schema.
[[nodiscard]] absl::StatusOr<OpenedStore> OpenStore(
    const config::StoreConfig& config, StoreOptions options);

// What the configured store is, for logs: the file, or the database with
// any password in its DSN hidden.
std::string DescribeStore(const config::StoreConfig& config);

// For preflight: a database backend is reachable and its schema usable
// (OK for a file backend, whose location preflight checks itself).
// UNAVAILABLE / FAILED_PRECONDITION as OpenStore, never showing a password.
[[nodiscard]] absl::Status CheckStoreReachable(const config::StoreConfig& config);

}  // namespace havengate::store

#endif  // HAVENGATE_SERVER_STORE_OPEN_STORE_H_
