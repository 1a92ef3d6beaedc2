// PostgresServer: a real PostgreSQL server for tests, started in a fresh
// temporary directory (initdb + pg_ctl) and stopped and removed at the end.
// It listens on a Unix socket in that directory only (no TCP port, so
// tests run in parallel without clashing). PostgreSQL refuses to run as
// root: when the tests run as root (CI), the server runs as the system
// user `havengate-test`, created if missing.
//
// Not thread-safe; one test (or one test binary, through Shared()) owns it.
#ifndef HAVENGATE_TESTS_POSTGRES_POSTGRES_SERVER_H_
#define HAVENGATE_TESTS_POSTGRES_POSTGRES_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace havengate::testing {

class PostgresServer {
 public:
  // Where the server binaries are looked for: $HAVENGATE_PG_BIN, else
  // /usr/lib/postgresql/15/bin.
  static std::string BinDir();
  // Whether the binaries are there; if not, why (for a skip message).
  static absl::Status Available();

  // initdb and start. NOT_FOUND if the binaries are missing, other errors
  // with the server's log attached.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<PostgresServer>> Start();
  // One server for the whole test binary, started on first use and
  // stopped when the binary exits.
  [[nodiscard]] static absl::StatusOr<PostgresServer*> Shared();

  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // A libpq connection string for `database` (created by CreateDatabase)
  // whose tables live in `schema` (created by CreateSchema) if given.
  std::string Dsn(const std::string& database = "postgres",
                  const std::string& schema = "") const;
  [[nodiscard]] absl::Status CreateDatabase(const std::string& name);
  [[nodiscard]] absl::Status CreateSchema(const std::string& database,
                                          const std::string& schema);

  // SIGKILL of the postmaster (its backends exit when they notice), and
  // a start again on the same data (retried until the old backends are
  // gone, at most ~20 s).
  [[nodiscard]] absl::Status KillPostmaster();
  [[nodiscard]] absl::Status Restart();

  const std::string& directory() const { return dir_; }

 private:
  explicit PostgresServer(std::string dir) : dir_(std::move(dir)) {}
  absl::Status StartServer();
  std::string Log() const;

  const std::string dir_;
  bool running_ = false;
  // The killed postmaster's processes, waited for before a restart.
  std::vector<int> killed_children_;
};

}  // namespace havengate::testing

#endif  // HAVENGATE_TESTS_POSTGRES_POSTGRES_SERVER_H_
