// PostgreSQL backend of the store (see postgres_store.h): statements and
// connections. Rows and transactions only; the rules are DomainStore's.
#include "server/store/postgres_store.h"

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/status_macros.h"
#include "proto/timestamp.h"
#include "server/store/domain_store.h"
#include "server/store/pg_connection.h"
#include "server/store/postgres_schema.h"

namespace havengate::store {
namespace {

using pg::Bytes;
using pg::Int;
using pg::Param;
using pg::Text;

int64_t ToMicros(absl::Time t) {
  if (t == absl::InfinitePast()) return 0;
  return absl::ToUnixMicros(t);
}
absl::Time FromMicros(int64_t us) {
  return us == 0 ? absl::InfinitePast() : absl::FromUnixMicros(us);
}

// The writer's statements, prepared once on the writer connection.
const pg::Statement kLockHead = {
    "lock_head", "SELECT id FROM chain_head WHERE id = 1 FOR UPDATE"};
const pg::Statement kLastAudit = {
    "last_audit", "SELECT record FROM audit ORDER BY sequence DESC LIMIT 1"};
const pg::Statement kFindItem = {
    "find_item",
    "SELECT i.cursor, i.digest, e.received_from, e.received_at_us FROM items i "
    "JOIN events e ON e.cursor = i.cursor WHERE i.origin = $1 AND "
    "i.item_id = $2 AND i.version = $3"};
const pg::Statement kLastEventCursor = {
    "last_event_cursor", "SELECT COALESCE(MAX(cursor), 0) FROM events"};
// The multi-row inserts of the batch's rows (RowBuffer). The event's
// cursor is the writer's (see BeginBatch), so no insert needs an answer.
constexpr const char* kEventsHead =
    "INSERT INTO events(cursor, type, origin, item_id, version, kind, "
    "category, received_at_us, received_from) VALUES";
constexpr const char* kItemsHead =
    "INSERT INTO items(origin, item_id, version, cursor, digest, payload, "
    "latest) VALUES";
constexpr const char* kSharesHead =
    "INSERT INTO shares(origin, item_id, partner) VALUES";
constexpr const char* kAuditHead = "INSERT INTO audit(sequence, record) VALUES";
// One partner's messages: the partner's sequence advanced by their count
// ($2) and the messages numbered after the old one, in the order appended
// (n counts the partner's messages of the batch from 1; $3 is the number
// before this statement's first).
constexpr const char* kOutboxHead =
    "WITH next AS (INSERT INTO outbox_sequence(partner, last_sequence) "
    "VALUES($1::TEXT, $2::BIGINT) ON CONFLICT(partner) DO UPDATE SET "
    "last_sequence = outbox_sequence.last_sequence + $2::BIGINT "
    "RETURNING last_sequence) "
    "INSERT INTO outbox(partner, sequence, payload, expires_at_us, "
    "enqueued_at_us) SELECT $1::TEXT, next.last_sequence - $2::BIGINT + "
    "v.n - $3::BIGINT, v.payload, v.expires, v.enqueued FROM next, (VALUES";
constexpr const char* kOutboxTail = ") AS v(n, payload, expires, enqueued)";
const pg::Statement kFindLatest = {
    "find_latest",
    "SELECT version FROM items WHERE origin = $1 AND item_id = $2 AND "
    "latest = 1"};
const pg::Statement kClearLatest = {
    "clear_latest",
    "UPDATE items SET latest = 0 WHERE origin = $1 AND item_id = $2 AND "
    "latest = 1"};
const pg::Statement kFindRetraction = {
    "find_retraction",
    "SELECT by_origin FROM retractions WHERE origin = $1 AND item_id = $2"};
const pg::Statement kPutRetraction = {
    "put_retraction",
    "INSERT INTO retractions(origin, item_id, cursor, payload, by_origin) "
    "VALUES($1,$2,$3,$4,$5) ON CONFLICT(origin, item_id) DO UPDATE SET "
    "cursor = excluded.cursor, payload = excluded.payload, "
    "by_origin = excluded.by_origin"};
const pg::Statement kDeleteRetraction = {
    "delete_retraction",
    "DELETE FROM retractions WHERE origin = $1 AND item_id = $2"};
const pg::Statement kInsertOtherCopy = {
    "insert_other_copy",
    "INSERT INTO other_copies(origin, item_id, sender) VALUES($1,$2,$3) "
    "ON CONFLICT DO NOTHING"};
const pg::Statement kSharedPartners = {
    "shared_partners",
    "SELECT partner FROM shares WHERE origin = $1 AND item_id = $2 "
    "ORDER BY partner"};
// Bounded below by what this process knows is gone already: deleted rows
// stay in the index until a vacuum, and a scan from the partner's first
// sequence walked all of them on every acknowledgement (the outbox of a
// busy partner slowed to a few hundred messages a second within a minute).
const pg::Statement kDeleteOutbox = {
    "delete_outbox",
    "DELETE FROM outbox WHERE partner = $1 AND sequence > $3 AND "
    "sequence <= $2"};
const pg::Statement kCurrentKind = {
    "current_kind",
    "SELECT e.kind, e.category FROM items i JOIN events e ON "
    "e.cursor = i.cursor WHERE i.origin = $1 AND i.item_id = $2 AND "
    "i.latest = 1"};
const pg::Statement kNotify = {"notify", "SELECT pg_notify($1, $2)"};
const pg::Statement kMatchKeysOf = {
    "match_keys_of",
    "SELECT key_type, match_key FROM match_keys WHERE origin = $1 AND "
    "item_id = $2 ORDER BY key_type, match_key"};
const pg::Statement kMatchKeyHolders = {
    "match_key_holders",
    "SELECT origin, item_id FROM match_keys WHERE key_type = $1 AND "
    "match_key = $2 ORDER BY origin, item_id LIMIT $3"};
const pg::Statement kDeleteMatchKeys = {
    "delete_match_keys", "DELETE FROM match_keys WHERE origin = $1 AND item_id = $2"};
const pg::Statement kInsertMatchKey = {
    "insert_match_key",
    "INSERT INTO match_keys(key_type, match_key, origin, item_id) "
    "VALUES($1,$2,$3,$4) ON CONFLICT DO NOTHING"};
const pg::Statement kInsertHit = {
    "insert_hit", "INSERT INTO hits(cursor, payload) VALUES($1,$2)"};
// Locks the row: a replica deciding the same request waits for this
// transaction and then sees its revision.
const pg::Statement kFindFieldRequest = {
    "find_field_request",
    "SELECT payload FROM field_requests WHERE role = $1 AND request_id = $2 "
    "FOR UPDATE"};
const pg::Statement kPutFieldRequest = {
    "put_field_request",
    "INSERT INTO field_requests(role, request_id, payload) VALUES($1,$2,$3) "
    "ON CONFLICT(role, request_id) DO UPDATE SET payload = excluded.payload"};
// FindRetraction, FindVersion and CurrentVersion in one round trip.
const pg::Statement kLookUpItem = {
    "look_up_item",
    "SELECT (SELECT by_origin FROM retractions WHERE origin = $1 AND "
    "item_id = $2), (SELECT version FROM items WHERE origin = $1 AND "
    "item_id = $2 AND latest = 1), i.cursor, i.digest, e.received_from, "
    "e.received_at_us FROM (SELECT 1) AS one LEFT JOIN items i ON "
    "i.origin = $1 AND i.item_id = $2 AND i.version = $3::BIGINT "
    "LEFT JOIN events e ON e.cursor = i.cursor"};

// LookUpItem for many items at once ($1 origins, $2 item ids, $3 versions;
// row n answers the n-th).
const pg::Statement kPrefetchItems = {
    "prefetch_items",
    "SELECT k.n, (SELECT by_origin FROM retractions WHERE origin = k.origin "
    "AND item_id = k.item_id), (SELECT version FROM items WHERE origin = "
    "k.origin AND item_id = k.item_id AND latest = 1), i.cursor, i.digest, "
    "e.received_from, e.received_at_us FROM unnest($1::TEXT[], $2::TEXT[], "
    "$3::BIGINT[]) WITH ORDINALITY AS k(origin, item_id, version, n) "
    "LEFT JOIN items i ON i.origin = k.origin AND i.item_id = k.item_id AND "
    "i.version = k.version LEFT JOIN events e ON e.cursor = i.cursor"};

// A PostgreSQL array literal of `values` (each quoted, quotes and
// backslashes escaped), for a TEXT[] or BIGINT[] parameter.
template <typename T, typename F>
std::string ArrayLiteral(const std::vector<T>& values, F element) {
  std::string literal = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal += ',';
    literal += '"';
    for (char c : element(values[i])) {
      if (c == '"' || c == '\\') literal += '\\';
      literal += c;
    }
    literal += '"';
  }
  literal += '}';
  return literal;
}

// The answer of kLookUpItem from column `first` of `row` on.
ItemLookup LookupFromRow(const pg::Result& r, int row, int first) {
  ItemLookup lookup;
  if (!r.IsNull(row, first)) lookup.retraction = r.Int(row, first) != 0;
  // 0 if NULL
  lookup.current_version = static_cast<uint32_t>(r.Int(row, first + 1));
  if (!r.IsNull(row, first + 2)) {
    StoredVersion& stored = lookup.stored.emplace();
    stored.cursor = static_cast<uint64_t>(r.Int(row, first + 2));
    stored.digest = r.Bytes(row, first + 3);
    stored.received_from = r.Bytes(row, first + 4);
    stored.received_at = absl::FromUnixMicros(r.Int(row, first + 5));
  }
  return lookup;
}

// The WHERE clause of a filter over `events e`, parameters from $first on.
struct FilterSql {
  std::string where;
  std::vector<Param> params;
};

FilterSql BuildFilter(const v1::ItemFilter& filter, int first) {
  FilterSql f;
  std::vector<std::string> clauses;
  auto mark = [&](Param p) {
    f.params.push_back(std::move(p));
    return absl::StrCat("$", first + static_cast<int>(f.params.size()) - 1);
  };
  if (filter.origins_size() > 0) {
    std::vector<std::string> marks;
    for (const auto& o : filter.origins()) marks.push_back(mark(Text(o)));
    clauses.push_back(absl::StrCat("e.origin IN (", absl::StrJoin(marks, ","), ")"));
  }
  if (filter.kind() != v1::ITEM_KIND_UNSPECIFIED) {
    clauses.push_back(absl::StrCat("e.kind = ", mark(Int(filter.kind()))));
  }
  if (filter.categories_size() > 0) {
    std::vector<std::string> marks;
    for (int c : filter.categories()) marks.push_back(mark(Int(c)));
    clauses.push_back(
        absl::StrCat("e.category IN (", absl::StrJoin(marks, ","), ")"));
  }
  if (filter.has_received_after()) {
    clauses.push_back(absl::StrCat(
        "e.received_at_us >= ",
        mark(Int(absl::ToUnixMicros(FromTimestamp(filter.received_after()))))));
  }
  if (filter.has_received_before()) {
    clauses.push_back(absl::StrCat(
        "e.received_at_us < ",
        mark(Int(absl::ToUnixMicros(FromTimestamp(filter.received_before()))))));
  }
  if (!filter.item_id().empty()) {
    clauses.push_back(absl::StrCat("e.item_id = ", mark(Text(filter.item_id()))));
  }
  f.where = clauses.empty() ? "TRUE" : absl::StrJoin(clauses, " AND ");
  return f;
}

constexpr const char* kEntryColumns =
    "e.cursor, e.received_at_us, e.received_from, i.payload, r.payload";

EntryRow EntryFromRow(const pg::Result& r, int row) {
  EntryRow entry;
  entry.cursor = static_cast<uint64_t>(r.Int(row, 0));
  entry.received_at = absl::FromUnixMicros(r.Int(row, 1));
  entry.received_from = r.Bytes(row, 2);
  entry.item = r.Bytes(row, 3);
  if (!r.IsNull(row, 4)) entry.retraction = r.Bytes(row, 4);
  return entry;
}

// Rows of one table gathered across a batch's items and sent as multi-row
// INSERTs (one statement per table and batch, not one per row): on a
// server that competes with the gateway for the same cores, each statement
// costs more than its row.
class RowBuffer {
 public:
  // `head` is "INSERT INTO t(a, b, ...) VALUES"; `row` the casts of one
  // row's parameters, e.g. {"BIGINT", "TEXT", "BYTEA"}; `tail` follows the
  // VALUES list (e.g. " ON CONFLICT DO NOTHING").
  RowBuffer(const char* head, std::vector<const char*> row, const char* tail)
      : head_(head), row_(std::move(row)), tail_(tail) {}

  void Add(std::vector<Param> row) {
    for (Param& p : row) params_.push_back(std::move(p));
  }
  bool empty() const { return params_.empty(); }
  size_t rows() const { return params_.size() / row_.size(); }
  void Clear() { params_.clear(); }
  // Queues the rows on `writer`'s pipeline and forgets them. `leading`
  // gives the parameters $1.. that `head` and `tail` use in a statement of
  // `rows` rows from the `first` (0-based); the rows' own follow them.
  void Send(pg::Connection& writer,
            const std::function<std::vector<Param>(size_t first, size_t rows)>&
                leading = nullptr) {
    const size_t width = row_.size();
    const size_t rows = params_.size() / width;
    for (size_t first = 0; first < rows; first += kRowsPerStatement) {
      const size_t count = std::min(kRowsPerStatement, rows - first);
      std::string sql = head_;
      std::vector<Param> params;
      if (leading) params = leading(first, count);
      params.reserve(params.size() + count * width);
      for (size_t r = 0; r < count; ++r) {
        absl::StrAppend(&sql, r == 0 ? " (" : ", (");
        for (size_t c = 0; c < width; ++c) {
          params.push_back(std::move(params_[(first + r) * width + c]));
          absl::StrAppend(&sql, c == 0 ? "$" : ", $", params.size(),
                          "::", row_[c]);
        }
        absl::StrAppend(&sql, ")");
      }
      absl::StrAppend(&sql, tail_);
      writer.DeferSql(sql, params);
    }
    params_.clear();
  }

 private:
  // Well under PostgreSQL's 65,535 parameters per statement.
  static constexpr size_t kRowsPerStatement = 1000;
  const char* head_;
  std::vector<const char*> row_;
  const char* tail_;
  std::vector<Param> params_;
};

class PostgresBackend final : public Backend {
 public:
  explicit PostgresBackend(PostgresOptions options)
      : options_(std::move(options)) {}
  ~PostgresBackend() override { Close(); }

  absl::Status Open();

  absl::StatusOr<uint64_t> LastCursor() override;
  absl::StatusOr<std::optional<std::string>> LastAuditRecord() override;

  absl::Status BeginBatch() override;
  absl::Status CommitBatch() override;
  void RollbackBatch() override;
  absl::Status BeginMark() override {
    removed_at_mark_ = removed_in_batch_;
    return ExecScript("SAVEPOINT w");
  }
  absl::Status RollbackToMark() override {
    removed_in_batch_ = removed_at_mark_;
    return ExecScript("ROLLBACK TO SAVEPOINT w");
  }
  absl::Status EndMark() override { return ExecScript("RELEASE SAVEPOINT w"); }

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
  absl::StatusOr<ItemLookup> LookUpItem(const std::string& origin,
                                        const std::string& item_id,
                                        uint32_t version) override;
  absl::Status PrefetchItems(const std::vector<ItemKey>& keys) override;
  absl::StatusOr<std::vector<v1::MatchKey>> MatchKeysOf(
      const std::string& origin, const std::string& item_id) override;
  absl::StatusOr<std::vector<MatchHolder>> FindMatchKeyHolders(
      const v1::MatchKey& key, int limit) override;
  absl::Status ReplaceMatchKeys(const std::string& origin,
                                const std::string& item_id,
                                const std::vector<v1::MatchKey>& keys) override;
  absl::Status PutHit(uint64_t cursor, const std::string& bytes) override {
    Defer(kInsertHit, {Int(static_cast<int64_t>(cursor)), Bytes(bytes)});
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<std::string>> FindFieldRequest(
      int role, const std::string& request_id) override;
  absl::Status PutFieldRequest(int role, const std::string& request_id,
                               const std::string& bytes) override {
    Defer(kPutFieldRequest, {Int(role), Text(request_id), Bytes(bytes)});
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> AddEvent(const EventRow& event) override;
  absl::Status AddVersion(const std::string& origin, const std::string& item_id,
                          uint32_t version, uint64_t cursor,
                          const std::string& digest, const std::string& bytes,
                          bool current) override;
  absl::Status ClearCurrent(const std::string& origin,
                            const std::string& item_id) override {
    Touch(origin, item_id);
    Defer(kClearLatest, {Text(origin), Text(item_id)});
    return absl::OkStatus();
  }
  absl::Status PutRetraction(const std::string& origin,
                             const std::string& item_id, uint64_t cursor,
                             const std::string& bytes, bool by_origin) override;
  absl::Status DeleteRetraction(const std::string& origin,
                                const std::string& item_id) override {
    Touch(origin, item_id);
    Defer(kDeleteRetraction, {Text(origin), Text(item_id)});
    return absl::OkStatus();
  }
  absl::Status AddOtherCopy(const std::string& origin,
                            const std::string& item_id,
                            const std::string& sender) override {
    Defer(kInsertOtherCopy, {Text(origin), Text(item_id), Text(sender)});
    return absl::OkStatus();
  }
  absl::Status AddShare(const std::string& origin, const std::string& item_id,
                        const std::string& partner) override {
    rows_pending_ = true;
    shares_.Add({Text(origin), Text(item_id), Text(partner)});
    return absl::OkStatus();
  }
  absl::Status AppendOutbox(const std::string& partner,
                            const std::string& message, absl::Time expires_at,
                            absl::Time enqueued_at) override;
  absl::Status RemoveOutbox(const std::string& partner,
                            uint64_t sequence) override {
    uint64_t& gone = removed_in_batch_[partner];
    if (gone == 0) gone = removed_up_to_[partner];
    Defer(kDeleteOutbox, {Text(partner), Int(static_cast<int64_t>(sequence)),
                          Int(static_cast<int64_t>(gone))});
    gone = std::max(gone, sequence);
    return absl::OkStatus();
  }
  absl::Status AppendAudit(uint64_t sequence, const std::string& bytes) override {
    pending_bytes_ += static_cast<int64_t>(bytes.size());
    rows_pending_ = true;
    audit_.Add({Int(static_cast<int64_t>(sequence)), Bytes(bytes)});
    return absl::OkStatus();
  }

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
  absl::StatusOr<std::optional<std::string>> ReadFieldRequest(
      int role, const std::string& request_id) override;
  absl::StatusOr<std::vector<std::string>> ReadFieldRequests(int role) override;

  bool SharedByReplicas() const override { return true; }
  void WatchOtherCommits(std::function<void(uint64_t)> on_commit) override;
  std::optional<bool> Reachable() override {
    // The listener notices a lost server at once, and a server back again
    // within its backoff, whether or not anything is written meanwhile.
    return listener_thread_.joinable() ? listener_up_.load() : writer_up_.load();
  }

  void Close() override;

 private:
  // Runs `query` on a pooled reader connection (reconnected if it was
  // lost), returned to the pool afterwards.
  absl::StatusOr<pg::Result> Read(absl::string_view sql,
                                  const std::vector<Param>& params);
  void ListenLoop();
  // Marks the writer connection up or down from the outcome of `status`.
  absl::Status Track(absl::Status status) {
    writer_up_ = writer_->ok();
    return status;
  }

  // Queues the batch's gathered rows on the writer's pipeline, ahead of a
  // statement that may read or change them (the order of writes stays the
  // order they were made in).
  void SendRows();
  // The writer's statements that may touch the gathered rows: sent after
  // them.
  void Defer(const pg::Statement& statement, const std::vector<Param>& params) {
    SendRows();
    writer_->Defer(statement, params);
  }
  absl::StatusOr<pg::Result> Run(const pg::Statement& statement,
                                 const std::vector<Param>& params = {}) {
    SendRows();
    return writer_->Run(statement, params);
  }
  absl::Status ExecScript(const char* sql) {
    SendRows();
    return writer_->ExecScript(sql);
  }
  void ClearRows();

  PostgresOptions options_;
  // Writer thread only (and Open, before it starts).
  std::unique_ptr<pg::Connection> writer_;
  // The batch's rows not yet sent (SendRows), in the order SendRows sends
  // them, and the items they are of.
  RowBuffer events_{kEventsHead,
                    {"BIGINT", "BIGINT", "TEXT", "TEXT", "BIGINT", "BIGINT",
                     "BIGINT", "BIGINT", "TEXT"},
                    ""};
  RowBuffer items_{
      kItemsHead,
      {"TEXT", "TEXT", "BIGINT", "BIGINT", "TEXT", "BYTEA", "BIGINT"},
      ""};
  RowBuffer shares_{
      kSharesHead, {"TEXT", "TEXT", "TEXT"}, " ON CONFLICT DO NOTHING"};
  RowBuffer audit_{kAuditHead, {"BIGINT", "BYTEA"}, ""};
  std::map<std::string, RowBuffer> outbox_;                // by partner
  std::set<std::pair<std::string, std::string>> rows_of_;  // (origin, item_id)
  bool rows_pending_ = false;
  // PrefetchItems' answers by (origin, item_id) and version, dropped for an
  // item as soon as the batch writes anything LookUpItem reads of it.
  std::map<std::pair<std::string, std::string>, std::map<uint32_t, ItemLookup>>
      prefetched_;
  void Touch(const std::string& origin, const std::string& item_id) {
    if (!prefetched_.empty()) prefetched_.erase({origin, item_id});
  }
  uint64_t batch_cursor_ = 0;
  // The cursor the batch's next event takes.
  uint64_t next_cursor_ = 0;
  int64_t stored_bytes_ = 0;
  int64_t pending_bytes_ = 0;
  // Per partner, the outbox sequence up to which every row is deleted
  // (committed by this process; acknowledgements are cumulative and new
  // rows take higher sequences), and the same within the open batch.
  // Writer thread only.
  std::map<std::string, uint64_t> removed_up_to_;
  std::map<std::string, uint64_t> removed_in_batch_;
  std::map<std::string, uint64_t> removed_at_mark_;  // at BeginMark
  std::atomic<bool> writer_up_{true};

  std::mutex readers_mu_;
  std::vector<std::unique_ptr<pg::Connection>> readers_;  // guarded

  std::function<void(uint64_t)> on_commit_;
  std::thread listener_thread_;
  // Up until the listener finds otherwise: Open() has just reached the
  // database.
  std::atomic<bool> listener_up_{true};
  std::atomic<bool> stopping_{false};
  std::once_flag closed_;
};

absl::Status PostgresBackend::Open() {
  HG_ASSIGN_OR_RETURN(writer_, pg::Connection::Open(options_.dsn));
  HG_RETURN_IF_ERROR(EnsurePostgresSchema(*writer_));
  if (options_.max_bytes_for_testing > 0) {
    HG_ASSIGN_OR_RETURN(
        pg::Result used,
        writer_->Exec(
            "SELECT ((SELECT COALESCE(SUM(octet_length(payload)), 0) FROM items)"
            " + (SELECT COALESCE(SUM(octet_length(payload)), 0) FROM outbox)"
            " + (SELECT COALESCE(SUM(octet_length(record)), 0) FROM audit))"
            "::BIGINT"));
    stored_bytes_ = used.Int(0, 0);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> PostgresBackend::LastCursor() {
  HG_ASSIGN_OR_RETURN(pg::Result r,
                      writer_->Exec("SELECT COALESCE(MAX(cursor), 0) FROM events"));
  return static_cast<uint64_t>(r.Int(0, 0));
}

absl::StatusOr<std::optional<std::string>> PostgresBackend::LastAuditRecord() {
  HG_ASSIGN_OR_RETURN(pg::Result r, writer_->Run(kLastAudit));
  if (r.rows() == 0) return std::nullopt;
  return r.Bytes(0, 0);
}

void PostgresBackend::SendRows() {
  if (!rows_pending_) return;
  events_.Send(*writer_);
  items_.Send(*writer_);
  shares_.Send(*writer_);
  for (auto& [partner, rows] : outbox_) {
    rows.Send(*writer_, [&](size_t first, size_t count) {
      return std::vector<Param>{Text(partner), Int(static_cast<int64_t>(count)),
                                Int(static_cast<int64_t>(first))};
    });
  }
  outbox_.clear();
  audit_.Send(*writer_);
  rows_of_.clear();
  rows_pending_ = false;
}

void PostgresBackend::ClearRows() {
  events_.Clear();
  items_.Clear();
  shares_.Clear();
  audit_.Clear();
  outbox_.clear();
  rows_of_.clear();
  rows_pending_ = false;
  prefetched_.clear();
}

absl::Status PostgresBackend::BeginBatch() {
  ClearRows();
  batch_cursor_ = 0;
  pending_bytes_ = 0;
  removed_in_batch_.clear();
  HG_RETURN_IF_ERROR(Track(writer_->EnsureConnected()));
  HG_RETURN_IF_ERROR(Track(writer_->ExecScript("BEGIN")));
  // Every writer of every replica takes this lock first: see the header.
  // Holding it, this writer is the only one adding events until it
  // commits, so it numbers them itself from the last committed cursor
  // (read by a statement after the lock, so with a snapshot that sees
  // every earlier holder's commit). A rolled-back batch leaves a gap, as
  // a sequence would.
  writer_->Defer(kLockHead, {});
  absl::StatusOr<pg::Result> last = writer_->Run(kLastEventCursor);
  HG_RETURN_IF_ERROR(Track(last.status()));
  next_cursor_ = static_cast<uint64_t>(last->Int(0, 0)) + 1;
  return absl::OkStatus();
}

absl::Status PostgresBackend::CommitBatch() {
  if (options_.max_bytes_for_testing > 0 &&
      stored_bytes_ + pending_bytes_ > options_.max_bytes_for_testing) {
    return absl::ResourceExhaustedError(
        "the database is full (its test quota is reached)");
  }
  if (batch_cursor_ > 0) {
    // Delivered to listeners when (and only if) the transaction commits.
    HG_RETURN_IF_ERROR(Track(
        writer_
            ->Run(kNotify, {Text(kEventsChannel),
                            Text(absl::StrCat(batch_cursor_))})
            .status()));
  }
  HG_RETURN_IF_ERROR(Track(ExecScript("COMMIT")));
  stored_bytes_ += pending_bytes_;
  for (const auto& [partner, gone] : removed_in_batch_) {
    removed_up_to_[partner] = std::max(removed_up_to_[partner], gone);
  }
  return absl::OkStatus();
}

void PostgresBackend::RollbackBatch() {
  ClearRows();
  if (writer_->ok()) (void)writer_->ExecScript("ROLLBACK");
  writer_up_ = writer_->ok();
}

absl::StatusOr<std::optional<StoredVersion>> PostgresBackend::FindVersion(
    const std::string& origin, const std::string& item_id, uint32_t version) {
  HG_ASSIGN_OR_RETURN(pg::Result r, Run(kFindItem, {Text(origin), Text(item_id),
                                                    Int(version)}));
  if (r.rows() == 0) return std::nullopt;
  StoredVersion stored;
  stored.cursor = static_cast<uint64_t>(r.Int(0, 0));
  stored.digest = r.Bytes(0, 1);
  stored.received_from = r.Bytes(0, 2);
  stored.received_at = absl::FromUnixMicros(r.Int(0, 3));
  return stored;
}

absl::StatusOr<uint32_t> PostgresBackend::CurrentVersion(
    const std::string& origin, const std::string& item_id) {
  HG_ASSIGN_OR_RETURN(pg::Result r,
                      Run(kFindLatest, {Text(origin), Text(item_id)}));
  return r.rows() == 0 ? 0 : static_cast<uint32_t>(r.Int(0, 0));
}

absl::StatusOr<std::optional<CurrentKind>> PostgresBackend::FindCurrentKind(
    const std::string& origin, const std::string& item_id) {
  HG_ASSIGN_OR_RETURN(pg::Result r,
                      Run(kCurrentKind, {Text(origin), Text(item_id)}));
  if (r.rows() == 0) return std::nullopt;
  return CurrentKind{static_cast<int>(r.Int(0, 0)),
                     static_cast<int>(r.Int(0, 1))};
}

absl::StatusOr<std::optional<bool>> PostgresBackend::FindRetraction(
    const std::string& origin, const std::string& item_id) {
  HG_ASSIGN_OR_RETURN(pg::Result r,
                      Run(kFindRetraction, {Text(origin), Text(item_id)}));
  if (r.rows() == 0) return std::nullopt;
  return r.Int(0, 0) != 0;
}

absl::StatusOr<std::vector<std::string>> PostgresBackend::SharedWith(
    const std::string& origin, const std::string& item_id) {
  HG_ASSIGN_OR_RETURN(pg::Result r,
                      Run(kSharedPartners, {Text(origin), Text(item_id)}));
  std::vector<std::string> partners;
  for (int i = 0; i < r.rows(); ++i) partners.push_back(r.Bytes(i, 0));
  return partners;
}

absl::StatusOr<std::vector<v1::MatchKey>> PostgresBackend::MatchKeysOf(
    const std::string& origin, const std::string& item_id) {
  HG_ASSIGN_OR_RETURN(pg::Result r,
                      writer_->Run(kMatchKeysOf, {Text(origin), Text(item_id)}));
  std::vector<v1::MatchKey> keys;
  for (int i = 0; i < r.rows(); ++i) {
    v1::MatchKey& key = keys.emplace_back();
    key.set_type(static_cast<v1::MatchKeyType>(r.Int(i, 0)));
    key.set_key(r.Bytes(i, 1));
  }
  return keys;
}

absl::StatusOr<std::vector<MatchHolder>> PostgresBackend::FindMatchKeyHolders(
    const v1::MatchKey& key, int limit) {
  HG_ASSIGN_OR_RETURN(
      pg::Result r,
      writer_->Run(kMatchKeyHolders,
                   {Int(static_cast<int64_t>(key.type())), Text(key.key()), Int(limit)}));
  std::vector<MatchHolder> holders;
  for (int i = 0; i < r.rows(); ++i) {
    holders.push_back(MatchHolder{r.Bytes(i, 0), r.Bytes(i, 1)});
  }
  return holders;
}

absl::Status PostgresBackend::ReplaceMatchKeys(const std::string& origin,
                                               const std::string& item_id,
                                               const std::vector<v1::MatchKey>& keys) {
  writer_->Defer(kDeleteMatchKeys, {Text(origin), Text(item_id)});
  for (const v1::MatchKey& key : keys) {
    writer_->Defer(kInsertMatchKey, {Int(static_cast<int64_t>(key.type())),
                                     Text(key.key()), Text(origin), Text(item_id)});
  }
  return absl::OkStatus();
}

absl::StatusOr<ItemLookup> PostgresBackend::LookUpItem(
    const std::string& origin, const std::string& item_id, uint32_t version) {
  // It reads only rows of this item: the batch's other gathered rows may
  // wait.
  if (rows_of_.count({origin, item_id}) > 0) SendRows();
  // Prefetched and not written since: still the answer.
  if (auto found = prefetched_.find({origin, item_id});
      found != prefetched_.end()) {
    if (auto v = found->second.find(version); v != found->second.end()) {
      return v->second;
    }
  }
  HG_ASSIGN_OR_RETURN(
      pg::Result r,
      writer_->Run(kLookUpItem, {Text(origin), Text(item_id), Int(version)}));
  return LookupFromRow(r, 0, 0);
}

absl::Status PostgresBackend::PrefetchItems(const std::vector<ItemKey>& keys) {
  prefetched_.clear();
  HG_ASSIGN_OR_RETURN(
      pg::Result r,
      Run(kPrefetchItems,
          {Text(ArrayLiteral(keys, [](const ItemKey& k) { return k.origin; })),
           Text(ArrayLiteral(keys, [](const ItemKey& k) { return k.item_id; })),
           Text(ArrayLiteral(keys, [](const ItemKey& k) {
             return absl::StrCat(k.version);
           }))}));
  for (int row = 0; row < r.rows(); ++row) {
    const int64_t n = r.Int(row, 0);
    if (n < 1 || n > static_cast<int64_t>(keys.size())) continue;
    const ItemKey& key = keys[n - 1];
    prefetched_[{key.origin, key.item_id}][key.version] =
        LookupFromRow(r, row, 1);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> PostgresBackend::AddEvent(const EventRow& event) {
  const uint64_t cursor = next_cursor_++;
  rows_of_.emplace(event.origin, event.item_id);
  Touch(event.origin, event.item_id);
  rows_pending_ = true;
  events_.Add({Int(static_cast<int64_t>(cursor)),
               Int(static_cast<int64_t>(event.type)), Text(event.origin),
               Text(event.item_id), Int(event.version), Int(event.kind),
               Int(event.category), Int(absl::ToUnixMicros(event.received_at)),
               Text(event.received_from)});
  batch_cursor_ = std::max(batch_cursor_, cursor);
  return cursor;
}

absl::Status PostgresBackend::AddVersion(const std::string& origin,
                                         const std::string& item_id,
                                         uint32_t version, uint64_t cursor,
                                         const std::string& digest,
                                         const std::string& bytes,
                                         bool current) {
  pending_bytes_ += static_cast<int64_t>(bytes.size());
  rows_of_.emplace(origin, item_id);
  Touch(origin, item_id);
  rows_pending_ = true;
  items_.Add({Text(origin), Text(item_id), Int(version),
              Int(static_cast<int64_t>(cursor)), Text(digest), Bytes(bytes),
              Int(current ? 1 : 0)});
  return absl::OkStatus();
}

absl::Status PostgresBackend::PutRetraction(const std::string& origin,
                                            const std::string& item_id,
                                            uint64_t cursor,
                                            const std::string& bytes,
                                            bool by_origin) {
  Touch(origin, item_id);
  Defer(kPutRetraction,
        {Text(origin), Text(item_id), Int(static_cast<int64_t>(cursor)),
         Bytes(bytes), Int(by_origin ? 1 : 0)});
  return absl::OkStatus();
}

absl::Status PostgresBackend::AppendOutbox(const std::string& partner,
                                           const std::string& message,
                                           absl::Time expires_at,
                                           absl::Time enqueued_at) {
  pending_bytes_ += static_cast<int64_t>(message.size());
  RowBuffer& rows = outbox_
                        .try_emplace(partner, kOutboxHead,
                                     std::vector<const char*>{
                                         "BIGINT", "BYTEA", "BIGINT", "BIGINT"},
                                     kOutboxTail)
                        .first->second;
  // Its place among the partner's messages of the batch (see SendRows).
  rows_pending_ = true;
  rows.Add({Int(static_cast<int64_t>(rows.rows()) + 1), Bytes(message),
            Int(ToMicros(expires_at)), Int(absl::ToUnixMicros(enqueued_at))});
  return absl::OkStatus();
}

// --- Reads ---------------------------------------------------------------

absl::StatusOr<pg::Result> PostgresBackend::Read(
    absl::string_view sql, const std::vector<Param>& params) {
  std::unique_ptr<pg::Connection> connection;
  {
    std::lock_guard<std::mutex> lock(readers_mu_);
    if (!readers_.empty()) {
      connection = std::move(readers_.back());
      readers_.pop_back();
    }
  }
  if (connection == nullptr) {
    HG_ASSIGN_OR_RETURN(connection, pg::Connection::Open(options_.dsn));
  }
  absl::Status up = connection->EnsureConnected();
  absl::StatusOr<pg::Result> result =
      up.ok() ? connection->Exec(sql, params) : absl::StatusOr<pg::Result>(up);
  if (connection->ok()) {
    std::lock_guard<std::mutex> lock(readers_mu_);
    if (static_cast<int>(readers_.size()) < options_.read_connections) {
      readers_.push_back(std::move(connection));
    }
  }
  return result;
}

absl::StatusOr<std::optional<EntryRow>> PostgresBackend::GetCurrent(
    const std::string& origin, const std::string& item_id) {
  HG_ASSIGN_OR_RETURN(
      pg::Result r,
      Read(absl::StrCat("SELECT ", kEntryColumns,
                        " FROM items i JOIN events e ON e.cursor = i.cursor "
                        "LEFT JOIN retractions r ON r.origin = i.origin AND "
                        "r.item_id = i.item_id WHERE i.origin = $1 AND "
                        "i.item_id = $2 AND i.latest = 1"),
           {Text(origin), Text(item_id)}));
  if (r.rows() == 0) return std::nullopt;
  return EntryFromRow(r, 0);
}

absl::StatusOr<bool> PostgresBackend::HasOtherCopy(const std::string& origin,
                                                   const std::string& item_id,
                                                   const std::string& sender) {
  HG_ASSIGN_OR_RETURN(pg::Result r,
                      Read("SELECT 1 FROM other_copies WHERE origin = $1 AND "
                           "item_id = $2 AND sender = $3",
                           {Text(origin), Text(item_id), Text(sender)}));
  return r.rows() > 0;
}

absl::StatusOr<std::vector<EntryRow>> PostgresBackend::ListCurrent(
    const v1::ItemFilter& filter, uint64_t before_cursor, int limit) {
  FilterSql f = BuildFilter(filter, 2);
  std::vector<Param> params = {Int(static_cast<int64_t>(before_cursor))};
  params.insert(params.end(), f.params.begin(), f.params.end());
  params.push_back(Int(limit));
  std::string sql = absl::StrCat(
      "SELECT ", kEntryColumns,
      " FROM items i JOIN events e ON e.cursor = i.cursor "
      "LEFT JOIN retractions r ON r.origin = i.origin AND r.item_id = i.item_id "
      "WHERE i.latest = 1 AND i.cursor < $1 AND ",
      f.where, filter.include_retracted() ? "" : " AND r.origin IS NULL",
      " ORDER BY i.cursor DESC LIMIT $", params.size());
  HG_ASSIGN_OR_RETURN(pg::Result r, Read(sql, params));
  std::vector<EntryRow> rows;
  for (int i = 0; i < r.rows(); ++i) rows.push_back(EntryFromRow(r, i));
  return rows;
}

absl::StatusOr<std::vector<EventReadRow>> PostgresBackend::ReadEvents(
    uint64_t after_cursor, const v1::ItemFilter& filter, int limit) {
  FilterSql f = BuildFilter(filter, 2);
  std::vector<Param> params = {Int(static_cast<int64_t>(after_cursor))};
  params.insert(params.end(), f.params.begin(), f.params.end());
  params.push_back(Int(limit));
  // A retraction event whose record was replaced or lifted is not
  // replayed (see backend.h).
  std::string sql = absl::StrCat(
      "SELECT e.cursor, e.received_at_us, e.received_from, i.payload, "
      "r.payload, e.type FROM events e "
      "LEFT JOIN items i ON e.type = 1 AND i.origin = e.origin AND "
      "i.item_id = e.item_id AND i.version = e.version "
      "LEFT JOIN retractions r ON e.type = 2 AND r.origin = e.origin AND "
      "r.item_id = e.item_id AND r.cursor = e.cursor "
      "WHERE e.cursor > $1 AND e.type IN (1, 2) "
      "AND (e.type = 1 OR r.origin IS NOT NULL) AND ",
      f.where, " ORDER BY e.cursor LIMIT $", params.size());
  HG_ASSIGN_OR_RETURN(pg::Result r, Read(sql, params));
  std::vector<EventReadRow> rows;
  for (int i = 0; i < r.rows(); ++i) {
    EventReadRow& row = rows.emplace_back();
    row.cursor = static_cast<uint64_t>(r.Int(i, 0));
    row.received_at = absl::FromUnixMicros(r.Int(i, 1));
    row.received_from = r.Bytes(i, 2);
    row.type = static_cast<EventType>(r.Int(i, 5));
    if (row.type == EventType::kItem) {
      row.item = r.Bytes(i, 3);
    } else {
      row.retraction = r.Bytes(i, 4);
    }
  }
  return rows;
}

absl::StatusOr<std::vector<OutboxRow>> PostgresBackend::ReadOutbox(
    const std::string& partner, uint64_t after_sequence, int limit) {
  HG_ASSIGN_OR_RETURN(
      pg::Result r,
      Read("SELECT sequence, payload, expires_at_us, enqueued_at_us FROM outbox "
           "WHERE partner = $1 AND sequence > $2 ORDER BY sequence LIMIT $3",
           {Text(partner), Int(static_cast<int64_t>(after_sequence)),
            Int(limit)}));
  std::vector<OutboxRow> rows;
  for (int i = 0; i < r.rows(); ++i) {
    OutboxRow& row = rows.emplace_back();
    row.sequence = static_cast<uint64_t>(r.Int(i, 0));
    row.message = r.Bytes(i, 1);
    row.expires_at = FromMicros(r.Int(i, 2));
    row.enqueued_at = absl::FromUnixMicros(r.Int(i, 3));
  }
  return rows;
}

absl::StatusOr<std::vector<OutboxStats>> PostgresBackend::OutboxStatistics() {
  HG_ASSIGN_OR_RETURN(
      pg::Result r,
      Read("SELECT q.partner, COUNT(o.sequence), MIN(o.enqueued_at_us) "
           "FROM outbox_sequence q LEFT JOIN outbox o ON o.partner = q.partner "
           "GROUP BY q.partner ORDER BY q.partner",
           {}));
  std::vector<OutboxStats> stats;
  for (int i = 0; i < r.rows(); ++i) {
    OutboxStats& st = stats.emplace_back();
    st.partner = r.Bytes(i, 0);
    st.depth = static_cast<uint64_t>(r.Int(i, 1));
    st.oldest_enqueued_at = r.IsNull(i, 2) ? absl::InfinitePast()
                                           : absl::FromUnixMicros(r.Int(i, 2));
  }
  return stats;
}

absl::StatusOr<std::vector<std::string>> PostgresBackend::ReadAudit(
    uint64_t after_sequence, int limit) {
  HG_ASSIGN_OR_RETURN(
      pg::Result r,
      Read("SELECT record FROM audit WHERE sequence > $1 ORDER BY sequence "
           "LIMIT $2",
           {Int(static_cast<int64_t>(after_sequence)), Int(limit)}));
  std::vector<std::string> records;
  for (int i = 0; i < r.rows(); ++i) records.push_back(r.Bytes(i, 0));
  return records;
}

absl::StatusOr<std::vector<std::string>> PostgresBackend::ReadHits(
    uint64_t after_cursor, int limit) {
  HG_ASSIGN_OR_RETURN(
      pg::Result r,
      Read("SELECT payload FROM hits WHERE cursor > $1 ORDER BY cursor LIMIT $2",
           {Int(static_cast<int64_t>(after_cursor)), Int(limit)}));
  std::vector<std::string> hits;
  for (int i = 0; i < r.rows(); ++i) hits.push_back(r.Bytes(i, 0));
  return hits;
}

absl::StatusOr<std::optional<std::string>> PostgresBackend::FindFieldRequest(
    int role, const std::string& request_id) {
  HG_ASSIGN_OR_RETURN(pg::Result r,
                      Run(kFindFieldRequest, {Int(role), Text(request_id)}));
  if (r.rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>(r.Bytes(0, 0));
}

absl::StatusOr<std::optional<std::string>> PostgresBackend::ReadFieldRequest(
    int role, const std::string& request_id) {
  HG_ASSIGN_OR_RETURN(
      pg::Result r,
      Read("SELECT payload FROM field_requests WHERE role = $1 AND "
           "request_id = $2",
           {Int(role), Text(request_id)}));
  if (r.rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>(r.Bytes(0, 0));
}

absl::StatusOr<std::vector<std::string>> PostgresBackend::ReadFieldRequests(
    int role) {
  HG_ASSIGN_OR_RETURN(
      pg::Result r,
      Read("SELECT payload FROM field_requests WHERE role = $1 ORDER BY seq",
           {Int(role)}));
  std::vector<std::string> requests;
  for (int i = 0; i < r.rows(); ++i) requests.push_back(r.Bytes(i, 0));
  return requests;
}

absl::StatusOr<std::vector<EntryRow>> PostgresBackend::ReadMatchKeyHolders(
    const v1::MatchKey& key, int limit) {
  HG_ASSIGN_OR_RETURN(
      pg::Result r,
      Read(absl::StrCat("SELECT ", kEntryColumns,
                        " FROM match_keys m JOIN items i ON i.origin = m.origin "
                        "AND i.item_id = m.item_id AND i.latest = 1 "
                        "JOIN events e ON e.cursor = i.cursor "
                        "LEFT JOIN retractions r ON r.origin = i.origin AND "
                        "r.item_id = i.item_id WHERE m.key_type = $1 AND "
                        "m.match_key = $2 ORDER BY m.origin, m.item_id LIMIT $3"),
           {Int(static_cast<int64_t>(key.type())), Text(key.key()), Int(limit)}));
  std::vector<EntryRow> rows;
  for (int i = 0; i < r.rows(); ++i) rows.push_back(EntryFromRow(r, i));
  return rows;
}

// --- Other replicas' commits -------------------------------------------

void PostgresBackend::WatchOtherCommits(
    std::function<void(uint64_t)> on_commit) {
  on_commit_ = std::move(on_commit);
  listener_thread_ = std::thread([this] { ListenLoop(); });
}

void PostgresBackend::ListenLoop() {
  std::unique_ptr<pg::Connection> connection;
  absl::Duration backoff = absl::Milliseconds(100);
  while (!stopping_) {
    if (connection == nullptr || !connection->ok()) {
      // The first connection is expected; a lost one means the database is.
      if (connection != nullptr) listener_up_ = false;
      connection.reset();
      absl::StatusOr<std::unique_ptr<pg::Connection>> opened =
          pg::Connection::Open(options_.dsn);
      absl::StatusOr<pg::Result> last = absl::UnavailableError("not connected");
      if (opened.ok() &&
          (*opened)->ExecScript(absl::StrCat("LISTEN ", kEventsChannel).c_str())
              .ok()) {
        // Commits made while this replica was not listening are caught up
        // here.
        last = (*opened)->Exec("SELECT COALESCE(MAX(cursor), 0) FROM events");
      }
      if (!last.ok()) {
        listener_up_ = false;
        absl::SleepFor(backoff);
        backoff = std::min(backoff * 2, absl::Seconds(2));
        continue;
      }
      connection = std::move(*opened);
      backoff = absl::Milliseconds(100);
      listener_up_ = true;
      on_commit_(static_cast<uint64_t>(last->Int(0, 0)));
    }
    pollfd fd{connection->socket(), POLLIN, 0};
    // A short timeout: Close() is seen within it.
    if (poll(&fd, 1, 100) < 0) continue;
    absl::StatusOr<std::vector<std::string>> payloads =
        connection->ConsumeNotifications();
    if (!payloads.ok()) continue;  // connection->ok() is now false
    uint64_t highest = 0;
    for (const std::string& payload : *payloads) {
      uint64_t cursor = 0;
      if (absl::SimpleAtoi(payload, &cursor)) highest = std::max(highest, cursor);
    }
    if (highest > 0) on_commit_(highest);
  }
}

void PostgresBackend::Close() {
  std::call_once(closed_, [this] {
    stopping_ = true;
    if (listener_thread_.joinable()) listener_thread_.join();
    std::lock_guard<std::mutex> lock(readers_mu_);
    readers_.clear();
  });
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> OpenPostgresBackend(
    const PostgresOptions& options) {
  auto backend = std::make_unique<PostgresBackend>(options);
  HG_RETURN_IF_ERROR(backend->Open());
  return std::unique_ptr<Backend>(std::move(backend));
}

absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(
    const PostgresOptions& postgres, StoreOptions options) {
  HG_ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend,
                      OpenPostgresBackend(postgres));
  return OpenDomainStore(std::move(backend), std::move(options));
}

absl::Status CheckPostgres(const std::string& dsn) {
  HG_ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> connection,
                      pg::Connection::Open(dsn));
  return EnsurePostgresSchema(*connection);
}

}  // namespace havengate::store
