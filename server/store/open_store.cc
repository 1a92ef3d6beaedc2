#include "server/store/open_store.h"

#include <utility>

#include "proto/status_macros.h"
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
  }
  return absl::InvalidArgumentError("store.backend: unknown backend");
}

}  // namespace havengate::store
