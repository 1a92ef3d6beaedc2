// SQLite implementation of Store: WAL mode, synchronous=FULL, one writer
// thread that commits queued writes in batches (group commit), and a pool of
// read-only connections that see committed data.
#include <sqlite3.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <variant>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "evidence/audit_chain.h"
#include "proto/digest.h"
#include "proto/item_validation.h"
#include "proto/status_macros.h"
#include "proto/timestamp.h"
#include "server/store/store.h"
#include "sqlite/statement.h"

namespace havengate::store {
namespace {

constexpr int kSchemaVersion = 1;

enum EventType : int {
  kEventItem = 1,
  kEventRetraction = 2,
  // A version that arrived after a higher one: stored, but not an event
  // subscribers see.
  kEventSuperseded = 3,
};

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
)sql";

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

// What the writer thread works on.
struct ItemRequest {
  ItemWrite write;
  std::string payload;  // serialized item
  std::string digest;
  Store::ItemCallback done;
};
struct RetractionRequest {
  RetractionWrite write;
  Store::DoneCallback done;
};
struct AuditRequest {
  std::vector<v1::AuditRecord> records;
  Store::DoneCallback done;
};
struct AckRequest {
  std::string partner;
  uint64_t sequence;
  std::vector<v1::AuditRecord> audit;
  Store::DoneCallback done;
};
using Request =
    std::variant<ItemRequest, RetractionRequest, AuditRequest, AckRequest>;

// The outcome of one request inside a batch, delivered after commit.
using Outcome = std::variant<absl::StatusOr<ItemWriteResult>, absl::Status>;

struct AuditHead {
  uint64_t sequence = 0;
  std::string hash = std::string(32, '\0');
};

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(SqliteOptions options) : options_(std::move(options)) {}
  ~SqliteStore() override { Close(); }

  absl::Status Open();

  void WriteItemAsync(ItemWrite write, ItemCallback done) override;
  void WriteRetractionAsync(RetractionWrite write, DoneCallback done) override;
  void AppendAuditAsync(std::vector<v1::AuditRecord> records,
                        DoneCallback done) override;
  void AckOutboxAsync(const std::string& partner, uint64_t sequence,
                      std::vector<v1::AuditRecord> audit,
                      DoneCallback done) override;

  absl::StatusOr<v1::InboxEntry> GetItem(const std::string& origin,
                                         const std::string& item_id) override;
  absl::StatusOr<bool> SentOtherCopy(const std::string& origin,
                                     const std::string& item_id,
                                     const std::string& sender) override;
  absl::StatusOr<ListPage> ListItems(const v1::ItemFilter& filter,
                                     int page_size,
                                     const std::string& page_token) override;
  absl::StatusOr<std::vector<v1::InboxEvent>> ReadEvents(
      uint64_t after_cursor, const v1::ItemFilter& filter, int max) override;
  uint64_t LastCursor() override;
  bool WaitForEvents(uint64_t after_cursor, absl::Time deadline) override;
  absl::StatusOr<std::vector<OutboxRecord>> ReadOutbox(
      const std::string& partner, uint64_t after_sequence, int max) override;
  absl::StatusOr<std::vector<OutboxStats>> GetOutboxStats() override;
  absl::StatusOr<std::vector<v1::AuditRecord>> ReadAudit(
      uint64_t after_sequence, int max) override;
  bool Healthy() override;
  void Close() override;

 private:
  // Writer-thread state: the connection and its prepared statements.
  struct Writer {
    Db db;
    Statement find_item, insert_event, insert_item, find_latest,
        clear_latest, find_retraction, insert_retraction, insert_other_copy,
        next_outbox_seq,
        set_outbox_seq, insert_outbox, insert_share, shared_partners,
        delete_outbox, insert_audit, any_version, event_time,
        delete_retraction, savepoint, release_savepoint,
        rollback_to_savepoint;
  };

  absl::Status PrepareWriter();
  void Enqueue(Request request);
  void WriterLoop();
  void CommitBatch(std::vector<Request>& batch);
  absl::StatusOr<ItemWriteResult> ApplyItem(ItemRequest& request,
                                            AuditHead& head, int64_t now_us);
  absl::Status ApplyRetraction(RetractionRequest& request, AuditHead& head,
                               int64_t now_us);
  absl::Status ApplyAck(AckRequest& request, AuditHead& head, int64_t now_us);
  absl::Status AppendAuditRecords(std::vector<v1::AuditRecord>& records,
                                  AuditHead& head, int64_t now_us);
  absl::Status Enqueue(const std::string& partner, absl::string_view payload,
                       int64_t expires_us, int64_t now_us);
  absl::Status QueueToPartnersOfItem(const std::string& origin,
                                     const std::string& item_id,
                                     absl::string_view payload,
                                     const std::vector<std::string>& except,
                                     int64_t now_us);

  // Read connections, leased one per call.
  absl::StatusOr<Db> LeaseReader();
  void ReturnReader(Db db);
  absl::StatusOr<v1::InboxEntry> EntryFromRow(Statement& row);

  SqliteOptions options_;
  Writer writer_;
  std::thread writer_thread_;

  std::mutex mu_;
  std::condition_variable queue_cv_;
  std::condition_variable events_cv_;
  std::deque<Request> queue_;
  bool closing_ = false;
  bool closed_ = false;
  bool healthy_ = true;
  uint64_t last_cursor_ = 0;
  // Writer thread only: the chain head as committed, and the event cursor
  // the request being applied created (0 if none).
  AuditHead audit_head_;
  uint64_t applied_cursor_ = 0;
  // Writer thread only: records appended in the open transaction, for
  // SqliteOptions::on_audit_committed (empty when that is unset).
  std::vector<const v1::AuditRecord*> appended_audit_;

  std::mutex readers_mu_;
  std::vector<Db> readers_;
};

absl::Status SqliteStore::Open() {
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
  HG_RETURN_IF_ERROR(PrepareWriter());
  {
    HG_ASSIGN_OR_RETURN(auto last, Statement::Prepare(
                                       db, "SELECT COALESCE(MAX(cursor),0) FROM events"));
    HG_ASSIGN_OR_RETURN(bool row, last.Step());
    last_cursor_ = row ? static_cast<uint64_t>(last.Int(0)) : 0;
  }
  {
    HG_ASSIGN_OR_RETURN(auto head, Statement::Prepare(
                                       db, "SELECT record FROM audit ORDER BY sequence DESC LIMIT 1"));
    HG_ASSIGN_OR_RETURN(bool row, head.Step());
    if (row) {
      v1::AuditRecord record;
      if (!record.ParseFromString(std::string(head.Blob(0)))) {
        return absl::DataLossError("the last audit record cannot be read");
      }
      audit_head_.sequence = record.sequence();
      audit_head_.hash = record.hash();
    }
  }
  writer_thread_ = std::thread([this] { WriterLoop(); });
  return absl::OkStatus();
}

absl::Status SqliteStore::PrepareWriter() {
  sqlite3* db = writer_.db.get();
  struct {
    Statement* stmt;
    const char* sql;
  } statements[] = {
      {&writer_.find_item,
       "SELECT i.cursor, i.digest, e.received_from FROM items i JOIN events e "
       "ON e.cursor=i.cursor WHERE i.origin=? AND i.item_id=? AND i.version=?"},
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
      {&writer_.event_time, "SELECT received_at_us FROM events WHERE cursor=?"},
      // The current version's event (the newest of type 1), found through
      // the items primary key: events has no index on the item.
      {&writer_.any_version,
       "SELECT e.kind, e.category FROM items i JOIN events e ON "
       "e.cursor=i.cursor WHERE i.origin=? AND i.item_id=? AND +i.latest=1"},
      // Writes other than items run in their own savepoint (see
      // CommitBatch): prepared once, not parsed by sqlite3_exec each time.
      {&writer_.savepoint, "SAVEPOINT w"},
      {&writer_.release_savepoint, "RELEASE w"},
      {&writer_.rollback_to_savepoint, "ROLLBACK TO w"},
  };
  for (auto& s : statements) {
    HG_ASSIGN_OR_RETURN(*s.stmt, Statement::Prepare(db, s.sql));
  }
  return absl::OkStatus();
}

void SqliteStore::Enqueue(Request request) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!closing_) {
      queue_.push_back(std::move(request));
      queue_cv_.notify_one();
      return;
    }
  }
  absl::Status closed = absl::UnavailableError("store is closed");
  std::visit([&](auto& r) { r.done(closed); }, request);
}

void SqliteStore::WriteItemAsync(ItemWrite write, ItemCallback done) {
  if (write.item.version() == 0) write.item.set_version(1);
  ItemRequest request;
  request.payload = DeterministicBytes(write.item);
  request.digest = Sha256Hex(request.payload);
  request.write = std::move(write);
  request.done = std::move(done);
  Enqueue(std::move(request));
}

void SqliteStore::WriteRetractionAsync(RetractionWrite write,
                                       DoneCallback done) {
  Enqueue(RetractionRequest{std::move(write), std::move(done)});
}

void SqliteStore::AppendAuditAsync(std::vector<v1::AuditRecord> records,
                                   DoneCallback done) {
  Enqueue(AuditRequest{std::move(records), std::move(done)});
}

void SqliteStore::AckOutboxAsync(const std::string& partner, uint64_t sequence,
                                 std::vector<v1::AuditRecord> audit,
                                 DoneCallback done) {
  Enqueue(AckRequest{partner, sequence, std::move(audit), std::move(done)});
}

void SqliteStore::WriterLoop() {
  std::vector<Request> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      queue_cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing and drained
      while (!queue_.empty() &&
             static_cast<int>(batch.size()) < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    CommitBatch(batch);
    batch.clear();
  }
}

void SqliteStore::CommitBatch(std::vector<Request>& batch) {
  sqlite3* db = writer_.db.get();
  int64_t now_us = absl::ToUnixMicros(options_.now());
  AuditHead head = audit_head_;
  uint64_t batch_cursor = 0;
  std::vector<Outcome> outcomes;
  outcomes.reserve(batch.size());

  absl::Status batch_status = Exec(db, "BEGIN IMMEDIATE");
  if (batch_status.ok()) {
    for (Request& request : batch) {
      // One refused write (a conflict) must not undo the others in the
      // batch. Item writes decide every refusal before their first change
      // (see ApplyItem), so they need no savepoint; the other requests run
      // in their own. A savepoint is not free: every page a write touches
      // is first copied to the statement journal, several pages per item.
      const bool guarded = !std::holds_alternative<ItemRequest>(request);
      const int64_t changes_before = sqlite3_total_changes64(db);
      AuditHead request_head = head;
      applied_cursor_ = 0;
      const size_t appended_before = appended_audit_.size();
      if (guarded) {
        absl::Status sp = writer_.savepoint.Run();
        if (!sp.ok()) {
          batch_status = sp;
          break;
        }
      }
      Outcome outcome = std::visit(
          [&](auto& r) -> Outcome {
            using T = std::decay_t<decltype(r)>;
            if constexpr (std::is_same_v<T, ItemRequest>) {
              return ApplyItem(r, request_head, now_us);
            } else if constexpr (std::is_same_v<T, RetractionRequest>) {
              return ApplyRetraction(r, request_head, now_us);
            } else if constexpr (std::is_same_v<T, AuditRequest>) {
              return AppendAuditRecords(r.records, request_head, now_us);
            } else {
              return ApplyAck(r, request_head, now_us);
            }
          },
          request);
      absl::Status status = std::visit(
          [](auto& o) -> absl::Status {
            if constexpr (std::is_same_v<std::decay_t<decltype(o)>,
                                         absl::Status>) {
              return o;
            } else {
              return o.status();
            }
          },
          outcome);
      // Storage failures (full disk, I/O) fail the whole batch: nothing of
      // it may be acknowledged. SQLite may already have rolled the
      // transaction back, savepoint included.
      if (status.code() == absl::StatusCode::kResourceExhausted ||
          status.code() == absl::StatusCode::kUnavailable) {
        batch_status = status;
        break;
      }
      if (!guarded && !status.ok() &&
          sqlite3_total_changes64(db) != changes_before) {
        // A refusal after changes that no savepoint can undo alone: a bug
        // in ApplyItem. Fail the batch rather than commit half a write.
        batch_status = absl::InternalError(absl::StrCat(
            "a refused item write left changes behind: ", status.message()));
        break;
      }
      if (guarded) {
        absl::Status end = status.ok() ? absl::OkStatus()
                                       : writer_.rollback_to_savepoint.Run();
        if (end.ok()) end = writer_.release_savepoint.Run();
        if (!end.ok()) {
          batch_status = end;
          break;
        }
      }
      if (status.ok()) {
        head = request_head;
        batch_cursor = std::max(batch_cursor, applied_cursor_);
      } else {
        appended_audit_.resize(appended_before);
      }
      outcomes.push_back(std::move(outcome));
    }
  }
  if (batch_status.ok()) batch_status = Exec(db, "COMMIT");
  if (!batch_status.ok()) {
    (void)Exec(db, "ROLLBACK");
    std::lock_guard<std::mutex> lock(mu_);
    healthy_ = batch_status.code() != absl::StatusCode::kUnavailable;
  } else {
    audit_head_ = head;
    if (options_.on_audit_committed) {
      for (const v1::AuditRecord* record : appended_audit_) {
        options_.on_audit_committed(*record);
      }
    }
    {
      // Published before the callbacks run, so a client holding its
      // receipt can read what it wrote.
      std::lock_guard<std::mutex> lock(mu_);
      healthy_ = true;
      last_cursor_ = std::max<uint64_t>(last_cursor_, batch_cursor);
    }
    events_cv_.notify_all();
  }
  appended_audit_.clear();
  for (size_t i = 0; i < batch.size(); ++i) {
    std::visit(
        [&](auto& r) {
          using T = std::decay_t<decltype(r)>;
          if (!batch_status.ok()) {
            r.done(batch_status);
            return;
          }
          if constexpr (std::is_same_v<T, ItemRequest>) {
            r.done(std::move(
                std::get<absl::StatusOr<ItemWriteResult>>(outcomes[i])));
          } else {
            r.done(std::get<absl::Status>(outcomes[i]));
          }
        },
        batch[i]);
  }
}

absl::StatusOr<ItemWriteResult> SqliteStore::ApplyItem(ItemRequest& request,
                                                       AuditHead& head,
                                                       int64_t now_us) {
  const v1::Item& item = request.write.item;
  const std::string& origin = item.origin();
  const std::string& item_id = item.item_id();
  const int64_t version = item.version();
  // Every refusal is decided before the first change (CommitBatch runs
  // item writes without a savepoint): after it, only storage failures,
  // which fail the whole batch.

  // Items retracted by their origin take no new versions; a withdrawal
  // ("no longer shared") is lifted by a newer version shared again.
  bool withdrawn = false;
  {
    Statement& s = writer_.find_retraction;
    s.Bind(1, origin).Bind(2, item_id);
    HG_ASSIGN_OR_RETURN(bool retracted, s.Step());
    bool by_origin = retracted && s.Int(0) != 0;
    s.Reset();
    if (by_origin) {
      return absl::FailedPreconditionError(absl::StrCat(
          "item ", item_id, " was retracted by its originator; it takes no "
          "new versions"));
    }
    withdrawn = retracted;
  }
  // Idempotency on (origin, item_id, version).
  {
    Statement& s = writer_.find_item;
    s.Bind(1, origin).Bind(2, item_id).Bind(3, version);
    HG_ASSIGN_OR_RETURN(bool exists, s.Step());
    if (exists) {
      int64_t cursor = s.Int(0);
      std::string digest = s.Text(1);
      std::string stored_from = s.Text(2);
      const bool same_sender = stored_from == request.write.received_from;
      s.Reset();
      // A different copy from the same sender is a conflict. From another
      // gateway it is the same version that travelled another path (the
      // origin shared it directly and a partner forwarded its own
      // projection): a duplicate, and the copy that came first stays.
      if (digest != request.digest && same_sender) {
        return absl::AlreadyExistsError(absl::StrCat(
            "item ", item_id, " version ", version,
            " was accepted before with different content; send a higher "
            "version to change it"));
      }
      ItemWriteResult result;
      if (digest != request.digest) {
        HG_RETURN_IF_ERROR(writer_.insert_other_copy.Bind(1, origin)
                               .Bind(2, item_id)
                               .Bind(3, request.write.received_from)
                               .Run());
        result.stored_copy_from = std::move(stored_from);
      }
      v1::Receipt& receipt = result.receipt;
      receipt.set_origin(origin);
      receipt.set_item_id(item_id);
      receipt.set_version(static_cast<uint32_t>(version));
      receipt.set_cursor(static_cast<uint64_t>(cursor));
      receipt.set_digest(digest);
      receipt.set_duplicate(true);
      // The original acceptance time is the event's receive time.
      Statement& t = writer_.event_time;
      t.Bind(1, cursor);
      HG_ASSIGN_OR_RETURN(bool found, t.Step());
      if (found) {
        *receipt.mutable_accepted_at() =
            ToTimestamp(absl::FromUnixMicros(t.Int(0)));
      }
      t.Reset();
      return result;
    }
    s.Reset();
  }
  // Is this the newest version?
  int64_t latest_version = 0;
  {
    Statement& s = writer_.find_latest;
    s.Bind(1, origin).Bind(2, item_id);
    HG_ASSIGN_OR_RETURN(bool found, s.Step());
    if (found) latest_version = s.Int(0);
    s.Reset();
  }
  bool is_latest = version > latest_version;
  if (is_latest && withdrawn) {
    HG_RETURN_IF_ERROR(
        writer_.delete_retraction.Bind(1, origin).Bind(2, item_id).Run());
  }
  if (is_latest && latest_version > 0) {
    HG_RETURN_IF_ERROR(writer_.clear_latest.Bind(1, origin).Bind(2, item_id).Run());
  }
  int category = item.has_alert() ? item.alert().category() : 0;
  HG_RETURN_IF_ERROR(writer_.insert_event
                         .Bind(1, is_latest ? kEventItem : kEventSuperseded)
                         .Bind(2, origin)
                         .Bind(3, item_id)
                         .Bind(4, version)
                         .Bind(5, static_cast<int64_t>(KindOf(item)))
                         .Bind(6, category)
                         .Bind(7, now_us)
                         .Bind(8, request.write.received_from)
                         .Run());
  int64_t cursor = sqlite3_last_insert_rowid(writer_.db.get());
  applied_cursor_ = static_cast<uint64_t>(cursor);
  HG_RETURN_IF_ERROR(writer_.insert_item.Bind(1, origin)
                         .Bind(2, item_id)
                         .Bind(3, version)
                         .Bind(4, cursor)
                         .Bind(5, request.digest)
                         .BindBlob(6, request.payload)
                         .Bind(7, is_latest ? 1 : 0)
                         .Run());
  // Outbox entries only for the newest version: an older one arriving late
  // must not overwrite what partners hold.
  if (is_latest) {
    std::vector<std::string> partners;
    for (const OutboxMessage& m : request.write.outbox) {
      HG_RETURN_IF_ERROR(
          Enqueue(m.partner, m.payload, ToMicros(m.expires_at), now_us));
      HG_RETURN_IF_ERROR(
          writer_.insert_share.Bind(1, origin).Bind(2, item_id).Bind(3, m.partner).Run());
      partners.push_back(m.partner);
    }
    if (!request.write.withdrawal_payload.empty()) {
      HG_RETURN_IF_ERROR(QueueToPartnersOfItem(
          origin, item_id, request.write.withdrawal_payload, partners, now_us));
    }
  }
  for (v1::AuditRecord& record : request.write.audit) {
    if (record.digest().empty()) record.set_digest(request.digest);
  }
  HG_RETURN_IF_ERROR(AppendAuditRecords(request.write.audit, head, now_us));

  ItemWriteResult result;
  v1::Receipt& receipt = result.receipt;
  receipt.set_origin(origin);
  receipt.set_item_id(item_id);
  receipt.set_version(static_cast<uint32_t>(version));
  receipt.set_cursor(static_cast<uint64_t>(cursor));
  *receipt.mutable_accepted_at() = ToTimestamp(absl::FromUnixMicros(now_us));
  receipt.set_digest(request.digest);
  return result;
}

absl::Status SqliteStore::QueueToPartnersOfItem(
    const std::string& origin, const std::string& item_id,
    absl::string_view payload, const std::vector<std::string>& except,
    int64_t now_us) {
  std::vector<std::string> partners;
  Statement& s = writer_.shared_partners;
  s.Bind(1, origin).Bind(2, item_id);
  for (;;) {
    auto row = s.Step();
    if (!row.ok()) {
      s.Reset();
      return row.status();
    }
    if (!*row) break;
    partners.push_back(s.Text(0));
  }
  s.Reset();
  for (const std::string& partner : partners) {
    if (std::find(except.begin(), except.end(), partner) != except.end()) {
      continue;
    }
    HG_RETURN_IF_ERROR(Enqueue(partner, payload, 0, now_us));
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::Enqueue(const std::string& partner,
                                  absl::string_view payload,
                                  int64_t expires_us, int64_t now_us) {
  int64_t last = 0;
  {
    Statement& s = writer_.next_outbox_seq;
    s.Bind(1, partner);
    HG_ASSIGN_OR_RETURN(bool found, s.Step());
    if (found) last = s.Int(0);
    s.Reset();
  }
  HG_RETURN_IF_ERROR(writer_.set_outbox_seq.Bind(1, partner).Bind(2, last + 1).Run());
  return writer_.insert_outbox.Bind(1, partner)
      .Bind(2, last + 1)
      .BindBlob(3, payload)
      .Bind(4, expires_us)
      .Bind(5, now_us)
      .Run();
}

absl::Status SqliteStore::ApplyRetraction(RetractionRequest& request,
                                          AuditHead& head, int64_t now_us) {
  const v1::Retraction& r = request.write.retraction;
  int64_t kind = 0, category = 0;
  {
    Statement& s = writer_.any_version;
    s.Bind(1, r.origin()).Bind(2, r.item_id());
    HG_ASSIGN_OR_RETURN(bool found, s.Step());
    if (found) {
      kind = s.Int(0);
      category = s.Int(1);
    }
    s.Reset();
    if (!found) {
      return absl::NotFoundError(
          absl::StrCat("no item ", r.item_id(), " from ", r.origin(), " is stored"));
    }
  }
  const bool by_origin = r.kind() != v1::Retraction::NO_LONGER_SHARED;
  {
    Statement& s = writer_.find_retraction;
    s.Bind(1, r.origin()).Bind(2, r.item_id());
    HG_ASSIGN_OR_RETURN(bool retracted, s.Step());
    bool existing_by_origin = retracted && s.Int(0) != 0;
    s.Reset();
    // Already retracted for good, or withdrawn again: nothing new. A
    // retraction by the origin replaces an earlier withdrawal.
    if (existing_by_origin || (retracted && !by_origin)) {
      return absl::OkStatus();
    }
  }
  HG_RETURN_IF_ERROR(writer_.insert_event.Bind(1, kEventRetraction)
                         .Bind(2, r.origin())
                         .Bind(3, r.item_id())
                         .Bind(4, 0)
                         .Bind(5, kind)
                         .Bind(6, category)
                         .Bind(7, now_us)
                         .Bind(8, request.write.received_from)
                         .Run());
  int64_t cursor = sqlite3_last_insert_rowid(writer_.db.get());
  applied_cursor_ = static_cast<uint64_t>(cursor);
  HG_RETURN_IF_ERROR(writer_.insert_retraction.Bind(1, r.origin())
                         .Bind(2, r.item_id())
                         .Bind(3, cursor)
                         .BindBlob(4, DeterministicBytes(r))
                         .Bind(5, by_origin ? 1 : 0)
                         .Run());
  if (!request.write.partner_payload.empty()) {
    HG_RETURN_IF_ERROR(QueueToPartnersOfItem(
        r.origin(), r.item_id(), request.write.partner_payload, {}, now_us));
  }
  return AppendAuditRecords(request.write.audit, head, now_us);
}

absl::Status SqliteStore::ApplyAck(AckRequest& request, AuditHead& head,
                                   int64_t now_us) {
  HG_RETURN_IF_ERROR(writer_.delete_outbox.Bind(1, request.partner)
                         .Bind(2, static_cast<int64_t>(request.sequence))
                         .Run());
  return AppendAuditRecords(request.audit, head, now_us);
}

absl::Status SqliteStore::AppendAuditRecords(
    std::vector<v1::AuditRecord>& records, AuditHead& head, int64_t now_us) {
  if (options_.discard_audit_for_benchmark) return absl::OkStatus();
  for (v1::AuditRecord& record : records) {
    if (!record.has_recorded_at()) {
      *record.mutable_recorded_at() = ToTimestamp(absl::FromUnixMicros(now_us));
    }
    const uint64_t sequence = head.sequence + 1;
    if (record.type() == v1::CHECKPOINT && options_.sign_checkpoint &&
        record.checkpoint_signature().empty()) {
      absl::StatusOr<SqliteOptions::CheckpointSignature> signature =
          options_.sign_checkpoint(sequence, head.hash);
      if (!signature.ok()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "cannot sign the audit checkpoint: ",
            signature.status().message()));
      }
      record.set_checkpoint_signature(std::move(signature->signature));
      record.set_checkpoint_key_id(std::move(signature->key_id));
    }
    const std::string bytes = evidence::SealAuditRecord(sequence, head.hash, record);
    HG_RETURN_IF_ERROR(
        writer_.insert_audit.Bind(1, static_cast<int64_t>(record.sequence()))
            .BindBlob(2, bytes)
            .Run());
    head.sequence = record.sequence();
    head.hash = record.hash();
    if (options_.on_audit_committed) appended_audit_.push_back(&record);
  }
  return absl::OkStatus();
}

absl::StatusOr<Db> SqliteStore::LeaseReader() {
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

void SqliteStore::ReturnReader(Db db) {
  std::lock_guard<std::mutex> lock(readers_mu_);
  if (readers_.size() < 16) readers_.push_back(std::move(db));
}

// Leases a reader for the scope of a call.
class ReaderLease {
 public:
  ReaderLease(Db db, std::function<void(Db)> give_back)
      : db_(std::move(db)), give_back_(std::move(give_back)) {}
  ~ReaderLease() { give_back_(std::move(db_)); }
  sqlite3* get() const { return db_.get(); }

 private:
  Db db_;
  std::function<void(Db)> give_back_;
};

constexpr const char* kEntryColumns =
    "e.cursor, e.received_at_us, e.received_from, i.payload, r.payload";

absl::StatusOr<v1::InboxEntry> SqliteStore::EntryFromRow(Statement& row) {
  v1::InboxEntry entry;
  entry.set_cursor(static_cast<uint64_t>(row.Int(0)));
  *entry.mutable_received_at() = ToTimestamp(absl::FromUnixMicros(row.Int(1)));
  entry.set_received_from(row.Text(2));
  absl::string_view payload = row.Blob(3);
  if (!entry.mutable_item()->ParseFromArray(payload.data(),
                                            static_cast<int>(payload.size()))) {
    return absl::DataLossError(
        absl::StrCat("stored item at cursor ", entry.cursor(), " is unreadable"));
  }
  if (!row.IsNull(4)) {
    absl::string_view r = row.Blob(4);
    entry.mutable_retraction()->ParseFromArray(r.data(), static_cast<int>(r.size()));
  }
  return entry;
}

absl::StatusOr<v1::InboxEntry> SqliteStore::GetItem(const std::string& origin,
                                                    const std::string& item_id) {
  HG_ASSIGN_OR_RETURN(Db db, LeaseReader());
  ReaderLease lease(std::move(db), [this](Db d) { ReturnReader(std::move(d)); });
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
  if (!found) {
    return absl::NotFoundError(
        absl::StrCat("no item ", item_id, " from ", origin, " is stored"));
  }
  return EntryFromRow(s);
}

absl::StatusOr<bool> SqliteStore::SentOtherCopy(const std::string& origin,
                                                const std::string& item_id,
                                                const std::string& sender) {
  HG_ASSIGN_OR_RETURN(Db db, LeaseReader());
  ReaderLease lease(std::move(db), [this](Db d) { ReturnReader(std::move(d)); });
  HG_ASSIGN_OR_RETURN(
      auto s, Statement::Prepare(lease.get(),
                                 "SELECT 1 FROM other_copies WHERE origin=? AND "
                                 "item_id=? AND sender=?"));
  s.Bind(1, origin).Bind(2, item_id).Bind(3, sender);
  return s.Step();
}

// Builds the WHERE clause for a filter over `events e`; binds come after
// `first_bind`.
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

absl::StatusOr<ListPage> SqliteStore::ListItems(const v1::ItemFilter& filter,
                                                int page_size,
                                                const std::string& page_token) {
  int64_t before_cursor = INT64_MAX;
  if (!page_token.empty()) {
    absl::string_view token = page_token;
    if (!absl::ConsumePrefix(&token, "c") ||
        !absl::SimpleAtoi(token, &before_cursor) || before_cursor <= 0) {
      return absl::InvalidArgumentError(
          "page_token: is not a token this gateway issued");
    }
  }
  HG_ASSIGN_OR_RETURN(Db db, LeaseReader());
  ReaderLease lease(std::move(db), [this](Db d) { ReturnReader(std::move(d)); });
  FilterSql f = BuildFilter(filter);
  std::string sql = absl::StrCat(
      "SELECT ", kEntryColumns,
      " FROM items i JOIN events e ON e.cursor=i.cursor "
      "LEFT JOIN retractions r ON r.origin=i.origin AND r.item_id=i.item_id "
      "WHERE i.latest=1 AND i.cursor<? AND ",
      f.where, filter.include_retracted() ? "" : " AND r.origin IS NULL",
      " ORDER BY i.cursor DESC LIMIT ?");
  HG_ASSIGN_OR_RETURN(auto s, Statement::Prepare(lease.get(), sql));
  s.Bind(1, before_cursor);
  BindFilter(s, f, 2);
  s.Bind(2 + static_cast<int>(f.binds.size()), page_size + 1);
  ListPage page;
  for (;;) {
    HG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    if (static_cast<int>(page.entries.size()) == page_size) {
      page.next_page_token = absl::StrCat("c", page.entries.back().cursor());
      break;
    }
    HG_ASSIGN_OR_RETURN(v1::InboxEntry entry, EntryFromRow(s));
    page.entries.push_back(std::move(entry));
  }
  return page;
}

absl::StatusOr<std::vector<v1::InboxEvent>> SqliteStore::ReadEvents(
    uint64_t after_cursor, const v1::ItemFilter& filter, int max) {
  HG_ASSIGN_OR_RETURN(Db db, LeaseReader());
  ReaderLease lease(std::move(db), [this](Db d) { ReturnReader(std::move(d)); });
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
  s.Bind(2 + static_cast<int>(f.binds.size()), max);
  std::vector<v1::InboxEvent> events;
  for (;;) {
    HG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    v1::InboxEvent event;
    event.set_cursor(static_cast<uint64_t>(s.Int(0)));
    if (s.Int(5) == kEventItem) {
      v1::InboxEntry* entry = event.mutable_entry();
      entry->set_cursor(event.cursor());
      *entry->mutable_received_at() = ToTimestamp(absl::FromUnixMicros(s.Int(1)));
      entry->set_received_from(s.Text(2));
      absl::string_view payload = s.Blob(3);
      if (!entry->mutable_item()->ParseFromArray(payload.data(),
                                                 static_cast<int>(payload.size()))) {
        return absl::DataLossError(absl::StrCat(
            "stored item at cursor ", event.cursor(), " is unreadable"));
      }
    } else {
      absl::string_view payload = s.Blob(4);
      event.mutable_retraction()->ParseFromArray(payload.data(),
                                                 static_cast<int>(payload.size()));
    }
    events.push_back(std::move(event));
  }
  return events;
}

uint64_t SqliteStore::LastCursor() {
  std::lock_guard<std::mutex> lock(mu_);
  return last_cursor_;
}

bool SqliteStore::WaitForEvents(uint64_t after_cursor, absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  auto until = absl::ToChronoTime(deadline);
  events_cv_.wait_until(lock, until, [&] {
    return last_cursor_ > after_cursor || closed_;
  });
  return last_cursor_ > after_cursor;
}

absl::StatusOr<std::vector<OutboxRecord>> SqliteStore::ReadOutbox(
    const std::string& partner, uint64_t after_sequence, int max) {
  HG_ASSIGN_OR_RETURN(Db db, LeaseReader());
  ReaderLease lease(std::move(db), [this](Db d) { ReturnReader(std::move(d)); });
  HG_ASSIGN_OR_RETURN(
      auto s, Statement::Prepare(
                  lease.get(),
                  "SELECT sequence, payload, expires_at_us, enqueued_at_us FROM "
                  "outbox WHERE partner=? AND sequence>? ORDER BY sequence LIMIT ?"));
  s.Bind(1, partner).Bind(2, static_cast<int64_t>(after_sequence)).Bind(3, max);
  std::vector<OutboxRecord> records;
  for (;;) {
    HG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    OutboxRecord r;
    r.partner = partner;
    r.sequence = static_cast<uint64_t>(s.Int(0));
    r.payload = std::string(s.Blob(1));
    r.expires_at = FromMicros(s.Int(2));
    r.enqueued_at = absl::FromUnixMicros(s.Int(3));
    records.push_back(std::move(r));
  }
  return records;
}

absl::StatusOr<std::vector<OutboxStats>> SqliteStore::GetOutboxStats() {
  HG_ASSIGN_OR_RETURN(Db db, LeaseReader());
  ReaderLease lease(std::move(db), [this](Db d) { ReturnReader(std::move(d)); });
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

absl::StatusOr<std::vector<v1::AuditRecord>> SqliteStore::ReadAudit(
    uint64_t after_sequence, int max) {
  HG_ASSIGN_OR_RETURN(Db db, LeaseReader());
  ReaderLease lease(std::move(db), [this](Db d) { ReturnReader(std::move(d)); });
  HG_ASSIGN_OR_RETURN(
      auto s, Statement::Prepare(lease.get(),
                                 "SELECT record FROM audit WHERE sequence>? "
                                 "ORDER BY sequence LIMIT ?"));
  s.Bind(1, static_cast<int64_t>(after_sequence)).Bind(2, max);
  std::vector<v1::AuditRecord> records;
  for (;;) {
    HG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    v1::AuditRecord record;
    absl::string_view blob = s.Blob(0);
    if (!record.ParseFromArray(blob.data(), static_cast<int>(blob.size()))) {
      return absl::DataLossError("an audit record cannot be read");
    }
    records.push_back(std::move(record));
  }
  return records;
}

bool SqliteStore::Healthy() {
  std::lock_guard<std::mutex> lock(mu_);
  return healthy_ && !closing_;
}

void SqliteStore::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) {
      if (!writer_thread_.joinable()) return;
    }
    closing_ = true;
    queue_cv_.notify_all();
  }
  if (writer_thread_.joinable()) writer_thread_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  events_cv_.notify_all();
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

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(
    const SqliteOptions& options) {
  auto store = std::make_unique<SqliteStore>(options);
  HG_RETURN_IF_ERROR(store->Open());
  return std::unique_ptr<Store>(std::move(store));
}

std::string ItemDigest(const v1::Item& item) {
  return Sha256Hex(DeterministicBytes(item));
}

}  // namespace havengate::store
