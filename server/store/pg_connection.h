// PgConnection: one libpq connection to PostgreSQL as the PostgreSQL
// backend (postgres_store.h) uses it — parameters bound (never spliced into
// SQL), named statements prepared once per connection on first use, results
// in binary form, errors as absl::Status with the database's condition
// mapped to what the store promises (a full disk RESOURCE_EXHAUSTED, every
// other failure UNAVAILABLE), and reconnection with backoff after the
// connection is lost.
//
// Thread-compatible: one thread uses a connection at a time (the backend
// keeps one per thread or leases them from a pool). The DSN may hold a
// password: it is never part of an error message or a log line
// (RedactDsn shows a DSN safely).
#ifndef HAVENGATE_SERVER_STORE_PG_CONNECTION_H_
#define HAVENGATE_SERVER_STORE_PG_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

struct pg_conn;
struct pg_result;

namespace havengate::store::pg {

// A bound parameter: text (numbers are sent as their decimal text) or
// bytes (bytea, sent in binary).
struct Param {
  std::string value;
  bool binary = false;
};
Param Text(absl::string_view value);
Param Int(int64_t value);
Param Bytes(absl::string_view value);

// A named statement: prepared on a connection the first time it runs there.
struct Statement {
  const char* name;
  const char* sql;
};

// The rows of a query, columns in binary form: integers must be bigint (or
// integer / smallint), text and bytea columns come back as their bytes.
class Result {
 public:
  explicit Result(pg_result* result) : result_(result) {}
  ~Result();
  Result(Result&& other) noexcept : result_(other.result_) {
    other.result_ = nullptr;
  }
  Result& operator=(Result&& other) noexcept;
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  int rows() const;
  bool IsNull(int row, int column) const;
  int64_t Int(int row, int column) const;
  std::string Bytes(int row, int column) const;
  pg_result* raw() const { return result_; }

 private:
  pg_result* result_;
};

class Connection {
 public:
  // Connects. UNAVAILABLE naming the server (never the password) if it
  // cannot.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Connection>> Open(
      const std::string& dsn);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs `sql` with `params` ($1, $2, ...) bound.
  [[nodiscard]] absl::StatusOr<Result> Exec(absl::string_view sql,
                                            const std::vector<Param>& params = {});
  // Runs a named statement, preparing it on this connection if needed.
  [[nodiscard]] absl::StatusOr<Result> Run(const Statement& statement,
                                           const std::vector<Param>& params = {});
  // Runs several ';'-separated commands with no parameters (schema DDL).
  [[nodiscard]] absl::Status ExecScript(const char* sql);

  // Sends a named statement without waiting for it (libpq pipeline mode),
  // for writes whose result nobody reads: it travels with the next call
  // that waits (Run, Exec, ExecScript), which fails with its error if it
  // failed. Saves a round trip per write.
  void Defer(const Statement& statement, const std::vector<Param>& params);
  // The same for a statement not worth preparing (its text varies, e.g. a
  // multi-row insert whose row count is the batch's).
  void DeferSql(const std::string& sql, const std::vector<Param>& params);

  // Whether the connection is up as far as libpq knows.
  bool ok() const;
  // Reconnects if the connection is down, at most once per backoff period
  // (100 ms doubling to 2 s after each failure, reset by a success).
  // UNAVAILABLE while the server cannot be reached.
  [[nodiscard]] absl::Status EnsureConnected();

  // The socket, for waiting on notifications.
  int socket() const;
  // Notifications received so far (LISTEN): their payloads, in order.
  [[nodiscard]] absl::StatusOr<std::vector<std::string>> ConsumeNotifications();

  pg_conn* raw() { return conn_; }

 private:
  Connection(pg_conn* conn, std::string dsn)
      : conn_(conn), dsn_(std::move(dsn)) {}
  absl::Status Check(pg_result* result, absl::string_view what);
  // Enters pipeline mode if not in it; false (send_error_ set) if it cannot.
  bool EnterPipeline();
  // Queues `statement` in the pipeline (prepared there first if needed).
  void Send(const Statement& statement, const std::vector<Param>& params);
  // Ends the pipeline: waits for every command sent, returns the first
  // error, or the last command's result if `keep_last`.
  absl::StatusOr<Result> FinishPipeline(bool keep_last);

  pg_conn* conn_;
  const std::string dsn_;
  std::set<std::string> prepared_;
  // Pipeline mode: commands sent and not yet waited for, and the first
  // failure to send one.
  bool pipeline_ = false;
  int sent_ = 0;
  absl::Status send_error_;
  absl::Duration backoff_ = absl::Milliseconds(100);
  absl::Time next_attempt_ = absl::InfinitePast();
};

// `dsn` with any password replaced by "***" (key=value and URI forms).
std::string RedactDsn(const std::string& dsn);

}  // namespace havengate::store::pg

#endif  // HAVENGATE_SERVER_STORE_PG_CONNECTION_H_
