#include "server/store/open_store.h"

#include <utility>

#include "absl/strings/str_cat.h"

#include "proto/status_macros.h"
#include "server/store/pg_connection.h"
#include "server/store/postgres_store.h"
#include "server/store/sqlite_store.h"

namespace havengate::store {

absl::StatusOr<OpenedStore> OpenStore(const config::StoreConfig& config,
                                      StoreOptions options) {
  OpenedStore opened;
  switch (config.backend) {
    case config::StoreBackend::kSqlite: {
      SqliteOptions sqlite;
      sqlite.path = config.path;
      HG_ASSIGN_OR_RETURN(opened.store,
                          OpenSqliteStore(sqlite, std::move(options)));
      HG_ASSIGN_OR_RETURN(
          opened.policy_history,
          OpenSqlitePolicyHistory(SqlitePolicyHistoryPath(config.path)));
      return opened;
    }
    case config::StoreBackend::kPostgresql: {
      PostgresOptions postgres;
      postgres.dsn = config.dsn;
      HG_ASSIGN_OR_RETURN(opened.store,
                          OpenPostgresStore(postgres, std::move(options)));
      HG_ASSIGN_OR_RETURN(opened.policy_history,
                          OpenPostgresPolicyHistory(config.dsn));
      return opened;
    }
  }
  return absl::InvalidArgumentError("store.backend: unknown backend");
}

std::string DescribeStore(const config::StoreConfig& config) {
  switch (config.backend) {
    case config::StoreBackend::kSqlite:
      return config.path;
    case config::StoreBackend::kPostgresql:
      return absl::StrCat("postgresql ", pg::RedactDsn(config.dsn));
  }
  return "unknown";
}

absl::Status CheckStoreReachable(const config::StoreConfig& config) {
  if (config.backend != config::StoreBackend::kPostgresql) {
    return absl::OkStatus();
  }
  return CheckPostgres(config.dsn);
}

}  // namespace havengate::store
