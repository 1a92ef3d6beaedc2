// The SQLite plumbing every havengate file format on SQLite shares: a
// prepared statement that finalizes itself and reports failures as
// absl::Status, one-shot SQL (Exec), an owning connection handle (Db), and
// the mapping of SQLite result codes to status codes (a full disk is
// RESOURCE_EXHAUSTED, anything else UNAVAILABLE). The gateway's store
// and its policy history (server/store, the SQLite backend) and the
// read-only evidence reader (evidence/audit_store) use it; what each file
// holds and how it is opened stays with them.
//
// Thread-compatible: a Statement belongs to its connection, which SQLite
// lets one thread use at a time (the connections here are opened
// SQLITE_OPEN_NOMUTEX or guarded by their owner).
#ifndef HAVENGATE_SQLITE_STATEMENT_H_
#define HAVENGATE_SQLITE_STATEMENT_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace havengate::sqlite {

// The status for result code `rc` of an operation on `db` (may be null),
// described as `what`: RESOURCE_EXHAUSTED "storage is full; nothing was
// stored: ..." for SQLITE_FULL, UNAVAILABLE "storage error: ..." otherwise.
// The message carries SQLite's text for `rc` and `db`'s last error.
absl::Status Error(sqlite3* db, int rc, absl::string_view what);

// Closes a connection (sqlite3_close_v2: statements still open keep it
// alive until they are finalized).
struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;

// Runs `sql` (one or more statements, no parameters, rows ignored).
absl::Status Exec(sqlite3* db, const char* sql);

// A prepared statement. Run() resets it for the next use; a statement
// stepped with Step() is reset with Reset() (or by being destroyed).
class Statement {
 public:
  Statement() = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept
      : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)) {}
  Statement& operator=(Statement&& other) noexcept {
    if (this != &other) {
      sqlite3_finalize(stmt_);
      db_ = other.db_;
      stmt_ = std::exchange(other.stmt_, nullptr);
    }
    return *this;
  }
  ~Statement() { sqlite3_finalize(stmt_); }

  // Prepares `sql` on `db`, which must outlive the statement.
  [[nodiscard]] static absl::StatusOr<Statement> Prepare(sqlite3* db,
                                                         absl::string_view sql);

  // Parameters are numbered from 1; text and blobs are copied.
  Statement& Bind(int index, int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
  }
  Statement& Bind(int index, absl::string_view text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }
  Statement& BindBlob(int index, absl::string_view blob) {
    sqlite3_bind_blob(stmt_, index, blob.data(), static_cast<int>(blob.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }

  // Runs a statement that returns no rows, then resets it.
  [[nodiscard]] absl::Status Run() {
    int rc = sqlite3_step(stmt_);
    Reset();
    if (rc != SQLITE_DONE) return Error(db_, rc, "write");
    return absl::OkStatus();
  }
  // Steps once: true if a row is available, false when done.
  [[nodiscard]] absl::StatusOr<bool> Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return Error(db_, rc, "read");
  }
  // Ready to run again, with no parameters bound.
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  // Columns of the current row, numbered from 0. Text and Blob of NULL are
  // empty; a Blob is valid until the next Step, Reset or destruction.
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           sqlite3_column_bytes(stmt_, col))
             : std::string();
  }
  absl::string_view Blob(int col) const {
    const void* p = sqlite3_column_blob(stmt_, col);
    return p ? absl::string_view(static_cast<const char*>(p),
                                 sqlite3_column_bytes(stmt_, col))
             : absl::string_view();
  }
  bool IsNull(int col) const {
    return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
  }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace havengate::sqlite

#endif  // HAVENGATE_SQLITE_STATEMENT_H_
