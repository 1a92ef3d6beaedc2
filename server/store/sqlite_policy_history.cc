// SQLite backend of the policy history (see sqlite_store.h and
// policy_history.h): one table in its own file beside the store. The
// format is the one earlier havengate versions wrote; entries written
// when policy digests carried a "sha256:" prefix are migrated on open.
#include <sqlite3.h>

#include <cstdint>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/status_macros.h"
#include "proto/timestamp.h"
#include "server/store/sqlite_store.h"
#include "sqlite/statement.h"

namespace havengate::store {
namespace {

using v1::PolicyProposal;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS policies (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  version          TEXT NOT NULL,
  state            INTEGER NOT NULL,
  digest           TEXT NOT NULL,
  text             TEXT NOT NULL,
  proposed_by      TEXT NOT NULL,
  proposed_at      INTEGER NOT NULL,
  comment          TEXT NOT NULL DEFAULT '',
  approved_by      TEXT NOT NULL DEFAULT '',
  approved_at      INTEGER NOT NULL DEFAULT 0,
  approval_comment TEXT NOT NULL DEFAULT '',
  activated_by     TEXT NOT NULL DEFAULT '',
  activated_at     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS policies_by_version ON policies(version);
)sql";

constexpr char kColumns[] =
    "id, version, state, digest, proposed_by, proposed_at, comment, "
    "approved_by, approved_at, approval_comment, activated_by, activated_at, "
    "text";

// Unix microseconds; 0 for an unset time.
std::string Micros(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "0";
  return absl::StrCat(absl::ToUnixMicros(FromTimestamp(t)));
}

// "policy history: ..." with the wrapper's message (UNAVAILABLE, or
// RESOURCE_EXHAUSTED for a full disk).
absl::Status InHistory(const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat("policy history: ", status.message()));
}

class SqlitePolicyHistory final : public PolicyHistory {
 public:
  explicit SqlitePolicyHistory(sqlite3* db) : db_(db) {}
  ~SqlitePolicyHistory() override { sqlite3_close(db_); }

  absl::Status Open(const std::string& path);

  absl::StatusOr<std::string> Add(const PolicyProposal& entry) override;
  absl::Status Update(const std::vector<PolicyProposal>& entries) override;
  absl::StatusOr<std::vector<PolicyProposal>> Find(
      const PolicyHistoryQuery& query) override;

 private:
  // Runs `sql` with `args` bound as text (?1, ?2, ...). Call with mu_.
  absl::Status Exec(const std::string& sql,
                    const std::vector<std::string>& args);
  absl::StatusOr<sqlite::Statement> Prepare(
      const std::string& sql, const std::vector<std::string>& args);
  absl::Status UpdateOne(const PolicyProposal& entry);

  std::mutex mu_;  // one SQLite connection, used under mu_
  sqlite3* db_;
};

absl::Status SqlitePolicyHistory::Open(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  sqlite3_busy_timeout(db_, 10'000);
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL"}) {
    HG_RETURN_IF_ERROR(Exec(pragma, {}));
  }
  if (absl::Status created = sqlite::Exec(db_, kSchema); !created.ok()) {
    return InHistory(absl::Status(
        created.code(),
        absl::StrCat(path, ": cannot create its tables: ", created.message())));
  }
  // Entries written before digests had one spelling carry a "sha256:"
  // prefix; without it they compare equal to digests computed now.
  return Exec(
      "UPDATE policies SET digest = substr(digest, 8) "
      "WHERE digest LIKE 'sha256:%'",
      {});
}

absl::StatusOr<sqlite::Statement> SqlitePolicyHistory::Prepare(
    const std::string& sql, const std::vector<std::string>& args) {
  absl::StatusOr<sqlite::Statement> stmt = sqlite::Statement::Prepare(db_, sql);
  if (!stmt.ok()) return InHistory(stmt.status());
  for (size_t i = 0; i < args.size(); ++i) {
    stmt->Bind(static_cast<int>(i + 1), args[i]);
  }
  return stmt;
}

absl::Status SqlitePolicyHistory::Exec(const std::string& sql,
                                       const std::vector<std::string>& args) {
  HG_ASSIGN_OR_RETURN(sqlite::Statement stmt, Prepare(sql, args));
  while (true) {
    absl::StatusOr<bool> row = stmt.Step();
    if (!row.ok()) return InHistory(row.status());
    if (!*row) return absl::OkStatus();
  }
}

absl::StatusOr<std::string> SqlitePolicyHistory::Add(const PolicyProposal& e) {
  std::lock_guard<std::mutex> lock(mu_);
  HG_RETURN_IF_ERROR(Exec(
      "INSERT INTO policies (version, state, digest, text, proposed_by, "
      "proposed_at, comment, approved_by, approved_at, approval_comment, "
      "activated_by, activated_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
      {e.version(), absl::StrCat(static_cast<int>(e.state())), e.digest(),
       e.policy_text(), e.proposed_by(), Micros(e.proposed_at()), e.comment(),
       e.approved_by(), Micros(e.approved_at()), e.approval_comment(),
       e.activated_by(), Micros(e.activated_at())}));
  return absl::StrCat(sqlite3_last_insert_rowid(db_));
}

absl::Status SqlitePolicyHistory::UpdateOne(const PolicyProposal& e) {
  return Exec(
      "UPDATE policies SET state = ?2, approved_by = ?3, approved_at = ?4, "
      "approval_comment = ?5, activated_by = ?6, activated_at = ?7 "
      "WHERE id = ?1",
      {e.id(), absl::StrCat(static_cast<int>(e.state())), e.approved_by(),
       Micros(e.approved_at()), e.approval_comment(), e.activated_by(),
       Micros(e.activated_at())});
}

absl::Status SqlitePolicyHistory::Update(
    const std::vector<PolicyProposal>& entries) {
  std::lock_guard<std::mutex> lock(mu_);
  if (entries.size() == 1) return UpdateOne(entries[0]);
  HG_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE", {}));
  absl::Status s;
  for (const PolicyProposal& entry : entries) {
    s = UpdateOne(entry);
    if (!s.ok()) break;
  }
  if (s.ok()) s = Exec("COMMIT", {});
  if (!s.ok()) {
    (void)Exec("ROLLBACK", {});
    return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PolicyProposal>> SqlitePolicyHistory::Find(
    const PolicyHistoryQuery& query) {
  std::vector<std::string> where;
  std::vector<std::string> args;
  auto arg = [&args](std::string value) {
    args.push_back(std::move(value));
    return absl::StrCat("?", args.size());
  };
  if (query.id) where.push_back(absl::StrCat("id = ", arg(*query.id)));
  if (query.version) {
    where.push_back(absl::StrCat("version = ", arg(*query.version)));
  }
  if (query.digest) where.push_back(absl::StrCat("digest = ", arg(*query.digest)));
  if (!query.states.empty()) {
    std::vector<std::string> marks;
    for (PolicyProposal::State state : query.states) {
      marks.push_back(arg(absl::StrCat(static_cast<int>(state))));
    }
    where.push_back(absl::StrCat("state IN (", absl::StrJoin(marks, ", "), ")"));
  }
  std::string sql = absl::StrCat("SELECT ", kColumns, " FROM policies ");
  if (!where.empty()) {
    absl::StrAppend(&sql, "WHERE ", absl::StrJoin(where, " AND "), " ");
  }
  absl::StrAppend(&sql, "ORDER BY id DESC");
  if (query.limit > 0) absl::StrAppend(&sql, " LIMIT ", query.limit);

  std::lock_guard<std::mutex> lock(mu_);
  HG_ASSIGN_OR_RETURN(sqlite::Statement stmt, Prepare(sql, args));
  std::vector<PolicyProposal> out;
  while (true) {
    absl::StatusOr<bool> row = stmt.Step();
    if (!row.ok()) return InHistory(row.status());
    if (!*row) return out;
    PolicyProposal& p = out.emplace_back();
    p.set_id(stmt.Text(0));
    p.set_version(stmt.Text(1));
    p.set_state(static_cast<PolicyProposal::State>(stmt.Int(2)));
    p.set_digest(stmt.Text(3));
    p.set_proposed_by(stmt.Text(4));
    *p.mutable_proposed_at() = ToTimestamp(absl::FromUnixMicros(stmt.Int(5)));
    p.set_comment(stmt.Text(6));
    p.set_approved_by(stmt.Text(7));
    if (int64_t at = stmt.Int(8)) {
      *p.mutable_approved_at() = ToTimestamp(absl::FromUnixMicros(at));
    }
    p.set_approval_comment(stmt.Text(9));
    p.set_activated_by(stmt.Text(10));
    if (int64_t at = stmt.Int(11)) {
      *p.mutable_activated_at() = ToTimestamp(absl::FromUnixMicros(at));
    }
    if (query.include_text) p.set_policy_text(stmt.Text(12));
  }
}

}  // namespace

std::string SqlitePolicyHistoryPath(const std::string& store_path) {
  return absl::StrCat(store_path, ".policies");
}

absl::StatusOr<std::unique_ptr<PolicyHistory>> OpenSqlitePolicyHistory(
    const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                               SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::UnavailableError(
        absl::StrCat("policy history ", path, ": cannot open: ", message));
  }
  auto history = std::make_unique<SqlitePolicyHistory>(db);
  HG_RETURN_IF_ERROR(history->Open(path));
  return std::unique_ptr<PolicyHistory>(std::move(history));
}

}  // namespace havengate::store
