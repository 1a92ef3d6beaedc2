// The PostgreSQL backend: the gateway's store and policy history in one
// PostgreSQL database, which several gateway replicas of one organisation
// may share. Items, events, outboxes, the audit chain (checkpoints are
// records of it), the policy history and the outbox delivery leases all
// live in the database; nothing is kept in files.
//
// What sharing takes: every writing transaction first locks the chain head
// row (`chain_head ... FOR UPDATE`), so the batches of all replicas commit
// one after another and the audit chain and event cursors grow in commit
// order whoever wrote; a commit that added events sends NOTIFY on
// `havengate_events` with its highest cursor, which every replica LISTENs
// to, so subscribers on any replica see it at once.
//
// Connections: one for the store's writer thread, a small pool for readers
// (at most `read_connections`, opened on demand), one listening for other
// replicas' commits. A lost connection is reopened with backoff; until it
// is, writes fail with UNAVAILABLE (nothing is acknowledged that was not
// committed) and Reachable() is false.
//
// The schema is created on first use and migrated by the gateway (under an
// advisory lock, so replicas starting together do not race); a database
// written by a newer schema is refused. Only storage lives here: the rules
// are DomainStore's and ProposalStore's.
#ifndef HAVENGATE_SERVER_STORE_POSTGRES_STORE_H_
#define HAVENGATE_SERVER_STORE_POSTGRES_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/store/backend.h"
#include "server/store/policy_history.h"
#include "server/store/store.h"
#include "server/store/store_options.h"

namespace havengate::store {

struct PostgresOptions {
  // libpq connection string (key=value or postgresql:// URI). It may hold
  // a password; no error message or log line shows it.
  std::string dsn;
  // Most reader connections kept open.
  int read_connections = 4;
  // If > 0, the store refuses (as a full disk would) a batch that would
  // bring the bytes it has stored past this, so that tests can see how a
  // full disk is handled.
  int64_t max_bytes_for_testing = 0;
};

// Connects and creates or migrates the schema. UNAVAILABLE naming the
// server (never the password) if it cannot be reached, FAILED_PRECONDITION
// if the database was written by a newer schema.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Backend>> OpenPostgresBackend(
    const PostgresOptions& options);

// A store on the PostgreSQL backend: OpenPostgresBackend under a
// DomainStore.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(
    const PostgresOptions& postgres, StoreOptions options = {});

// The policy history in the same database (its own connection).
[[nodiscard]] absl::StatusOr<std::unique_ptr<PolicyHistory>>
OpenPostgresPolicyHistory(const std::string& dsn);

// Connects once and checks the schema can be used (for --check-config):
// OK, or UNAVAILABLE / FAILED_PRECONDITION as OpenPostgresBackend.
[[nodiscard]] absl::Status CheckPostgres(const std::string& dsn);

}  // namespace havengate::store

#endif  // HAVENGATE_SERVER_STORE_POSTGRES_STORE_H_
