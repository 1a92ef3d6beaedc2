// SQLite backend of the store (see sqlite_store.h): the tables, the
// statements, the connections. Rows and transactions only; the rules that
// decide what to write are DomainStore's.
#include "server/store/sqlite_store.h"

#include <sqlite3.h>

#include <filesystem>
#include <functional>
#include <mutex>
#include <utility>
#include <variant>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/status_macros.h"
#include "proto/timestamp.h"
#include "server/store/domain_store.h"
#include "sqlite/statement.h"

namespace havengate::store {
namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events(
  cursor INTEGER PRIMARY KEY AUTOINCREMENT,
  type INTEGER NOT NULL,
  origin TEXT NOT NULL,
  item_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  category INTEGER NOT NULL,
  received_at_us INTEGER NOT NULL,
  received_from TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items(
  origin TEXT NOT NULL,
  item_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  cursor INTEGER NOT NULL,
  digest TEXT NOT NULL,
  payload BLOB NOT NULL,
  latest INTEGER NOT NULL,
  PRIMARY KEY(origin, item_id, version)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_by_latest ON items(latest, cursor);
CREATE TABLE IF NOT EXISTS retractions(
  origin TEXT NOT NULL,
  item_id TEXT NOT NULL,
  cursor INTEGER NOT NULL,
  payload BLOB NOT NULL,
  by_origin INTEGER NOT NULL,
  PRIMARY KEY(origin, item_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS shares(
  origin TEXT NOT NULL,
  item_id TEXT NOT NULL,
  partner TEXT NOT NULL,
  PRIMARY KEY(origin, item_id, partner)) WITHOUT ROWID;
-- Gateways that sent a copy of an item held here from another gateway
-- (the same version by two paths; the first copy is kept): they may pass
-- on the origin's retraction of it.
CREATE TABLE IF NOT EXISTS other_copies(
  origin TEXT NOT NULL,
  item_id TEXT NOT NULL,
  sender TEXT NOT NULL,
  PRIMARY KEY(origin, item_id, sender)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox(
  partner TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  payload BLOB NOT NULL,
  expires_at_us INTEGER NOT NULL,
  enqueued_at_us INTEGER NOT NULL,
  PRIMARY KEY(partner, sequence)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox_sequence(
  partner TEXT PRIMARY KEY,
  last_sequence INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit(
  sequence INTEGER PRIMARY KEY,
  record BLOB NOT NULL);
-- Match keys of held items, for hits (never a personal value in clear:
-- the writer hands pseudonym codes).
CREATE TABLE IF NOT EXISTS match_keys(
  key_type INTEGER NOT NULL,
  match_key TEXT NOT NULL,
  origin TEXT NOT NULL,
  item_id TEXT NOT NULL,
  PRIMARY KEY(key_type, match_key, origin, item_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS match_keys_by_item ON match_keys(origin, item_id);
CREATE TABLE IF NOT EXISTS hits(
  cursor INTEGER PRIMARY KEY,
  payload BLOB NOT NULL);
-- Requests for withheld fields (requests.proto), sent and received.
CREATE TABLE IF NOT EXISTS field_requests(
  role INTEGER NOT NULL,
  request_id TEXT NOT NULL,
  payload BLOB NOT NULL,
  PRIMARY KEY(role, request_id));
)sql";

// Times are stored as Unix microseconds; 0 is "never" (InfinitePast).
int64_t ToMicros(absl::Time t) {
  if (t == absl::InfinitePast()) return 0;
  return absl::ToUnixMicros(t);
}
absl::Time FromMicros(int64_t us) {
  return us == 0 ? absl::InfinitePast() : absl::FromUnixMicros(us);
}

using sqlite::Db;
using sqlite::Exec;
using sqlite::Statement;

absl::StatusOr<Db> OpenDb(const std::string& path, bool read_only) {
  sqlite3* raw = nullptr;
  int flags = read_only ? SQLITE_OPEN_READONLY
                        : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  flags |= SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) {
    return absl::UnavailableError(absl::StrCat(
        "cannot open store ", path, ": ", sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(db.get(), 10'000);
  sqlite3_extended_result_codes(db.get(), 1);
  return db;
}

// Resets a stepped statement when the scope ends, whichever way it ends.
class StepScope {
 public:
  explicit StepScope(Statement& s) : s_(s) {}
  ~StepScope() { s_.Reset(); }
  StepScope(const StepScope&) = delete;
  StepScope& operator=(const StepScope&) = delete;

 private:
  Statement& s_;
};

// Builds the WHERE clause for a filter over `events e`.
struct FilterSql {
  std::string where;
  std::vector<std::variant<int64_t, std::string>> binds;
};

FilterSql BuildFilter(const v1::ItemFilter& filter) {
  FilterSql f;
  std::vector<std::string> clauses;
  if (filter.origins_size() > 0) {
    std::vector<std::string> marks(filter.origins_size(), "?");
    clauses.push_back(absl::StrCat("e.origin IN (", absl::StrJoin(marks, ","), ")"));
    for (const auto& o : filter.origins()) f.binds.emplace_back(o);
  }
  if (filter.kind() != v1::ITEM_KIND_UNSPECIFIED) {
    clauses.push_back("e.kind=?");
    f.binds.emplace_back(static_cast<int64_t>(filter.kind()));
  }
  if (filter.categories_size() > 0) {
    std::vector<std::string> marks(filter.categories_size(), "?");
    clauses.push_back(absl::StrCat("e.category IN (", absl::StrJoin(marks, ","), ")"));
    for (int c : filter.categories()) f.binds.emplace_back(static_cast<int64_t>(c));
  }
  if (filter.has_received_after()) {
    clauses.push_back("e.received_at_us>=?");
    f.binds.emplace_back(absl::ToUnixMicros(FromTimestamp(filter.received_after())));
  }
  if (filter.has_received_before()) {
    clauses.push_back("e.received_at_us<?");
    f.binds.emplace_back(absl::ToUnixMicros(FromTimestamp(filter.received_before())));
  }
  if (!filter.item_id().empty()) {
    clauses.push_back("e.item_id=?");
    f.binds.emplace_back(filter.item_id());
  }
  f.where = clauses.empty() ? "1" : absl::StrJoin(clauses, " AND ");
  return f;
}

void BindFilter(Statement& s, const FilterSql& f, int first) {
  int index = first;
  for (const auto& b : f.binds) {
    if (std::holds_alternative<int64_t>(b)) {
      s.Bind(index++, std::get<int64_t>(b));
    } else {
      s.Bind(index++, std::get<std::string>(b));
    }
  }
}

constexpr const char* kEntryColumns =
    "e.cursor, e.received_at_us, e.received_from, i.payload, r.payload";

EntryRow EntryFromRow(const Statement& row) {
  EntryRow entry;
  entry.cursor = static_cast<uint64_t>(row.Int(0));
  entry.received_at = absl::FromUnixMicros(row.Int(1));
  entry.received_from = row.Text(2);
  entry.item = std::string(row.Blob(3));
  if (!row.IsNull(4)) entry.retraction = std::string(row.Blob(4));
  return entry;
}

class SqliteBackend final : public Backend {
 public:
  explicit SqliteBackend(SqliteOptions options) : options_(std::move(options)) {}

  absl::Status Open();

  absl::StatusOr<uint64_t> LastCursor() override;
  absl::StatusOr<std::optional<std::string>> LastAuditRecord() override;

  absl::Status BeginBatch() override { return Exec(db(), "BEGIN IMMEDIATE"); }
  absl::Status CommitBatch() override { return Exec(db(), "COMMIT"); }
  void RollbackBatch() override { (void)Exec(db(), "ROLLBACK"); }
  absl::Status BeginMark() override { return writer_.savepoint.Run(); }
  absl::Status RollbackToMark() override {
    return writer_.rollback_to_savepoint.Run();
  }
  absl::Status EndMark() override { return writer_.release_savepoint.Run(); }

  absl::StatusOr<std::optional<StoredVersion>> FindVersion(
      const std::string& origin, const std::string& item_id,
      uint32_t version) override;
  absl::StatusOr<uint32_t> CurrentVersion(const std::string& origin,
                                          const std::string& item_id) override;
  absl::StatusOr<std::optional<CurrentKind>> FindCurrentKind(
      const std::string& origin, const std::string& item_id) override;
  absl::StatusOr<std::optional<bool>> FindRetraction(
      const std::string& origin, const std::string& item_id) override;
  absl::StatusOr<std::vector<std::string>> SharedWith(
      const std::string& origin, const std::string& item_id) override;

  absl::StatusOr<std::vector<v1::MatchKey>> MatchKeysOf(
      const std::string& origin, const std::string& item_id) override;
  absl::StatusOr<std::vector<MatchHolder>> FindMatchKeyHolders(
      const v1::MatchKey& key, int limit) override;
  absl::Status ReplaceMatchKeys(const std::string& origin,
                                const std::string& item_id,
                                const std::vector<v1::MatchKey>& keys) override;
  absl::Status PutHit(uint64_t cursor, const std::string& bytes) override {
    return writer_.insert_hit.Bind(1, static_cast<int64_t>(cursor))
        .BindBlob(2, bytes)
        .Run();
  }

  absl::StatusOr<uint64_t> AddEvent(const EventRow& event) override;
  absl::Status AddVersion(const std::string& origin, const std::string& item_id,
                          uint32_t version, uint64_t cursor,
                          const std::string& digest, const std::string& bytes,
                          bool current) override;
  absl::Status ClearCurrent(const std::string& origin,
                            const std::string& item_id) override {
    return writer_.clear_latest.Bind(1, origin).Bind(2, item_id).Run();
  }
  absl::Status PutRetraction(const std::string& origin,
                             const std::string& item_id, uint64_t cursor,
                             const std::string& bytes, bool by_origin) override;
  absl::Status DeleteRetraction(const std::string& origin,
                                const std::string& item_id) override {
    return writer_.delete_retraction.Bind(1, origin).Bind(2, item_id).Run();
  }
  absl::Status AddOtherCopy(const std::string& origin,
                            const std::string& item_id,
                            const std::string& sender) override {
    return writer_.insert_other_copy.Bind(1, origin)
        .Bind(2, item_id)
        .Bind(3, sender)
        .Run();
  }
  absl::Status AddShare(const std::string& origin, const std::string& item_id,
                        const std::string& partner) override {
    return writer_.insert_share.Bind(1, origin)
        .Bind(2, item_id)
        .Bind(3, partner)
        .Run();
  }
  absl::Status AppendOutbox(const std::string& partner,
                            const std::string& message, absl::Time expires_at,
                            absl::Time enqueued_at) override;
  absl::Status RemoveOutbox(const std::string& partner,
                            uint64_t sequence) override {
    return writer_.delete_outbox.Bind(1, partner)
        .Bind(2, static_cast<int64_t>(sequence))
        .Run();
  }
  absl::Status AppendAudit(uint64_t sequence, const std::string& bytes) override {
    return writer_.insert_audit.Bind(1, static_cast<int64_t>(sequence))
        .BindBlob(2, bytes)
        .Run();
  }

  absl::StatusOr<std::optional<std::string>> FindFieldRequest(
      int role, const std::string& request_id) override {
    Statement& q = writer_.find_field_request;
    StepScope scope(q);
    q.Bind(1, static_cast<int64_t>(role)).Bind(2, request_id);
    HG_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return std::optional<std::string>();
    return std::optional<std::string>(std::string(q.Blob(0)));
  }
  absl::Status PutFieldRequest(int role, const std::string& request_id,
                               const std::string& bytes) override {
    return writer_.put_field_request.Bind(1, static_cast<int64_t>(role))
        .Bind(2, request_id)
        .BindBlob(3, bytes)
        .Run();
  }
  absl::StatusOr<std::optional<std::string>> ReadFieldRequest(
      int role, const std::string& request_id) override;
  absl::StatusOr<std::vector<std::string>> ReadFieldRequests(int role) override;

  absl::StatusOr<std::optional<EntryRow>> GetCurrent(
      const std::string& origin, const std::string& item_id) override;
  absl::StatusOr<bool> HasOtherCopy(const std::string& origin,
                                    const std::string& item_id,
                                    const std::string& sender) override;
  absl::StatusOr<std::vector<EntryRow>> ListCurrent(
      const v1::ItemFilter& filter, uint64_t before_cursor,
      int limit) override;
  absl::StatusOr<std::vector<EventReadRow>> ReadEvents(
      uint64_t after_cursor, const v1::ItemFilter& filter, int limit) override;
  absl::StatusOr<std::vector<OutboxRow>> ReadOutbox(const std::string& partner,
                                                    uint64_t after_sequence,
                                                    int limit) override;
  absl::StatusOr<std::vector<OutboxStats>> OutboxStatistics() override;
  absl::StatusOr<std::vector<std::string>> ReadAudit(uint64_t after_sequence,
                                                     int limit) override;
  absl::StatusOr<std::vector<std::string>> ReadHits(uint64_t after_cursor,
                                                    int limit) override;
  absl::StatusOr<std::vector<EntryRow>> ReadMatchKeyHolders(
      const v1::MatchKey& key, int limit) override;
  void Close() override;

 private:
  // The first column (a blob) of `sql`'s rows, on a reader; `sql` takes the
  // cursor or sequence to start after and a limit.
  absl::StatusOr<std::vector<std::string>> ReadBlobsAfter(const char* sql,
                                                          uint64_t after,
                                                          int limit);

  // Writer state: the connection and its prepared statements (used by the
  // store's writer thread only, and before it starts).
  struct Writer {
    Db db;
    Statement find_item, insert_event, insert_item, find_latest,
        clear_latest, find_retraction, insert_retraction, insert_other_copy,
        next_outbox_seq, set_outbox_seq, insert_outbox, insert_share,
        shared_partners, delete_outbox, insert_audit, current_kind,
        delete_retraction, savepoint, release_savepoint,
        rollback_to_savepoint, match_keys_of, match_key_holders,
        delete_match_keys, insert_match_key, insert_hit, find_field_request,
        put_field_request;
  };

  sqlite3* db() { return writer_.db.get(); }
  absl::Status PrepareWriter();

  // A read connection leased for the scope of one call.
  class ReaderLease {
   public:
    ReaderLease(SqliteBackend& backend, Db db)
        : backend_(backend), db_(std::move(db)) {}
    ~ReaderLease() { backend_.ReturnReader(std::move(db_)); }
    sqlite3* get() const { return db_.get(); }

   private:
    SqliteBackend& backend_;
    Db db_;
  };
  absl::StatusOr<Db> LeaseReader();
  void ReturnReader(Db db);

  SqliteOptions options_;
  Writer writer_;

  std::mutex readers_mu_;
  std::vector<Db> readers_;  // guarded by readers_mu_
};

absl::Status SqliteBackend::Open() {
  std::filesystem::path path(options_.path);
  std::error_code ec;
  if (path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat(
          "cannot create directory ", path.parent_path().string(), ": ",
          ec.message()));
    }
  }
  HG_ASSIGN_OR_RETURN(writer_.db, OpenDb(options_.path, /*read_only=*/false));
  sqlite3* db = writer_.db.get();
  // Only takes effect when the file is created (a store keeps the page
  // size it was created with). A WITHOUT ROWID row keeps at most ~1/4 of
  // a page in its B-tree page: with 4 KiB pages every item over ~0.9 KB
  // (a typical alert is 1-2 KB) spilled into an overflow page of its own.
  // 8 KiB pages keep items up to ~1.9 KB in place; larger pages would
  // keep more, but every commit writes whole pages to the WAL, which is
  // what a low rate of single pushes pays for (ingest_bench: ~33, 53 and
  // 92 KB written per unary push with 4, 8 and 16 KiB pages).
  HG_RETURN_IF_ERROR(Exec(db, "PRAGMA page_size=8192"));
  HG_RETURN_IF_ERROR(Exec(db, "PRAGMA journal_mode=WAL"));
  // FULL: every commit syncs the WAL, so a committed write survives power
  // loss; group commit amortises the sync.
  HG_RETURN_IF_ERROR(Exec(db, "PRAGMA synchronous=FULL"));
  HG_RETURN_IF_ERROR(Exec(db, "PRAGMA foreign_keys=ON"));
  // Savepoint (statement) journals in memory, not in a temporary file
  // written page by page.
  HG_RETURN_IF_ERROR(Exec(db, "PRAGMA temp_store=MEMORY"));
  HG_RETURN_IF_ERROR(Exec(db, kSchema));
  if (options_.max_page_count_for_testing > 0) {
    HG_RETURN_IF_ERROR(Exec(
        db, absl::StrCat("PRAGMA max_page_count=",
                         options_.max_page_count_for_testing).c_str()));
  }
  {
    HG_ASSIGN_OR_RETURN(auto get, Statement::Prepare(
                                      db, "SELECT value FROM meta WHERE key='schema_version'"));
    HG_ASSIGN_OR_RETURN(bool has, get.Step());
    if (has) {
      int version = 0;
      if (!absl::SimpleAtoi(get.Text(0), &version) || version > kSchemaVersion) {
        return absl::FailedPreconditionError(absl::StrCat(
            "store ", options_.path, " was written by a newer havengate (schema ",
            get.Text(0), "); this build reads schema ", kSchemaVersion));
      }
    } else {
      get.Reset();
      HG_ASSIGN_OR_RETURN(auto put, Statement::Prepare(
                                        db, "INSERT INTO meta VALUES('schema_version', ?)"));
      HG_RETURN_IF_ERROR(put.Bind(1, absl::StrCat(kSchemaVersion)).Run());
    }
  }
  return PrepareWriter();
}

absl::Status SqliteBackend::PrepareWriter() {
  sqlite3* db = writer_.db.get();
  struct {
    Statement* stmt;
    const char* sql;
  } statements[] = {
      {&writer_.find_item,
       "SELECT i.cursor, i.digest, e.received_from, e.received_at_us FROM "
       "items i JOIN events e ON e.cursor=i.cursor WHERE i.origin=? AND "
       "i.item_id=? AND i.version=?"},
      {&writer_.insert_event,
       "INSERT INTO events(type, origin, item_id, version, kind, category, "
       "received_at_us, received_from) VALUES(?,?,?,?,?,?,?,?)"},
      {&writer_.insert_item,
       "INSERT INTO items(origin, item_id, version, cursor, digest, payload, latest) "
       "VALUES(?,?,?,?,?,?,?)"},
      // `+latest`: look the item up by its primary key. Left to itself the
      // planner prefers items_by_latest (latest=?), a walk over every
      // current item, which made each write O(items stored).
      {&writer_.find_latest,
       "SELECT version FROM items WHERE origin=? AND item_id=? AND +latest=1"},
      {&writer_.clear_latest,
       "UPDATE items SET latest=0 WHERE origin=? AND item_id=? AND +latest=1"},
      {&writer_.find_retraction,
       "SELECT by_origin FROM retractions WHERE origin=? AND item_id=?"},
      {&writer_.insert_retraction,
       "INSERT OR REPLACE INTO retractions(origin, item_id, cursor, payload, "
       "by_origin) VALUES(?,?,?,?,?)"},
      {&writer_.insert_other_copy,
       "INSERT OR IGNORE INTO other_copies(origin, item_id, sender) VALUES(?,?,?)"},
      {&writer_.delete_retraction,
       "DELETE FROM retractions WHERE origin=? AND item_id=?"},
      {&writer_.next_outbox_seq,
       "SELECT last_sequence FROM outbox_sequence WHERE partner=?"},
      {&writer_.set_outbox_seq,
       "INSERT INTO outbox_sequence(partner, last_sequence) VALUES(?,?) "
       "ON CONFLICT(partner) DO UPDATE SET last_sequence=excluded.last_sequence"},
      {&writer_.insert_outbox,
       "INSERT INTO outbox(partner, sequence, payload, expires_at_us, "
       "enqueued_at_us) VALUES(?,?,?,?,?)"},
      {&writer_.insert_share,
       "INSERT OR IGNORE INTO shares(origin, item_id, partner) VALUES(?,?,?)"},
      {&writer_.shared_partners,
       "SELECT partner FROM shares WHERE origin=? AND item_id=? ORDER BY partner"},
      {&writer_.delete_outbox,
       "DELETE FROM outbox WHERE partner=? AND sequence<=?"},
      {&writer_.insert_audit, "INSERT INTO audit(sequence, record) VALUES(?,?)"},
      // The current version's event (the newest of type 1), found through
      // the items primary key: events has no index on the item.
      {&writer_.current_kind,
       "SELECT e.kind, e.category FROM items i JOIN events e ON "
       "e.cursor=i.cursor WHERE i.origin=? AND i.item_id=? AND +i.latest=1"},
      // Marks are savepoints: prepared once, not parsed by sqlite3_exec
      // each time.
      {&writer_.match_keys_of,
       "SELECT key_type, match_key FROM match_keys WHERE origin=? AND "
       "item_id=? ORDER BY key_type, match_key"},
      {&writer_.match_key_holders,
       "SELECT origin, item_id FROM match_keys WHERE key_type=? AND "
       "match_key=? ORDER BY origin, item_id LIMIT ?"},
      {&writer_.delete_match_keys,
       "DELETE FROM match_keys WHERE origin=? AND item_id=?"},
      {&writer_.insert_match_key,
       "INSERT OR IGNORE INTO match_keys(key_type, match_key, origin, "
       "item_id) VALUES(?,?,?,?)"},
      {&writer_.insert_hit, "INSERT INTO hits(cursor, payload) VALUES(?,?)"},
      {&writer_.find_field_request,
       "SELECT payload FROM field_requests WHERE role=? AND request_id=?"},
      {&writer_.put_field_request,
       "INSERT INTO field_requests(role, request_id, payload) VALUES(?,?,?) "
       "ON CONFLICT(role, request_id) DO UPDATE SET payload=excluded.payload"},
      {&writer_.savepoint, "SAVEPOINT w"},
      {&writer_.release_savepoint, "RELEASE w"},
      {&writer_.rollback_to_savepoint, "ROLLBACK TO w"},
  };
  for (auto& s : statements) {
    HG_ASSIGN_OR_RETURN(*s.stmt, Statement::Prepare(db, s.sql));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> SqliteBackend::LastCursor() {
  HG_ASSIGN_OR_RETURN(auto last, Statement::Prepare(
                                     db(), "SELECT COALESCE(MAX(cursor),0) FROM events"));
  HG_ASSIGN_OR_RETURN(bool row, last.Step());
  return row ? static_cast<uint64_t>(last.Int(0)) : 0;
}

absl::StatusOr<std::optional<std::string>> SqliteBackend::LastAuditRecord() {
  HG_ASSIGN_OR_RETURN(auto head, Statement::Prepare(
                                     db(), "SELECT record FROM audit ORDER BY sequence DESC LIMIT 1"));
  HG_ASSIGN_OR_RETURN(bool row, head.Step());
  if (!row) return std::nullopt;
  return std::string(head.Blob(0));
}

absl::StatusOr<std::optional<StoredVersion>> SqliteBackend::FindVersion(
    const std::string& origin, const std::string& item_id, uint32_t version) {
  Statement& s = writer_.find_item;
  StepScope scope(s);
  s.Bind(1, origin).Bind(2, item_id).Bind(3, static_cast<int64_t>(version));
  HG_ASSIGN_OR_RETURN(bool exists, s.Step());
  if (!exists) return std::nullopt;
  StoredVersion stored;
  stored.cursor = static_cast<uint64_t>(s.Int(0));
  stored.digest = s.Text(1);
  stored.received_from = s.Text(2);
  stored.received_at = absl::FromUnixMicros(s.Int(3));
  return stored;
}

absl::StatusOr<uint32_t> SqliteBackend::CurrentVersion(
    const std::string& origin, const std::string& item_id) {
  Statement& s = writer_.find_latest;
  StepScope scope(s);
  s.Bind(1, origin).Bind(2, item_id);
  HG_ASSIGN_OR_RETURN(bool found, s.Step());
  return found ? static_cast<uint32_t>(s.Int(0)) : 0;
}

absl::StatusOr<std::optional<CurrentKind>> SqliteBackend::FindCurrentKind(
    const std::string& origin, const std::string& item_id) {
  Statement& s = writer_.current_kind;
  StepScope scope(s);
  s.Bind(1, origin).Bind(2, item_id);
  HG_ASSIGN_OR_RETURN(bool found, s.Step());
  if (!found) return std::nullopt;
  return CurrentKind{static_cast<int>(s.Int(0)), static_cast<int>(s.Int(1))};
}

absl::StatusOr<std::optional<bool>> SqliteBackend::FindRetraction(
    const std::string& origin, const std::string& item_id) {
  Statement& s = writer_.find_retraction;
  StepScope scope(s);
  s.Bind(1, origin).Bind(2, item_id);
  HG_ASSIGN_OR_RETURN(bool found, s.Step());
  if (!found) return std::nullopt;
  return s.Int(0) != 0;
}

absl::StatusOr<std::vector<std::string>> SqliteBackend::SharedWith(
    const std::string& origin, const std::string& item_id) {
  Statement& s = writer_.shared_partners;
  StepScope scope(s);
  s.Bind(1, origin).Bind(2, item_id);
  std::vector<std::string> partners;
  for (;;) {
    HG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    partners.push_back(s.Text(0));
  }
  return partners;
}

absl::StatusOr<std::vector<v1::MatchKey>> SqliteBackend::MatchKeysOf(
    const std::string& origin, const std::string& item_id) {
  Statement& s = writer_.match_keys_of;
  StepScope scope(s);
  s.Bind(1, origin).Bind(2, item_id);
  std::vector<v1::MatchKey> keys;
  for (;;) {
    HG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    v1::MatchKey& key = keys.emplace_back();
    key.set_type(static_cast<v1::MatchKeyType>(s.Int(0)));
    key.set_key(s.Text(1));
  }
  return keys;
}

absl::StatusOr<std::vector<MatchHolder>> SqliteBackend::FindMatchKeyHolders(
    const v1::MatchKey& key, int limit) {
  Statement& s = writer_.match_key_holders;
  StepScope scope(s);
  s.Bind(1, static_cast<int64_t>(key.type())).Bind(2, key.key()).Bind(3, limit);
  std::vector<MatchHolder> holders;
  for (;;) {
    HG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    holders.push_back(MatchHolder{s.Text(0), s.Text(1)});
  }
  return holders;
}

absl::Status SqliteBackend::ReplaceMatchKeys(
    const std::string& origin, const std::string& item_id,
    const std::vector<v1::MatchKey>& keys) {
  HG_RETURN_IF_ERROR(
      writer_.delete_match_keys.Bind(1, origin).Bind(2, item_id).Run());
  for (const v1::MatchKey& key : keys) {
    HG_RETURN_IF_ERROR(writer_.insert_match_key
                           .Bind(1, static_cast<int64_t>(key.type()))
                           .Bind(2, key.key())
                           .Bind(3, origin)
                           .Bind(4, item_id)
                           .Run());
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> SqliteBackend::AddEvent(const EventRow& event) {
  HG_RETURN_IF_ERROR(writer_.insert_event
                         .Bind(1, static_cast<int64_t>(event.type))
                         .Bind(2, event.origin)
                         .Bind(3, event.item_id)
                         .Bind(4, static_cast<int64_t>(event.version))
                         .Bind(5, static_cast<int64_t>(event.kind))
                         .Bind(6, static_cast<int64_t>(event.category))
                         .Bind(7, absl::ToUnixMicros(event.received_at))
                         .Bind(8, event.received_from)
                         .Run());
  return static_cast<uint64_t>(sqlite3_last_insert_rowid(db()));
}

absl::Status SqliteBackend::AddVersion(const std::string& origin,
                                       const std::string& item_id,
                                       uint32_t version, uint64_t cursor,
                                       const std::string& digest,
                                       const std::string& bytes, bool current) {
  return writer_.insert_item.Bind(1, origin)
      .Bind(2, item_id)
      .Bind(3, static_cast<int64_t>(version))
      .Bind(4, static_cast<int64_t>(cursor))
      .Bind(5, digest)
      .BindBlob(6, bytes)
      .Bind(7, current ? 1 : 0)
      .Run();
}

absl::Status SqliteBackend::PutRetraction(const std::string& origin,
                                          const std::string& item_id,
                                          uint64_t cursor,
                                          const std::string& bytes,
                                          bool by_origin) {
  return writer_.insert_retraction.Bind(1, origin)
      .Bind(2, item_id)
      .Bind(3, static_cast<int64_t>(cursor))
      .BindBlob(4, bytes)
      .Bind(5, by_origin ? 1 : 0)
      .Run();
}

absl::Status SqliteBackend::AppendOutbox(const std::string& partner,
                                         const std::string& message,
                                         absl::Time expires_at,
                                         absl::Time enqueued_at) {
  int64_t last = 0;
  {
    Statement& s = writer_.next_outbox_seq;
    StepScope scope(s);
    s.Bind(1, partner);
    HG_ASSIGN_OR_RETURN(bool found, s.Step());
    if (found) last = s.Int(0);
  }
  HG_RETURN_IF_ERROR(writer_.set_outbox_seq.Bind(1, partner).Bind(2, last + 1).Run());
  return writer_.insert_outbox.Bind(1, partner)
      .Bind(2, last + 1)
      .BindBlob(3, message)
      .Bind(4, ToMicros(expires_at))
      .Bind(5, absl::ToUnixMicros(enqueued_at))
      .Run();
}

absl::StatusOr<Db> SqliteBackend::LeaseReader() {
  {
    std::lock_guard<std::mutex> lock(readers_mu_);
    if (!readers_.empty()) {
      Db db = std::move(readers_.back());
      readers_.pop_back();
      return db;
    }
  }
  return OpenDb(options_.path, /*read_only=*/true);
}

void SqliteBackend::ReturnReader(Db db) {
  std::lock_guard<std::mutex> lock(readers_mu_);
  if (readers_.size() < 16) readers_.push_back(std::move(db));
}

absl::StatusOr<std::optional<EntryRow>> SqliteBackend::GetCurrent(
    const std::string& origin, const std::string& item_id) {
  HG_ASSIGN_OR_RETURN(Db db, LeaseReader());
  ReaderLease lease(*this, std::move(db));
  HG_ASSIGN_OR_RETURN(
      auto s,
      Statement::Prepare(
          lease.get(),
          absl::StrCat("SELECT ", kEntryColumns,
                       " FROM items i JOIN events e ON e.cursor=i.cursor "
                       "LEFT JOIN retractions r ON r.origin=i.origin AND "
                       "r.item_id=i.item_id WHERE i.origin=? AND i.item_id=? "
                       // `+`: by the primary key, not a walk over
                       // items_by_latest (every current item).
                       "AND +i.latest=1")));
  s.Bind(1, origin).Bind(2, item_id);
  HG_ASSIGN_OR_RETURN(bool found, s.Step());
  if (!found) return std::nullopt;
  return EntryFromRow(s);
}

absl::StatusOr<bool> SqliteBackend::HasOtherCopy(const std::string& origin,
                                                 const std::string& item_id,
                                                 const std::string& sender) {
  HG_ASSIGN_OR_RETURN(Db db, LeaseReader());
  ReaderLease lease(*this, std::move(db));
  HG_ASSIGN_OR_RETURN(
      auto s, Statement::Prepare(lease.get(),
                                 "SELECT 1 FROM other_copies WHERE origin=? AND "
                                 "item_id=? AND sender=?"));
  s.Bind(1, origin).Bind(2, item_id).Bind(3, sender);
  return s.Step();
}

absl::StatusOr<std::vector<EntryRow>> SqliteBackend::ListCurrent(
    const v1::ItemFilter& filter, uint64_t before_cursor, int limit) {
  HG_ASSIGN_OR_RETURN(Db db, LeaseReader());
  ReaderLease lease(*this, std::move(db));
  FilterSql f = BuildFilter(filter);
  std::string sql = absl::StrCat(
      "SELECT ", kEntryColumns,
      " FROM items i JOIN events e ON e.cursor=i.cursor "
      "LEFT JOIN retractions r ON r.origin=i.origin AND r.item_id=i.item_id "
      "WHERE i.latest=1 AND i.cursor<? AND ",
      f.where, filter.include_retracted() ? "" : " AND r.origin IS NULL",
      " ORDER BY i.cursor DESC LIMIT ?");
  HG_ASSIGN_OR_RETURN(auto s, Statement::Prepare(lease.get(), sql));
  s.Bind(1, static_cast<int64_t>(before_cursor));
  BindFilter(s, f, 2);
  s.Bind(2 + static_cast<int>(f.binds.size()), limit);
  std::vector<EntryRow> rows;
  for (;;) {
    HG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    rows.push_back(EntryFromRow(s));
  }
  return rows;
}

absl::StatusOr<std::vector<EventReadRow>> SqliteBackend::ReadEvents(
    uint64_t after_cursor, const v1::ItemFilter& filter, int limit) {
  HG_ASSIGN_OR_RETURN(Db db, LeaseReader());
  ReaderLease lease(*this, std::move(db));
  FilterSql f = BuildFilter(filter);
  std::string sql = absl::StrCat(
      // Joined through the primary keys: items and retractions have no
      // index on the cursor alone, and joining on it scanned every item
      // for every event (a subscriber replaying 14,000 events took over a
      // minute). A retraction event whose record was replaced or lifted
      // (a withdrawal lifted by a newer version) is not replayed.
      "SELECT e.cursor, e.received_at_us, e.received_from, i.payload, "
      "r.payload, e.type FROM events e "
      "LEFT JOIN items i ON e.type=1 AND i.origin=e.origin AND "
      "i.item_id=e.item_id AND i.version=e.version "
      "LEFT JOIN retractions r ON e.type=2 AND r.origin=e.origin AND "
      "r.item_id=e.item_id AND r.cursor=e.cursor "
      "WHERE e.cursor>? AND e.type IN (1,2) "
      "AND (e.type=1 OR r.origin IS NOT NULL) AND ",
      f.where, " ORDER BY e.cursor LIMIT ?");
  HG_ASSIGN_OR_RETURN(auto s, Statement::Prepare(lease.get(), sql));
  s.Bind(1, static_cast<int64_t>(after_cursor));
  BindFilter(s, f, 2);
  s.Bind(2 + static_cast<int>(f.binds.size()), limit);
  std::vector<EventReadRow> rows;
  for (;;) {
    HG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    EventReadRow& r = rows.emplace_back();
    r.cursor = static_cast<uint64_t>(s.Int(0));
    r.received_at = absl::FromUnixMicros(s.Int(1));
    r.received_from = s.Text(2);
    r.type = static_cast<EventType>(s.Int(5));
    if (r.type == EventType::kItem) {
      r.item = std::string(s.Blob(3));
    } else {
      r.retraction = std::string(s.Blob(4));
    }
  }
  return rows;
}

absl::StatusOr<std::vector<std::string>> SqliteBackend::ReadHits(
    uint64_t after_cursor, int limit) {
  return ReadBlobsAfter(
      "SELECT payload FROM hits WHERE cursor>? ORDER BY cursor LIMIT ?",
      after_cursor, limit);
}

absl::StatusOr<std::vector<EntryRow>> SqliteBackend::ReadMatchKeyHolders(
    const v1::MatchKey& key, int limit) {
  HG_ASSIGN_OR_RETURN(Db db, LeaseReader());
  ReaderLease lease(*this, std::move(db));
  HG_ASSIGN_OR_RETURN(
      auto s,
      Statement::Prepare(
          lease.get(),
          absl::StrCat("SELECT ", kEntryColumns,
                       " FROM match_keys m JOIN items i ON i.origin=m.origin "
                       "AND i.item_id=m.item_id AND +i.latest=1 "
                       "JOIN events e ON e.cursor=i.cursor "
                       "LEFT JOIN retractions r ON r.origin=i.origin AND "
                       "r.item_id=i.item_id WHERE m.key_type=? AND "
                       "m.match_key=? ORDER BY m.origin, m.item_id LIMIT ?")));
  s.Bind(1, static_cast<int64_t>(key.type())).Bind(2, key.key()).Bind(3, limit);
  std::vector<EntryRow> rows;
  for (;;) {
    HG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    rows.push_back(EntryFromRow(s));
  }
  return rows;
}

absl::StatusOr<std::vector<OutboxRow>> SqliteBackend::ReadOutbox(
    const std::string& partner, uint64_t after_sequence, int limit) {
  HG_ASSIGN_OR_RETURN(Db db, LeaseReader());
  ReaderLease lease(*this, std::move(db));
  HG_ASSIGN_OR_RETURN(
      auto s, Statement::Prepare(
                  lease.get(),
                  "SELECT sequence, payload, expires_at_us, enqueued_at_us FROM "
                  "outbox WHERE partner=? AND sequence>? ORDER BY sequence LIMIT ?"));
  s.Bind(1, partner).Bind(2, static_cast<int64_t>(after_sequence)).Bind(3, limit);
  std::vector<OutboxRow> rows;
  for (;;) {
    HG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    OutboxRow& r = rows.emplace_back();
    r.sequence = static_cast<uint64_t>(s.Int(0));
    r.message = std::string(s.Blob(1));
    r.expires_at = FromMicros(s.Int(2));
    r.enqueued_at = absl::FromUnixMicros(s.Int(3));
  }
  return rows;
}

absl::StatusOr<std::vector<OutboxStats>> SqliteBackend::OutboxStatistics() {
  HG_ASSIGN_OR_RETURN(Db db, LeaseReader());
  ReaderLease lease(*this, std::move(db));
  HG_ASSIGN_OR_RETURN(
      auto s, Statement::Prepare(
                  lease.get(),
                  "SELECT q.partner, COUNT(o.sequence), MIN(o.enqueued_at_us) "
                  "FROM outbox_sequence q LEFT JOIN outbox o ON "
                  "o.partner=q.partner GROUP BY q.partner ORDER BY q.partner"));
  std::vector<OutboxStats> stats;
  for (;;) {
    HG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    OutboxStats st;
    st.partner = s.Text(0);
    st.depth = static_cast<uint64_t>(s.Int(1));
    st.oldest_enqueued_at = s.IsNull(2) ? absl::InfinitePast()
                                        : absl::FromUnixMicros(s.Int(2));
    stats.push_back(std::move(st));
  }
  return stats;
}

absl::StatusOr<std::vector<std::string>> SqliteBackend::ReadAudit(
    uint64_t after_sequence, int limit) {
  return ReadBlobsAfter(
      "SELECT record FROM audit WHERE sequence>? ORDER BY sequence LIMIT ?",
      after_sequence, limit);
}

absl::StatusOr<std::optional<std::string>> SqliteBackend::ReadFieldRequest(
    int role, const std::string& request_id) {
  HG_ASSIGN_OR_RETURN(Db db, LeaseReader());
  ReaderLease lease(*this, std::move(db));
  HG_ASSIGN_OR_RETURN(
      auto s, Statement::Prepare(lease.get(), "SELECT payload FROM field_requests "
                                              "WHERE role=? AND request_id=?"));
  s.Bind(1, static_cast<int64_t>(role)).Bind(2, request_id);
  HG_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(std::string(s.Blob(0)));
}

absl::StatusOr<std::vector<std::string>> SqliteBackend::ReadFieldRequests(int role) {
  HG_ASSIGN_OR_RETURN(Db db, LeaseReader());
  ReaderLease lease(*this, std::move(db));
  HG_ASSIGN_OR_RETURN(
      auto s, Statement::Prepare(lease.get(), "SELECT payload FROM field_requests "
                                              "WHERE role=? ORDER BY rowid"));
  s.Bind(1, static_cast<int64_t>(role));
  std::vector<std::string> blobs;
  for (;;) {
    HG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    blobs.emplace_back(s.Blob(0));
  }
  return blobs;
}

absl::StatusOr<std::vector<std::string>> SqliteBackend::ReadBlobsAfter(
    const char* sql, uint64_t after, int limit) {
  HG_ASSIGN_OR_RETURN(Db db, LeaseReader());
  ReaderLease lease(*this, std::move(db));
  HG_ASSIGN_OR_RETURN(auto s, Statement::Prepare(lease.get(), sql));
  s.Bind(1, static_cast<int64_t>(after)).Bind(2, limit);
  std::vector<std::string> blobs;
  for (;;) {
    HG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    blobs.emplace_back(s.Blob(0));
  }
  return blobs;
}

void SqliteBackend::Close() {
  {
    std::lock_guard<std::mutex> lock(readers_mu_);
    readers_.clear();
  }
  if (writer_.db) {
    // Checkpoint so the database file alone holds everything.
    (void)Exec(writer_.db.get(), "PRAGMA wal_checkpoint(TRUNCATE)");
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> OpenSqliteBackend(
    const SqliteOptions& options) {
  auto backend = std::make_unique<SqliteBackend>(options);
  HG_RETURN_IF_ERROR(backend->Open());
  return std::unique_ptr<Backend>(std::move(backend));
}

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(
    const SqliteOptions& sqlite, StoreOptions options) {
  HG_ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend,
                      OpenSqliteBackend(sqlite));
  return OpenDomainStore(std::move(backend), std::move(options));
}

}  // namespace havengate::store
