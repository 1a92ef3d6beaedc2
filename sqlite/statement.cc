#include "sqlite/statement.h"

#include "absl/strings/str_cat.h"

namespace havengate::sqlite {

absl::Status Error(sqlite3* db, int rc, absl::string_view what) {
  std::string message = absl::StrCat(what, ": ", sqlite3_errstr(rc));
  if (db != nullptr && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    absl::StrAppend(&message, " (", sqlite3_errmsg(db), ")");
  }
  int primary = rc & 0xFF;
  if (primary == SQLITE_FULL) {
    return absl::ResourceExhaustedError(
        absl::StrCat("storage is full; nothing was stored: ", message));
  }
  return absl::UnavailableError(absl::StrCat("storage error: ", message));
}

absl::Status Exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string message = error ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    return Error(db, rc, message);
  }
  return absl::OkStatus();
}

absl::StatusOr<Statement> Statement::Prepare(sqlite3* db,
                                             absl::string_view sql) {
  Statement s;
  s.db_ = db;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &s.stmt_, nullptr);
  if (rc != SQLITE_OK) return Error(db, rc, "prepare");
  return s;
}

}  // namespace havengate::sqlite
