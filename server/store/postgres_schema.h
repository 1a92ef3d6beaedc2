// The PostgreSQL schema of the store and the policy history (see
// postgres_store.h): created on first use, migrated in place, refused if a
// newer havengate wrote it.
#ifndef HAVENGATE_SERVER_STORE_POSTGRES_SCHEMA_H_
#define HAVENGATE_SERVER_STORE_POSTGRES_SCHEMA_H_

#include "absl/status/status.h"
#include "server/store/pg_connection.h"

namespace havengate::store {

// The channel a commit that added events notifies, with its highest cursor.
inline constexpr char kEventsChannel[] = "havengate_events";

// Creates or migrates every table, under an advisory lock (replicas may
// start together). FAILED_PRECONDITION if a newer schema is there.
[[nodiscard]] absl::Status EnsurePostgresSchema(pg::Connection& connection);

}  // namespace havengate::store

#endif  // HAVENGATE_SERVER_STORE_POSTGRES_SCHEMA_H_
